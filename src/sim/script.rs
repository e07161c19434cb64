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
//! 4.2        cc           7 100        # MIDI control change: controller 0–127, value 0–127
//! 4.3        bend         8191         # MIDI pitch bend −8192..8191 (0 at rest)
//! 4.4        program      1            # MIDI program change 0–127 (0–3 load patches 1–4)
//! 4.5        pedal        down         # the sustain pedal (CC 64) down / up
//! 4.8        screenshot   screen.pbm
//! 5.0        quit
//! ```
//!
//! MIDI events take the meaning live MIDI on the instrument's channel has (see
//! [`crate::midi::MidiMapping`]).

use std::path::{Path, PathBuf};

use super::SimEvent;
use crate::input::{Input, BUTTONS, ENCODERS, POTS};
use crate::midi::{MidiEvent, SUSTAIN_PEDAL};

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
            SimEvent::Input(Input::Button {
                button: number(args[0], 0, BUTTONS as i64 - 1)? as usize,
                pressed: down_or_up(args[1])?,
            })
        }
        "note-on" => {
            expect(2, "NOTE (0–127) VELOCITY (0–127)")?;
            let note = number(args[0], 0, 127)? as u8;
            midi(match number(args[1], 0, 127)? as u8 {
                0 => MidiEvent::NoteOff { channel: 0, note },
                velocity => MidiEvent::NoteOn {
                    channel: 0,
                    note,
                    velocity,
                },
            })
        }
        "note-off" => {
            expect(1, "NOTE (0–127)")?;
            midi(MidiEvent::NoteOff {
                channel: 0,
                note: number(args[0], 0, 127)? as u8,
            })
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
        "cc" => {
            expect(2, "CONTROLLER (0–127) VALUE (0–127)")?;
            midi(MidiEvent::ControlChange {
                channel: 0,
                controller: number(args[0], 0, 127)? as u8,
                value: number(args[1], 0, 127)? as u8,
            })
        }
        "bend" => {
            expect(1, "VALUE (−8192..8191, 0 at rest)")?;
            midi(MidiEvent::PitchBend {
                channel: 0,
                value: number(args[0], -8192, 8191)? as i16,
            })
        }
        "program" => {
            expect(1, "PROGRAM (0–127)")?;
            midi(MidiEvent::ProgramChange {
                channel: 0,
                program: number(args[0], 0, 127)? as u8,
            })
        }
        "pedal" => {
            expect(1, "down|up")?;
            midi(MidiEvent::ControlChange {
                channel: 0,
                controller: SUSTAIN_PEDAL,
                value: if down_or_up(args[0])? { 127 } else { 0 },
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

fn midi(event: MidiEvent) -> SimEvent {
    SimEvent::Midi(event)
}

/// `down` (true) or `up` (false).
fn down_or_up(word: &str) -> Result<bool, String> {
    match word {
        "down" => Ok(true),
        "up" => Ok(false),
        other => Err(format!("`{other}` is not down or up")),
    }
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
            SimEvent::Midi(MidiEvent::NoteOn {
                channel: 0,
                note: 60,
                velocity: 127
            })
        );
        assert_eq!(
            events[8].event,
            SimEvent::Screenshot(PathBuf::from("dir/s.pbm"))
        );
    }

    #[test]
    fn midi_events_are_messages_on_the_instrument_channel() {
        let text = "0 cc 7 100\n1 bend -8192\n2 program 3\n3 pedal down\n4 pedal up\n";
        let events: Vec<SimEvent> = parse(text, Path::new("s.txt"))
            .unwrap()
            .into_iter()
            .map(|timed| timed.event)
            .collect();
        let control = |controller, value| {
            SimEvent::Midi(MidiEvent::ControlChange {
                channel: 0,
                controller,
                value,
            })
        };
        assert_eq!(
            events,
            [
                control(7, 100),
                SimEvent::Midi(MidiEvent::PitchBend {
                    channel: 0,
                    value: -8192
                }),
                SimEvent::Midi(MidiEvent::ProgramChange {
                    channel: 0,
                    program: 3
                }),
                control(64, 127),
                control(64, 0),
            ]
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
        let error = parse("1 bend 9000", Path::new("s.txt")).unwrap_err();
        assert!(error.to_string().contains("not a whole number -8192–8191"));
        let error = parse("1 pedal half", Path::new("s.txt")).unwrap_err();
        assert!(error.to_string().contains("not down or up"));
        assert!(parse("1 dance", Path::new("s.txt"))
            .unwrap_err()
            .to_string()
            .contains("unknown event"));
    }
}
