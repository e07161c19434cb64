//! Live MIDI input: the shared byte-stream parser, the channel filter from the settings, the
//! mapping of events to engine actions, which control-change numbers move which controls
//! (`controls`) and the file MIDI learn keeps them in (`learned`), velocity curves (`velocity`),
//! and (with the `device` feature) the DIN serial port and USB (ALSA sequencer) inputs with
//! hot-plug. It hands events to a sink and never talks to the engine or the audio thread itself,
//! and never stops reading because of bad bytes.
//!
//! Channels: [`MidiEvent`] carries the wire nibble, 0–15; settings and [`ChannelFilter`] use the
//! musician's numbering, 1–16.

mod controls;
mod learned;
mod parser;
#[cfg(feature = "device")]
mod serial;
#[cfg(feature = "device")]
mod usb;
mod velocity;

pub use controls::{CcMap, CcMapError, CcReader, Control, ControlMove};
pub use learned::{learned_path, read_learned, save_learned, LearnedMapError, LEARNED_FILE};
pub use parser::{MidiEvent, MidiParser};
#[cfg(feature = "device")]
pub use serial::{SerialMidi, SerialMidiError};
#[cfg(feature = "device")]
pub use usb::{input_ports, Connections, ListedPort, PortSystem, Rescan, UsbMidi, UsbMidiError};
pub use velocity::VelocityCurve;

use crate::engine::Action;
use crate::settings::MidiSettings;

/// Where the serial and USB readers deliver events, on their own threads.
pub type EventSink = Box<dyn FnMut(MidiEvent) + Send>;

/// Which MIDI channels play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelFilter {
    /// Every channel.
    Omni,
    /// One channel, 1–16.
    Only(u8),
    /// No channel: `midi.channel` was outside 1–16, which in the original silences MIDI.
    NoChannel,
}

impl ChannelFilter {
    /// `midi.omni` wins over `midi.channel`.
    pub fn from_settings(midi: &MidiSettings) -> Self {
        match (midi.omni, midi.channel) {
            (true, _) => Self::Omni,
            (false, Some(channel)) => Self::Only(channel),
            (false, None) => Self::NoChannel,
        }
    }

    /// Whether events on wire channel `wire_channel` (0–15) play.
    pub fn accepts(self, wire_channel: u8) -> bool {
        match self {
            Self::Omni => true,
            Self::Only(channel) => u16::from(wire_channel) + 1 == u16::from(channel),
            Self::NoChannel => false,
        }
    }
}

/// What MIDI means to the instrument: the one mapping from MIDI events to engine actions, used by
/// serial MIDI, USB MIDI and songs (`render`, `play`) alike, so the same MIDI sounds the same
/// whichever way it arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MidiMapping {
    pub channels: ChannelFilter,
    /// Semitones each way the wheel's extremes bend (`midi.pitchBendRange`).
    pub pitch_bend_range: f32,
}

impl MidiMapping {
    pub fn from_settings(midi: &MidiSettings) -> Self {
        Self {
            channels: ChannelFilter::from_settings(midi),
            pitch_bend_range: midi.pitch_bend_range,
        }
    }

    /// The engine action for `event`, if its channel plays and the device acts on it.
    pub fn action(&self, event: &MidiEvent) -> Option<Action> {
        if !self.channels.accepts(event.channel()) {
            return None;
        }
        match *event {
            MidiEvent::NoteOn { note, velocity, .. } => Some(Action::NoteOn {
                note,
                velocity: f32::from(velocity) / 127.0,
            }),
            MidiEvent::NoteOff { note, .. } => Some(Action::NoteOff { note }),
            MidiEvent::ControlChange {
                controller, value, ..
            } => match controller {
                // The pedal's half-way point, as the MIDI specification reads a switch controller.
                SUSTAIN_PEDAL => Some(Action::Sustain(value >= 64)),
                ALL_SOUND_OFF => Some(Action::AllSoundOff),
                ALL_NOTES_OFF => Some(Action::AllNotesOff),
                _ => None,
            },
            MidiEvent::PitchBend { value, .. } => {
                // The wire range is one step longer downwards; scaling each side by its own
                // extreme makes full up and full down symmetric.
                let extreme = if value < 0 { 8192.0 } else { 8191.0 };
                Some(Action::PitchBend(
                    f32::from(value) / extreme * self.pitch_bend_range,
                ))
            }
        }
    }
}

/// Controller numbers the device acts on.
const SUSTAIN_PEDAL: u8 = 64;
const ALL_SOUND_OFF: u8 = 120;
const ALL_NOTES_OFF: u8 = 123;

/// A parser that feeds a sink and adds the bytes it drops to a counter shared with the handle
/// the app reads it from.
#[cfg(feature = "device")]
struct Decoder {
    parser: MidiParser,
    reported: u64,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

#[cfg(feature = "device")]
impl Decoder {
    fn new(dropped: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        Self {
            parser: MidiParser::default(),
            reported: 0,
            dropped,
        }
    }

    fn decode(&mut self, bytes: &[u8], sink: &mut dyn FnMut(MidiEvent)) {
        for &byte in bytes {
            let event = self.parser.feed(byte);
            // Counted before the event goes out, so whoever sees an event sees the count of
            // everything dropped before it.
            let dropped = self.parser.dropped();
            if dropped != self.reported {
                self.dropped.fetch_add(
                    dropped - self.reported,
                    std::sync::atomic::Ordering::Relaxed,
                );
                self.reported = dropped;
            }
            if let Some(event) = event {
                sink(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn midi_settings(channel: Option<u8>, omni: bool) -> MidiSettings {
        MidiSettings {
            device: None,
            channel,
            omni,
            pitch_bend_range: 2.0,
            cc: CcMap::general_midi(),
            transpose: 0,
            fine_tune: 0.0,
            velocity_curve: VelocityCurve::Linear,
        }
    }

    #[test]
    fn the_filter_follows_channel_and_omni() {
        let seventh = ChannelFilter::from_settings(&midi_settings(Some(7), false));
        assert_eq!(seventh, ChannelFilter::Only(7));
        assert!(seventh.accepts(6), "MIDI channel 7 is wire nibble 6");
        assert!(!seventh.accepts(7));
        let omni = ChannelFilter::from_settings(&midi_settings(None, true));
        assert!((0..16).all(|channel| omni.accepts(channel)));
        let none = ChannelFilter::from_settings(&midi_settings(None, false));
        assert!((0..16).all(|channel| !none.accepts(channel)));
    }

    fn action(event: MidiEvent) -> Option<Action> {
        let mapping = MidiMapping {
            channels: ChannelFilter::Only(1),
            pitch_bend_range: 2.0,
        };
        mapping.action(&event)
    }

    fn control(controller: u8, value: u8) -> MidiEvent {
        MidiEvent::ControlChange {
            channel: 0,
            controller,
            value,
        }
    }

    fn bend(value: i16) -> Option<Action> {
        action(MidiEvent::PitchBend { channel: 0, value })
    }

    #[test]
    fn notes_become_note_actions_on_the_chosen_channel_only() {
        let on = |channel| MidiEvent::NoteOn {
            channel,
            note: 60,
            velocity: 127,
        };
        assert_eq!(
            action(on(0)),
            Some(Action::NoteOn {
                note: 60,
                velocity: 1.0
            })
        );
        assert_eq!(action(on(1)), None);
        assert_eq!(
            action(MidiEvent::NoteOff {
                channel: 0,
                note: 61
            }),
            Some(Action::NoteOff { note: 61 })
        );
    }

    #[test]
    fn controllers_map_to_pedal_and_panic_actions() {
        assert_eq!(action(control(64, 64)), Some(Action::Sustain(true)));
        assert_eq!(action(control(64, 63)), Some(Action::Sustain(false)));
        assert_eq!(action(control(123, 0)), Some(Action::AllNotesOff));
        assert_eq!(action(control(120, 0)), Some(Action::AllSoundOff));
        assert_eq!(action(control(1, 100)), None, "the mod wheel does nothing");
    }

    #[test]
    fn pitch_bend_spans_the_range_each_way() {
        assert_eq!(bend(0), Some(Action::PitchBend(0.0)));
        assert_eq!(bend(8191), Some(Action::PitchBend(2.0)));
        assert_eq!(bend(-8192), Some(Action::PitchBend(-2.0)));
        assert_eq!(bend(-4096), Some(Action::PitchBend(-1.0)));
        let wide = MidiMapping {
            channels: ChannelFilter::Omni,
            pitch_bend_range: 12.0,
        };
        assert_eq!(
            wide.action(&MidiEvent::PitchBend {
                channel: 0,
                value: 8191
            }),
            Some(Action::PitchBend(12.0))
        );
    }
}
