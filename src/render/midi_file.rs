//! Standard MIDI Files to timed meanings: format 0 and 1, metrical and timecode timing, tempo
//! changes across tracks, running status, and note-on velocity 0 as note-off. Each channel
//! message becomes the [`MidiEvent`] live MIDI would deliver and takes its meaning from the same
//! [`MidiMapping`], so a song sounds as it would played in live: notes, pedal and bend for the
//! engine, control and program changes for the controls.
//! RMID files (MIDI wrapped in RIFF) are refused.

use crate::engine::Action;
use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

use crate::midi::{Meaning, MidiEvent, MidiMapping};

#[derive(Debug, thiserror::Error)]
pub enum MidiFileError {
    #[error("not a readable Standard MIDI File: {0}")]
    Parse(midly::Error),
    #[error("format 2 (independent sequences) is not supported; save the song as format 0 or 1")]
    Sequential,
    #[error("the header gives 0 ticks per quarter note")]
    NoTicks,
    #[error(
        "an event at {} h is later than a song can be ({} h): is the tempo or the timing right?",
        (.seconds / 3600.0).round(),
        crate::limits::SONG_SECONDS / 3600.0
    )]
    TooLong { seconds: f64 },
    #[error("the header's SMPTE format is -128, which is no frame rate (24, 25, 29 or 30)")]
    FrameRate,
    #[error("RMID files (MIDI inside RIFF) are not supported; save the song as a .mid file")]
    Rmid,
}

/// Where a header chunk's data holds the division's high byte (after format and track count).
const DIVISION_HIGH: usize = 4;
/// The SMPTE format byte of -128 frames per second.
const SMPTE_MINUS_128: u8 = 0x80;

/// What the instrument does at an output frame: play an engine action or move a control (never
/// [`Meaning::Ignored`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cue {
    pub frame: u64,
    pub meaning: Meaning,
}

/// A song as the instrument takes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Song {
    /// In time order.
    pub cues: Vec<Cue>,
    /// Events the instrument does not act on (program changes above the last patch slot).
    pub ignored: usize,
}

impl Song {
    /// The notes the song starts.
    pub fn notes(&self) -> usize {
        self.cues
            .iter()
            .filter(|cue| matches!(cue.meaning, Meaning::Play(Action::NoteOn { .. })))
            .count()
    }
}

/// Reads `bytes` as an SMF and returns what it does, in time order at `rate` frames per second.
pub fn read(bytes: &[u8], rate: u32, mapping: &MidiMapping) -> Result<Song, MidiFileError> {
    // midly reads an SMPTE division's frame rate by negating its high byte as an `i8`, which
    // overflows (and panics where overflow checks are on) for -128; such a header is refused here
    // first. RMID files, which midly unwraps from their RIFF chunks, are not walked.
    if bytes.starts_with(b"RIFF") {
        return Err(MidiFileError::Rmid);
    }
    if has_minus_128_frame_rate(bytes) {
        return Err(MidiFileError::FrameRate);
    }
    let smf = Smf::parse(bytes).map_err(MidiFileError::Parse)?;
    if smf.header.format == Format::Sequential {
        return Err(MidiFileError::Sequential);
    }
    // Every event with its absolute tick; a stable sort keeps same-tick events in track order.
    let mut events = Vec::new();
    for track in &smf.tracks {
        let mut tick = 0u64;
        for event in track {
            tick += u64::from(event.delta.as_int());
            events.push((tick, event.kind));
        }
    }
    events.sort_by_key(|(tick, _)| *tick);

    let clock = Clock::new(smf.header.timing)?;
    let mut tempo = clock;
    let mut song = Song::default();
    for (tick, kind) in events {
        match kind {
            TrackEventKind::Meta(MetaMessage::Tempo(micros)) => tempo.change(tick, micros.as_int()),
            TrackEventKind::Midi { channel, message } => {
                let meaning =
                    event_of(channel.as_int(), message).and_then(|event| mapping.meaning(&event));
                let Some(meaning) = meaning else {
                    continue;
                };
                if meaning == Meaning::Ignored {
                    song.ignored += 1;
                    continue;
                }
                let seconds = tempo.seconds(tick);
                if seconds > crate::limits::SONG_SECONDS {
                    return Err(MidiFileError::TooLong { seconds });
                }
                let frame = (seconds * f64::from(rate)).round() as u64;
                song.cues.push(Cue { frame, meaning });
            }
            _ => {}
        }
    }
    Ok(song)
}

/// Whether any header chunk holds an SMPTE format of -128: midly reads every `MThd` chunk it meets,
/// a duplicate after the first included.
fn has_minus_128_frame_rate(mut chunks: &[u8]) -> bool {
    // Each chunk: a 4-byte id, a 4-byte big-endian length, the data (cut short at the end).
    while let Some((id, rest)) = chunks.split_first_chunk::<4>() {
        let Some((length, rest)) = rest.split_first_chunk::<4>() else {
            break;
        };
        let (data, rest) = rest.split_at(rest.len().min(u32::from_be_bytes(*length) as usize));
        if id == b"MThd" && data.get(DIVISION_HIGH) == Some(&SMPTE_MINUS_128) {
            return true;
        }
        chunks = rest;
    }
    false
}

/// The live MIDI event a file's channel message is, if the device acts on its kind.
fn event_of(channel: u8, message: MidiMessage) -> Option<MidiEvent> {
    Some(match message {
        MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => MidiEvent::NoteOn {
            channel,
            note: key.as_int(),
            velocity: vel.as_int(),
        },
        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => MidiEvent::NoteOff {
            channel,
            note: key.as_int(),
        },
        MidiMessage::Controller { controller, value } => MidiEvent::ControlChange {
            channel,
            controller: controller.as_int(),
            value: value.as_int(),
        },
        MidiMessage::PitchBend { bend } => MidiEvent::PitchBend {
            channel,
            value: bend.as_int(),
        },
        MidiMessage::ProgramChange { program } => MidiEvent::ProgramChange {
            channel,
            program: program.as_int(),
        },
        _ => return None,
    })
}

/// Ticks to seconds under the tempo changes seen so far.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// Seconds per tick now.
    per_tick: f64,
    /// Tick and time of the last tempo change.
    since_tick: u64,
    since_seconds: f64,
    ticks_per_quarter: Option<f64>,
}

impl Clock {
    fn new(timing: Timing) -> Result<Self, MidiFileError> {
        let (per_tick, ticks_per_quarter) = match timing {
            Timing::Metrical(tpq) if tpq.as_int() == 0 => return Err(MidiFileError::NoTicks),
            Timing::Metrical(tpq) => {
                let tpq = f64::from(tpq.as_int());
                (0.5 / tpq, Some(tpq))
            }
            Timing::Timecode(fps, subframes) => (
                1.0 / (f64::from(fps.as_f32()) * f64::from(subframes.max(1))),
                None,
            ),
        };
        Ok(Self {
            per_tick,
            since_tick: 0,
            since_seconds: 0.0,
            ticks_per_quarter,
        })
    }

    fn seconds(&self, tick: u64) -> f64 {
        self.since_seconds + (tick - self.since_tick) as f64 * self.per_tick
    }

    /// A tempo meta event: `micros` per quarter note from `tick` on (ignored with timecode timing).
    fn change(&mut self, tick: u64, micros: u32) {
        if let Some(tpq) = self.ticks_per_quarter {
            self.since_seconds = self.seconds(tick);
            self.since_tick = tick;
            self.per_tick = f64::from(micros) / 1e6 / tpq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Input;
    use crate::midi::{ChannelFilter, VelocityCurve};

    const OMNI: MidiMapping = MidiMapping {
        channels: ChannelFilter::Omni,
        pitch_bend_range: 2.0,
        velocity: VelocityCurve::Linear,
    };

    fn only(channel: u8) -> MidiMapping {
        MidiMapping {
            channels: ChannelFilter::Only(channel),
            ..OMNI
        }
    }

    /// A format-1 file: tempo track (120 bpm, then 60 bpm at tick 960) and a note track that uses
    /// running status and a velocity-0 note-on as its note-off.
    fn song() -> Vec<u8> {
        let mut bytes = b"MThd\0\0\0\x06\0\x01\0\x02\x01\xe0".to_vec(); // 480 ticks per quarter
        let tempo = [
            0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, // 500000 µs
            0x87, 0x40, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40, // at 960: 1000000 µs
            0x00, 0xFF, 0x2F, 0x00,
        ];
        let notes = [
            0x00, 0x90, 60, 100, // note on
            0x83, 0x60, 60, 0, // 480 later, running status, velocity 0
            0x83, 0x60, 64, 127, // at 960, running status
            0x83, 0x60, 0x80, 64, 0, // at 1440, note off
            0x00, 0xB0, 123, 0, // all notes off
            0x00, 0xFF, 0x2F, 0x00,
        ];
        for track in [&tempo[..], &notes[..]] {
            bytes.extend(b"MTrk");
            bytes.extend((track.len() as u32).to_be_bytes());
            bytes.extend(track);
        }
        bytes
    }

    #[test]
    fn reads_notes_across_tracks_with_tempo_changes_and_running_status() {
        let song = read(&song(), 1000, &OMNI).unwrap();
        let expected = [
            (
                0,
                Action::NoteOn {
                    note: 60,
                    velocity: 100.0 / 127.0,
                },
            ),
            (500, Action::NoteOff { note: 60 }),
            (
                1000,
                Action::NoteOn {
                    note: 64,
                    velocity: 1.0,
                },
            ),
            (2000, Action::NoteOff { note: 64 }),
            (2000, Action::AllNotesOff),
        ];
        let got: Vec<(u64, Meaning)> = song.cues.iter().map(|c| (c.frame, c.meaning)).collect();
        assert_eq!(
            got,
            expected.map(|(frame, action)| (frame, Meaning::Play(action)))
        );
        assert_eq!(song.notes(), 2);
    }

    #[test]
    fn reads_format_0_files() {
        let mut bytes = b"MThd\0\0\0\x06\0\0\0\x01\0\x60".to_vec(); // one track, 96 ticks per quarter
        let track = [
            0x00, 0x90, 60, 64, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00,
        ];
        bytes.extend(b"MTrk");
        bytes.extend((track.len() as u32).to_be_bytes());
        bytes.extend(track);
        let song = read(&bytes, 1000, &OMNI).unwrap();
        let frames: Vec<u64> = song.cues.iter().map(|c| c.frame).collect();
        assert_eq!(frames, [0, 500], "a quarter note at the default 120 bpm");
    }

    #[test]
    fn a_channel_filter_keeps_only_that_channel() {
        assert!(read(&song(), 1000, &only(2)).unwrap().cues.is_empty());
        assert_eq!(read(&song(), 1000, &only(1)).unwrap().cues.len(), 5);
    }

    #[test]
    fn control_and_program_changes_become_control_cues_and_high_programs_are_counted() {
        let mut bytes = b"MThd\0\0\0\x06\0\0\0\x01\0\x60".to_vec();
        let track = [
            0x00, 0xB0, 7, 100, // volume
            0x00, 0xC0, 2, // program 2: patch 3
            0x00, 0xC0, 9, // program 9: no such patch
            0x00, 0xFF, 0x2F, 0x00,
        ];
        bytes.extend(b"MTrk");
        bytes.extend((track.len() as u32).to_be_bytes());
        bytes.extend(track);
        let song = read(&bytes, 1000, &OMNI).unwrap();
        let meanings: Vec<Meaning> = song.cues.iter().map(|c| c.meaning).collect();
        assert_eq!(
            meanings,
            [
                Meaning::Control(Input::Cc {
                    controller: 7,
                    value: 100
                }),
                Meaning::Control(Input::Program(2)),
            ]
        );
        assert_eq!(song.ignored, 1);
    }

    #[test]
    fn a_broken_track_is_an_error_not_a_panic() {
        let mut bytes = song();
        let cut = bytes.len() - 6;
        bytes.truncate(cut);
        assert!(read(&bytes, 1000, &OMNI).is_err());
        assert!(read(b"RIFF....", 1000, &OMNI).is_err());
    }

    #[test]
    fn a_song_longer_than_a_day_is_refused() {
        // One tick per quarter at the slowest tempo (16.8 s), then a note 2^28 - 1 ticks later.
        let mut bytes = b"MThd\0\0\0\x06\0\0\0\x01\0\x01".to_vec();
        let track = [
            0x00, 0xFF, 0x51, 0x03, 0xFF, 0xFF, 0xFF, // tempo
            0xFF, 0xFF, 0xFF, 0x7F, 0x90, 60, 64, // the note, years later
            0x00, 0xFF, 0x2F, 0x00,
        ];
        bytes.extend(b"MTrk");
        bytes.extend((track.len() as u32).to_be_bytes());
        bytes.extend(track);
        let error = read(&bytes, 16000, &OMNI).unwrap_err();
        assert!(matches!(error, MidiFileError::TooLong { .. }), "{error}");
        assert!(error.to_string().contains("(24 h)"), "{error}");
    }

    /// Found by the `midi_file` fuzz target: midly panicked on an SMPTE format of -128, in the
    /// first header chunk and then in a second one.
    #[test]
    fn an_smpte_format_of_minus_128_is_an_error_not_a_panic() {
        let found =
            b"MThd\0\0\0\x06\0\0\0\0\x80\0\0\xff\xffk\0\0\0)\0\xffQ\x03\xd0\x90\xd4@Z\xff\0\x81Q\
                      \x03\0\x03\xd0\x90\xd4\0\0\0\0\0{\0\0\xff/\0";
        assert!(matches!(
            read(found, 1000, &OMNI),
            Err(MidiFileError::FrameRate)
        ));
        // Found next: a second header chunk, which midly reads too.
        let duplicate = [&song()[..], b"MThd\0\0\0\x06\0\0\0\x01\x80\x2f"].concat();
        assert!(matches!(
            read(&duplicate, 1000, &OMNI),
            Err(MidiFileError::FrameRate)
        ));
        let mut rmid = b"RIFF\0\0\0\0RMIDdata".to_vec();
        rmid.extend((found.len() as u32).to_le_bytes());
        rmid.extend(found);
        let total = rmid.len() as u32 - 8;
        rmid[4..8].copy_from_slice(&total.to_le_bytes());
        assert!(matches!(read(&rmid, 1000, &OMNI), Err(MidiFileError::Rmid)));
    }
}
