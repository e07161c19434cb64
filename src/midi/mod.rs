//! MIDI input: the shared byte-stream parser, the channel filter from the settings, the one
//! meaning of events (engine actions, or control inputs), which control-change numbers move which
//! controls (`controls`) and the file MIDI learn keeps them in (`learned`), velocity curves
//! (`velocity`), and (with the `device` feature) the DIN serial port and USB (ALSA sequencer)
//! inputs with hot-plug. It hands events to a sink and never talks to the engine or the audio
//! thread itself, and never stops reading because of bad bytes.
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
pub use learned::{
    cc_map_in_force, learned_from_bytes, learned_path, read_learned, save_learned, LearnedMapError,
    LEARNED_FILE,
};
pub use parser::{MidiEvent, MidiParser};
#[cfg(feature = "device")]
pub use serial::{SerialMidi, SerialMidiError};
#[cfg(feature = "device")]
pub use usb::{input_ports, Connections, ListedPort, PortSystem, Rescan, UsbMidi, UsbMidiError};
pub use velocity::VelocityCurve;

use crate::engine::Action;
use crate::input::Input;
use crate::patch::SLOTS;
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

/// What one MIDI event does to the instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Meaning {
    /// Played by the engine at once: notes, the pedal, the wheel, the panic controllers.
    Play(Action),
    /// Handled by the control loop as the hardware controls are: a control change for the CC
    /// map (or MIDI learn), a program change that loads a patch.
    Control(Input),
    /// Not acted on but counted, so that a controller sending the wrong thing can be told: a
    /// program change above the last patch slot.
    Ignored,
}

/// What MIDI means to the instrument: the one mapping from MIDI events to what it does, used by
/// serial MIDI, USB MIDI, songs (`render`, `play`) and the simulator alike, so the same MIDI
/// sounds the same whichever way it arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MidiMapping {
    pub channels: ChannelFilter,
    /// Semitones each way the wheel's extremes bend (`midi.pitchBendRange`).
    pub pitch_bend_range: f32,
    /// How key velocity becomes loudness (`midi.velocityCurve`).
    pub velocity: VelocityCurve,
}

impl MidiMapping {
    pub fn from_settings(midi: &MidiSettings) -> Self {
        Self {
            channels: ChannelFilter::from_settings(midi),
            pitch_bend_range: midi.pitch_bend_range,
            velocity: midi.velocity_curve,
        }
    }

    /// What `event` means, if its channel plays and the instrument acts on it.
    pub fn meaning(&self, event: &MidiEvent) -> Option<Meaning> {
        if self.channels.accepts(event.channel()) {
            self.meaning_on_any_channel(event)
        } else {
            None
        }
    }

    /// What `event` means whatever its channel (for scripted events, which are played on the
    /// instrument's own channel).
    pub fn meaning_on_any_channel(&self, event: &MidiEvent) -> Option<Meaning> {
        Some(match *event {
            MidiEvent::NoteOn { note, velocity, .. } => Meaning::Play(Action::NoteOn {
                note,
                velocity: self.velocity.gain(velocity),
            }),
            MidiEvent::NoteOff { note, .. } => Meaning::Play(Action::NoteOff { note }),
            MidiEvent::ControlChange {
                controller, value, ..
            } => match controller {
                // The pedal's half-way point, as the MIDI specification reads a switch controller.
                SUSTAIN_PEDAL => Meaning::Play(Action::Sustain(value >= 64)),
                ALL_SOUND_OFF => Meaning::Play(Action::AllSoundOff),
                ALL_NOTES_OFF => Meaning::Play(Action::AllNotesOff),
                // The other channel mode messages are not acted on.
                mode if mode >= CHANNEL_MODE => return None,
                _ => Meaning::Control(Input::Cc { controller, value }),
            },
            MidiEvent::PitchBend { value, .. } => {
                // The wire range is one step longer downwards; scaling each side by its own
                // extreme makes full up and full down symmetric.
                let extreme = if value < 0 { 8192.0 } else { 8191.0 };
                Meaning::Play(Action::PitchBend(
                    f32::from(value) / extreme * self.pitch_bend_range,
                ))
            }
            MidiEvent::ProgramChange { program, .. } => match usize::from(program) {
                slot @ 0..SLOTS => Meaning::Control(Input::Program(slot)),
                _ => Meaning::Ignored,
            },
        })
    }
}

/// Controller numbers the engine plays; every other CC below [`CHANNEL_MODE`] goes to the CC map.
pub const SUSTAIN_PEDAL: u8 = 64;
const ALL_SOUND_OFF: u8 = 120;
const ALL_NOTES_OFF: u8 = 123;
/// The first channel mode message (120–127).
pub const CHANNEL_MODE: u8 = 120;

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

    fn mapping() -> MidiMapping {
        MidiMapping {
            channels: ChannelFilter::Only(1),
            pitch_bend_range: 2.0,
            velocity: VelocityCurve::Linear,
        }
    }

    fn meaning(event: MidiEvent) -> Option<Meaning> {
        mapping().meaning(&event)
    }

    fn played(action: Action) -> Option<Meaning> {
        Some(Meaning::Play(action))
    }

    fn control(controller: u8, value: u8) -> MidiEvent {
        MidiEvent::ControlChange {
            channel: 0,
            controller,
            value,
        }
    }

    fn bend(value: i16) -> Option<Meaning> {
        meaning(MidiEvent::PitchBend { channel: 0, value })
    }

    #[test]
    fn notes_become_note_actions_on_the_chosen_channel_only() {
        let on = |channel| MidiEvent::NoteOn {
            channel,
            note: 60,
            velocity: 127,
        };
        assert_eq!(
            meaning(on(0)),
            played(Action::NoteOn {
                note: 60,
                velocity: 1.0
            })
        );
        assert_eq!(meaning(on(1)), None);
        assert_eq!(
            mapping().meaning_on_any_channel(&on(1)),
            meaning(on(0)),
            "scripted events play whatever their channel"
        );
        assert_eq!(
            meaning(MidiEvent::NoteOff {
                channel: 0,
                note: 61
            }),
            played(Action::NoteOff { note: 61 })
        );
    }

    #[test]
    fn the_velocity_curve_shapes_note_loudness() {
        let soft = MidiMapping {
            velocity: VelocityCurve::Fixed(64),
            ..mapping()
        };
        let on = MidiEvent::NoteOn {
            channel: 0,
            note: 60,
            velocity: 10,
        };
        assert_eq!(
            soft.meaning(&on),
            played(Action::NoteOn {
                note: 60,
                velocity: 64.0 / 127.0
            })
        );
    }

    #[test]
    fn the_pedal_and_panic_controllers_play_and_other_controllers_go_to_the_controls() {
        assert_eq!(meaning(control(64, 64)), played(Action::Sustain(true)));
        assert_eq!(meaning(control(64, 63)), played(Action::Sustain(false)));
        assert_eq!(meaning(control(123, 0)), played(Action::AllNotesOff));
        assert_eq!(meaning(control(120, 0)), played(Action::AllSoundOff));
        assert_eq!(meaning(control(121, 0)), None, "reset all controllers");
        assert_eq!(
            meaning(control(1, 100)),
            Some(Meaning::Control(Input::Cc {
                controller: 1,
                value: 100
            }))
        );
    }

    #[test]
    fn programs_0_to_3_load_patches_and_higher_ones_are_ignored() {
        let program = |program| MidiEvent::ProgramChange {
            channel: 0,
            program,
        };
        assert_eq!(
            meaning(program(0)),
            Some(Meaning::Control(Input::Program(0)))
        );
        assert_eq!(
            meaning(program(3)),
            Some(Meaning::Control(Input::Program(3)))
        );
        assert_eq!(meaning(program(4)), Some(Meaning::Ignored));
        assert_eq!(meaning(program(127)), Some(Meaning::Ignored));
    }

    #[test]
    fn pitch_bend_spans_the_range_each_way() {
        assert_eq!(bend(0), played(Action::PitchBend(0.0)));
        assert_eq!(bend(8191), played(Action::PitchBend(2.0)));
        assert_eq!(bend(-8192), played(Action::PitchBend(-2.0)));
        assert_eq!(bend(-4096), played(Action::PitchBend(-1.0)));
        let wide = MidiMapping {
            channels: ChannelFilter::Omni,
            pitch_bend_range: 12.0,
            ..mapping()
        };
        assert_eq!(
            wide.meaning(&MidiEvent::PitchBend {
                channel: 0,
                value: 8191
            }),
            played(Action::PitchBend(12.0))
        );
    }
}
