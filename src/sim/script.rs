//! Scripted input for the simulator (`--script FILE`): one timed event per line, so sessions can
//! be replayed in tests and demos. Parsing only; the simulator plays the events at their times.
//!
//! ```text
//! # seconds  event        arguments
//! 0.5        touch        3 4          # touch cell x y, 0–10
//! 0.6        grid         0.25 0.75    # grid position as fractions 0–1
//! 1.0        knob         5 200        # knob 0–5 (position attack decay sustain release volume) to 0–255
//! 1.2        encoder      0 +1         # turn encoder 0–3 by detents
//! 1.5        button       0 down       # patch button 0–3 down / up
//! 2.0        note-on      60 100       # MIDI note and velocity 0–127 (0 ends the note)
//! 3.0        note-off     60
//! 3.5        instrument   1 0          # corner 0–3, instrument index
//! 4.0        patch-load   2            # slot 0–3 (patch-save likewise)
//! 4.5        screenshot   screen.pbm
//! 5.0        quit
//! ```

use std::path::{Path, PathBuf};

use super::SimEvent;
use crate::input::{Input, BUTTONS, ENCODERS, POTS};

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read script {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// An event and the simulated time it happens at, in seconds from the start.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedEvent {
    pub at: f64,
    pub event: SimEvent,
}

/// Reads a script file; events come back sorted by time (stable for equal times).
pub fn read(path: &Path) -> Result<Vec<TimedEvent>, ScriptError> {
    let text = crate::limits::read_text(path, crate::limits::SCRIPT_FILE_BYTES, "script").map_err(
        |cause| ScriptError::Read {
            path: path.to_path_buf(),
            cause,
        },
    )?;
    parse(&text, path)
}

/// Parses script text; `path` names the script in messages and anchors relative screenshot paths.
pub fn parse(text: &str, path: &Path) -> Result<Vec<TimedEvent>, ScriptError> {
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let event = parse_line(line, path).map_err(|message| ScriptError::Line {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        })?;
        events.push(event);
    }
    events.sort_by(|a, b| a.at.total_cmp(&b.at));
    Ok(events)
}

fn parse_line(line: &str, path: &Path) -> Result<TimedEvent, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at: f64 = words[0]
        .parse()
        .ok()
        .filter(|t: &f64| (0.0..=crate::limits::SONG_SECONDS).contains(t))
        .ok_or_else(|| {
            format!(
                "`{}` is not a time in seconds from 0 to {} (24 hours)",
                words[0],
                crate::limits::SONG_SECONDS
            )
        })?;
    let name = *words.get(1).ok_or("an event name must follow the time")?;
    let args = &words[2..];
    let expect = |count: usize, usage: &str| {
        if args.len() == count {
            Ok(())
        } else {
            Err(format!(
                "`{name}` takes {count} argument(s): {name} {usage}"
            ))
        }
    };
    let event = match name {
        "touch" => {
            expect(2, "X Y (0–10)")?;
            SimEvent::Input(Input::Touch {
                x: number(args[0], 0, 10)? as u8,
                y: number(args[1], 0, 10)? as u8,
            })
        }
        "grid" => {
            expect(2, "X Y (fractions 0–1)")?;
            SimEvent::Input(Input::Grid {
                x: fraction(args[0])?,
                y: fraction(args[1])?,
            })
        }
        "knob" => {
            expect(2, "KNOB (0–5) VALUE (0–255)")?;
            SimEvent::Input(Input::Pot {
                pot: number(args[0], 0, POTS as i64 - 1)? as usize,
                value: number(args[1], 0, 255)? as u8,
            })
        }
        "encoder" => {
            expect(2, "ENCODER (0–3) DELTA")?;
            SimEvent::Input(Input::Rotary {
                encoder: number(args[0], 0, ENCODERS as i64 - 1)? as usize,
                delta: number(args[1], -128, 127)? as i32,
            })
        }
        "button" => {
            expect(2, "BUTTON (0–3) down|up")?;
            let pressed = match args[1] {
                "down" => true,
                "up" => false,
                other => return Err(format!("`{other}` is not down or up")),
            };
            SimEvent::Input(Input::Button {
                button: number(args[0], 0, BUTTONS as i64 - 1)? as usize,
                pressed,
            })
        }
        "note-on" => {
            expect(2, "NOTE (0–127) VELOCITY (0–127)")?;
            SimEvent::Note {
                note: number(args[0], 0, 127)? as u8,
                velocity: number(args[1], 0, 127)? as f32 / 127.0,
            }
        }
        "note-off" => {
            expect(1, "NOTE (0–127)")?;
            SimEvent::Note {
                note: number(args[0], 0, 127)? as u8,
                velocity: 0.0,
            }
        }
        "instrument" => {
            expect(2, "CORNER (0–3) INDEX")?;
            SimEvent::Input(Input::Instrument {
                corner: number(args[0], 0, 3)? as usize,
                index: number(args[1], 0, i64::from(u16::MAX))? as usize,
            })
        }
        "patch-load" | "patch-save" => {
            expect(1, "SLOT (0–3)")?;
            let slot = number(args[0], 0, 3)? as usize;
            SimEvent::Input(if name == "patch-load" {
                Input::PatchLoad(slot)
            } else {
                Input::PatchSave(slot)
            })
        }
        "screenshot" => {
            expect(1, "FILE.pbm")?;
            let folder = path.parent().unwrap_or(Path::new("."));
            SimEvent::Screenshot(folder.join(args[0]))
        }
        "quit" => {
            expect(0, "")?;
            SimEvent::Quit
        }
        other => return Err(format!("unknown event `{other}`")),
    };
    Ok(TimedEvent { at, event })
}

fn number(word: &str, low: i64, high: i64) -> Result<i64, String> {
    word.trim_start_matches('+')
        .parse::<i64>()
        .ok()
        .filter(|n| (low..=high).contains(n))
        .ok_or_else(|| format!("`{word}` is not a whole number {low}–{high}"))
}

fn fraction(word: &str) -> Result<f32, String> {
    word.parse::<f32>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("`{word}` is not a fraction 0–1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_event_in_time_order() {
        let text = "2.0 note-on 60 127\n# comment\n0.5 touch 3 4  # trailing\n1 knob 5 200\n1.2 encoder 0 +1\n\
                    1.5 button 0 down\n3 note-off 60\n3.5 instrument 1 0\n4 patch-save 2\n4.5 screenshot s.pbm\n5 quit\n";
        let events = parse(text, Path::new("dir/session.txt")).unwrap();
        let names: Vec<f64> = events.iter().map(|e| e.at).collect();
        assert_eq!(names, [0.5, 1.0, 1.2, 1.5, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0]);
        assert_eq!(
            events[0].event,
            SimEvent::Input(Input::Touch { x: 3, y: 4 })
        );
        assert_eq!(
            events[2].event,
            SimEvent::Input(Input::Rotary {
                encoder: 0,
                delta: 1
            })
        );
        assert_eq!(
            events[4].event,
            SimEvent::Note {
                note: 60,
                velocity: 1.0
            }
        );
        assert_eq!(
            events[8].event,
            SimEvent::Screenshot(PathBuf::from("dir/s.pbm"))
        );
    }

    #[test]
    fn times_past_a_day_are_refused() {
        assert!(parse("86400 quit", Path::new("s.txt")).is_ok());
        for time in ["86401", "1e300", "inf", "NaN", "-1"] {
            let error = parse(&format!("{time} quit"), Path::new("s.txt")).unwrap_err();
            assert!(error.to_string().contains("(24 hours)"), "{error}");
        }
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let error = parse("0 touch 3 4\n1 knob 9 10\n", Path::new("s.txt")).unwrap_err();
        assert_eq!(error.to_string(), "s.txt:2: `9` is not a whole number 0–5");
        let error = parse("x quit", Path::new("s.txt")).unwrap_err();
        assert!(error.to_string().contains("s.txt:1: `x` is not a time"));
        let error = parse("1 button 0 sideways", Path::new("s.txt")).unwrap_err();
        assert!(error.to_string().contains("not down or up"));
        let error = parse("1 touch 3", Path::new("s.txt")).unwrap_err();
        assert!(error.to_string().contains("takes 2 argument(s)"));
        assert!(parse("1 dance", Path::new("s.txt"))
            .unwrap_err()
            .to_string()
            .contains("unknown event"));
    }
}
