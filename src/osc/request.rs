//! OSC messages to typed requests: the address space, argument counts and types, and ranges.
//! Pure functions of one message; never touches a socket, the engine or the controller.

use std::fmt;

use rosc::{OscMessage, OscType};

use crate::engine::{Action, MAX_FINE_TUNE, MAX_TRANSPOSE};
use crate::input::{Input, BUTTONS, ENCODERS, POTS};
use crate::midi::Control;

/// The knob addresses, in pot order (the order of [`Input::Pot`] and of `/state/knobs`).
pub const KNOB_ADDRESSES: [&str; POTS] = [
    "/position",
    "/attack",
    "/decay",
    "/sustain",
    "/release",
    "/volume",
];

const HIGHEST_NOTE: u32 = 127;
const HIGHEST_CORNER: u32 = ENCODERS as u32 - 1;
const HIGHEST_SLOT: u32 = BUTTONS as u32 - 1;
/// Instrument indexes are checked against each corner's list by the controller; here only the
/// largest value an OSC int can carry.
const HIGHEST_INSTRUMENT: u32 = i32::MAX as u32;
/// UDP ports a subscriber may name; 0 is no port to send to.
const PORTS: (u32, u32) = (1, u16::MAX as u32);

/// What a valid message asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Request {
    /// For the engine's command ring (`/on`, `/off`).
    Note(Action),
    /// For the controller (knobs, grid, instruments, patches).
    Control(Input),
    /// Silence everything at once and lift the sustain pedal.
    Panic,
    /// Reply to the sender with the state.
    State,
    /// Send the state to the sender's address, at `port` if given, and every change from now on.
    Subscribe { port: Option<u16> },
    /// Stop sending changes to the sender's address (at `port` if given).
    Unsubscribe { port: Option<u16> },
}

/// How many arguments an address takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    AtMost(usize),
}

impl Arity {
    fn allows(self, count: usize) -> bool {
        match self {
            Arity::Exactly(expected) => count == expected,
            Arity::AtMost(most) => count <= most,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Exactly(expected) => write!(f, "{expected}"),
            Arity::AtMost(most) => write!(f, "at most {most}"),
        }
    }
}

/// Why a message was dropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejected {
    #[error("unknown OSC address {0}")]
    UnknownAddress(String),
    #[error("{address} takes {expected} argument(s), got {found}")]
    ArgumentCount {
        address: String,
        expected: Arity,
        found: usize,
    },
    #[error("argument {index} of {address} must be {expected}, got {found}")]
    ArgumentType {
        address: String,
        index: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error("argument {index} of {address} is {value}, outside {lowest}–{highest}")]
    OutOfRange {
        address: String,
        index: usize,
        value: f64,
        lowest: f64,
        highest: f64,
    },
    #[error(
        "argument {index} of {address} is `{name}`, which is not a control; controls: {}",
        control_names()
    )]
    UnknownControl {
        address: String,
        index: usize,
        name: String,
    },
}

/// Every control's name, for messages.
fn control_names() -> String {
    Control::ALL.map(Control::name).join(", ")
}

/// Reads one message: the address must match exactly, the argument count must be exact, and
/// numbers may be ints or floats, converted into each other as the original's OSC library did
/// (a float where an int is expected is truncated).
pub fn decode(message: &OscMessage) -> Result<Request, Rejected> {
    let address = message.addr.as_str();
    if let Some(pot) = KNOB_ADDRESSES.iter().position(|&knob| knob == address) {
        let value = Arguments::exactly(message, 1)?.fraction(0)?;
        return Ok(Request::Control(Input::Pot {
            pot,
            value: pot_value(value),
        }));
    }
    let request = match address {
        "/on" => {
            let args = Arguments::exactly(message, 2)?;
            Request::Note(Action::NoteOn {
                note: args.note(0)?,
                velocity: args.fraction(1)?,
            })
        }
        "/off" => Request::Note(Action::NoteOff {
            note: Arguments::exactly(message, 1)?.note(0)?,
        }),
        "/grid" => {
            let args = Arguments::exactly(message, 2)?;
            Request::Control(Input::Grid {
                x: args.fraction(0)?,
                y: args.fraction(1)?,
            })
        }
        "/instrument" => {
            let args = Arguments::exactly(message, 2)?;
            Request::Control(Input::Instrument {
                corner: args.index(0, HIGHEST_CORNER)?,
                index: args.index(1, HIGHEST_INSTRUMENT)?,
            })
        }
        "/patch/load" => Request::Control(Input::PatchLoad(
            Arguments::exactly(message, 1)?.index(0, HIGHEST_SLOT)?,
        )),
        "/patch/save" => Request::Control(Input::PatchSave(
            Arguments::exactly(message, 1)?.index(0, HIGHEST_SLOT)?,
        )),
        "/panic" => {
            Arguments::exactly(message, 0)?;
            Request::Panic
        }
        "/learn" => Request::Control(Input::Learn(Arguments::exactly(message, 1)?.control(0)?)),
        "/transpose" => {
            let highest = MAX_TRANSPOSE.unsigned_abs();
            let semitones = Arguments::exactly(message, 1)?.signed(0, highest)?;
            Request::Control(Input::Transpose(semitones as i8))
        }
        "/fineTune" => {
            let args = Arguments::exactly(message, 1)?;
            let cents = args.number(0)?;
            let limit = f64::from(MAX_FINE_TUNE);
            Request::Control(Input::FineTune(args.within(0, cents, -limit, limit)? as f32))
        }
        "/state" => {
            Arguments::exactly(message, 0)?;
            Request::State
        }
        "/subscribe" => Request::Subscribe {
            port: Arguments::optional_port(message)?,
        },
        "/unsubscribe" => Request::Unsubscribe {
            port: Arguments::optional_port(message)?,
        },
        _ => return Err(Rejected::UnknownAddress(message.addr.clone())),
    };
    Ok(request)
}

/// A normalised value as a software pot reading, `clamp(trunc(v·255), 0, 255)` as the original.
fn pot_value(fraction: f32) -> u8 {
    (fraction * 255.0).trunc().clamp(0.0, 255.0) as u8
}

/// A message's arguments, their count already checked.
struct Arguments<'a> {
    message: &'a OscMessage,
}

impl<'a> Arguments<'a> {
    fn exactly(message: &'a OscMessage, expected: usize) -> Result<Self, Rejected> {
        Self::counted(message, Arity::Exactly(expected))
    }

    fn counted(message: &'a OscMessage, expected: Arity) -> Result<Self, Rejected> {
        if expected.allows(message.args.len()) {
            Ok(Self { message })
        } else {
            Err(Rejected::ArgumentCount {
                address: message.addr.clone(),
                expected,
                found: message.args.len(),
            })
        }
    }

    /// No argument, or one: a UDP port 1–65535 (a float is truncated).
    fn optional_port(message: &'a OscMessage) -> Result<Option<u16>, Rejected> {
        let args = Self::counted(message, Arity::AtMost(1))?;
        if message.args.is_empty() {
            return Ok(None);
        }
        let (lowest, highest) = PORTS;
        let port = args.whole(0, lowest, highest)?;
        Ok(Some(u16::try_from(port).unwrap_or(u16::MAX)))
    }

    fn number(&self, index: usize) -> Result<f64, Rejected> {
        match self.message.args[index] {
            OscType::Int(value) => Ok(f64::from(value)),
            OscType::Float(value) => Ok(f64::from(value)),
            // Wider than the int and float the original took, but as plainly numbers.
            OscType::Long(value) => Ok(value as f64),
            OscType::Double(value) => Ok(value),
            ref other => Err(Rejected::ArgumentType {
                address: self.message.addr.clone(),
                index,
                expected: "a number (int or float)",
                found: type_name(other),
            }),
        }
    }

    /// A number that must lie in `lowest..=highest` (NaN never does).
    fn within(&self, index: usize, value: f64, lowest: f64, highest: f64) -> Result<f64, Rejected> {
        if (lowest..=highest).contains(&value) {
            Ok(value)
        } else {
            Err(Rejected::OutOfRange {
                address: self.message.addr.clone(),
                index,
                value,
                lowest,
                highest,
            })
        }
    }

    /// A number 0–1.
    fn fraction(&self, index: usize) -> Result<f32, Rejected> {
        let value = self.number(index)?;
        Ok(self.within(index, value, 0.0, 1.0)? as f32)
    }

    /// A whole number `lowest..=highest`; a float is truncated first.
    fn whole(&self, index: usize, lowest: u32, highest: u32) -> Result<usize, Rejected> {
        let value = self.number(index)?.trunc();
        let checked = self.within(index, value, f64::from(lowest), f64::from(highest))?;
        Ok(checked as usize)
    }

    /// A whole number 0..=`highest`.
    fn index(&self, index: usize, highest: u32) -> Result<usize, Rejected> {
        self.whole(index, 0, highest)
    }

    /// A whole number within ±`limit`; a float is truncated first.
    fn signed(&self, index: usize, limit: u8) -> Result<i32, Rejected> {
        let value = self.number(index)?.trunc();
        let limit = f64::from(limit);
        Ok(self.within(index, value, -limit, limit)? as i32)
    }

    /// A control's name, as the settings' `midi.cc` spells it.
    fn control(&self, index: usize) -> Result<Control, Rejected> {
        let name = match &self.message.args[index] {
            OscType::String(name) => name,
            other => {
                return Err(Rejected::ArgumentType {
                    address: self.message.addr.clone(),
                    index,
                    expected: "a string (a control's name)",
                    found: type_name(other),
                })
            }
        };
        Control::from_name(name).ok_or_else(|| Rejected::UnknownControl {
            address: self.message.addr.clone(),
            index,
            name: name.clone(),
        })
    }

    fn note(&self, index: usize) -> Result<u8, Rejected> {
        let note = self.index(index, HIGHEST_NOTE)?;
        Ok(u8::try_from(note).unwrap_or(u8::MAX))
    }
}

fn type_name(value: &OscType) -> &'static str {
    match value {
        OscType::Int(_) => "an int",
        OscType::Float(_) => "a float",
        OscType::String(_) => "a string",
        OscType::Blob(_) => "a blob",
        OscType::Time(_) => "a time tag",
        OscType::Long(_) => "a 64-bit int",
        OscType::Double(_) => "a double",
        OscType::Char(_) => "a char",
        OscType::Color(_) => "a color",
        OscType::Midi(_) => "a MIDI message",
        OscType::Bool(_) => "a bool",
        OscType::Array(_) => "an array",
        OscType::Nil => "nil",
        OscType::Inf => "infinitum",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_args(address: &str, args: Vec<OscType>) -> Result<Request, Rejected> {
        decode(&OscMessage {
            addr: address.into(),
            args,
        })
    }

    use OscType::{Double, Float, Int, Long};

    #[test]
    fn notes_take_ints_or_floats_like_the_original() {
        assert_eq!(
            decode_args("/on", vec![Int(60), Float(0.5)]),
            Ok(Request::Note(Action::NoteOn {
                note: 60,
                velocity: 0.5
            }))
        );
        assert_eq!(
            decode_args("/on", vec![Float(127.9), Int(1)]),
            Ok(Request::Note(Action::NoteOn {
                note: 127,
                velocity: 1.0
            }))
        );
        assert_eq!(
            decode_args("/on", vec![Long(0), Double(0.0)]),
            Ok(Request::Note(Action::NoteOn {
                note: 0,
                velocity: 0.0
            }))
        );
        assert_eq!(
            decode_args("/off", vec![Int(64)]),
            Ok(Request::Note(Action::NoteOff { note: 64 }))
        );
    }

    #[test]
    fn note_numbers_outside_the_table_are_refused() {
        // The original indexed its 128-entry pitch table with these unchecked.
        for note in [Int(128), Int(-1), Float(-0.5 - 1.0), Long(1 << 40)] {
            let result = decode_args("/off", vec![note.clone()]);
            assert!(
                matches!(result, Err(Rejected::OutOfRange { index: 0, .. })),
                "{note:?}: {result:?}"
            );
        }
        let velocity = decode_args("/on", vec![Int(60), Int(100)]);
        assert_eq!(
            velocity,
            Err(Rejected::OutOfRange {
                address: "/on".into(),
                index: 1,
                value: 100.0,
                lowest: 0.0,
                highest: 1.0
            })
        );
    }

    #[test]
    fn nan_and_infinity_are_out_of_range() {
        for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for (address, args) in [
                ("/volume", vec![Float(value)]),
                ("/grid", vec![Float(0.5), Float(value)]),
                ("/patch/load", vec![Float(value)]),
            ] {
                let result = decode_args(address, args);
                assert!(
                    matches!(result, Err(Rejected::OutOfRange { .. })),
                    "{address} {value}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn knobs_become_software_pots_in_pot_order() {
        for (pot, address) in KNOB_ADDRESSES.iter().enumerate() {
            assert_eq!(
                decode_args(address, vec![Float(0.5)]),
                Ok(Request::Control(Input::Pot { pot, value: 127 }))
            );
        }
        assert_eq!(
            decode_args("/volume", vec![Int(1)]),
            Ok(Request::Control(Input::Pot { pot: 5, value: 255 }))
        );
        assert_eq!(
            decode_args("/volume", vec![Float(0.0)]),
            Ok(Request::Control(Input::Pot { pot: 5, value: 0 }))
        );
        assert!(matches!(
            decode_args("/attack", vec![Float(1.01)]),
            Err(Rejected::OutOfRange { .. })
        ));
    }

    #[test]
    fn grid_instrument_and_patches_become_controller_inputs() {
        assert_eq!(
            decode_args("/grid", vec![Float(0.25), Int(1)]),
            Ok(Request::Control(Input::Grid { x: 0.25, y: 1.0 }))
        );
        assert_eq!(
            decode_args("/instrument", vec![Int(3), Float(12.0)]),
            Ok(Request::Control(Input::Instrument {
                corner: 3,
                index: 12
            }))
        );
        assert_eq!(
            decode_args("/patch/load", vec![Int(0)]),
            Ok(Request::Control(Input::PatchLoad(0)))
        );
        assert_eq!(
            decode_args("/patch/save", vec![Float(3.0)]),
            Ok(Request::Control(Input::PatchSave(3)))
        );
        for (address, args) in [
            ("/instrument", vec![Int(4), Int(0)]),
            ("/instrument", vec![Int(0), Int(-1)]),
            ("/patch/load", vec![Int(4)]),
            ("/patch/save", vec![Int(-1)]),
            ("/grid", vec![Float(-0.1), Float(0.0)]),
        ] {
            assert!(
                matches!(
                    decode_args(address, args.clone()),
                    Err(Rejected::OutOfRange { .. })
                ),
                "{address} {args:?}"
            );
        }
    }

    #[test]
    fn panic_and_state_take_no_arguments() {
        assert_eq!(decode_args("/panic", vec![]), Ok(Request::Panic));
        assert_eq!(decode_args("/state", vec![]), Ok(Request::State));
        assert_eq!(
            decode_args("/state", vec![Int(1)]),
            Err(Rejected::ArgumentCount {
                address: "/state".into(),
                expected: Arity::Exactly(0),
                found: 1
            })
        );
    }

    #[test]
    fn subscriptions_take_an_optional_port() {
        let subscribe: fn(Option<u16>) -> Request = |port| Request::Subscribe { port };
        let unsubscribe: fn(Option<u16>) -> Request = |port| Request::Unsubscribe { port };
        for (address, request) in [("/subscribe", subscribe), ("/unsubscribe", unsubscribe)] {
            assert_eq!(decode_args(address, vec![]), Ok(request(None)));
            assert_eq!(
                decode_args(address, vec![Int(9001)]),
                Ok(request(Some(9001)))
            );
            assert_eq!(
                decode_args(address, vec![Float(65535.5)]),
                Ok(request(Some(65535)))
            );
            for port in [Int(0), Int(65536), Int(-1), Float(f32::NAN)] {
                assert!(
                    matches!(
                        decode_args(address, vec![port.clone()]),
                        Err(Rejected::OutOfRange { lowest: 1.0, .. })
                    ),
                    "{address} {port:?}"
                );
            }
        }
        let error = decode_args("/subscribe", vec![Int(9000), Int(9001)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/subscribe takes at most 1 argument(s), got 2"
        );
        let error = decode_args("/unsubscribe", vec![Int(0)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "argument 0 of /unsubscribe is 0, outside 1–65535"
        );
    }

    #[test]
    fn counts_and_types_are_exact() {
        assert!(matches!(
            decode_args("/on", vec![Int(60)]),
            Err(Rejected::ArgumentCount {
                expected: Arity::Exactly(2),
                found: 1,
                ..
            })
        ));
        assert!(matches!(
            decode_args("/off", vec![Int(60), Int(0)]),
            Err(Rejected::ArgumentCount {
                expected: Arity::Exactly(1),
                found: 2,
                ..
            })
        ));
        assert_eq!(
            decode_args("/on", vec![Int(60), OscType::String("loud".into())]),
            Err(Rejected::ArgumentType {
                address: "/on".into(),
                index: 1,
                expected: "a number (int or float)",
                found: "a string"
            })
        );
        assert!(matches!(
            decode_args("/volume", vec![OscType::Bool(true)]),
            Err(Rejected::ArgumentType {
                found: "a bool",
                ..
            })
        ));
    }

    #[test]
    fn addresses_match_exactly() {
        for address in ["/ON", "/on/", "/patch", "/patch/*", "on", "/knob"] {
            assert_eq!(
                decode_args(address, vec![Int(60), Float(1.0)]),
                Err(Rejected::UnknownAddress(address.into()))
            );
        }
    }

    #[test]
    fn errors_name_the_address_the_argument_and_the_range() {
        let error = decode_args("/patch/load", vec![Int(7)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "argument 0 of /patch/load is 7, outside 0–3"
        );
    }

    #[test]
    fn learn_names_a_control_and_tuning_stays_in_range() {
        let name = |text: &str| vec![OscType::String(text.into())];
        assert_eq!(
            decode_args("/learn", name("gridX")),
            Ok(Request::Control(Input::Learn(Control::GridX)))
        );
        assert_eq!(
            decode_args("/learn", name("corner4")),
            Ok(Request::Control(Input::Learn(Control::Corner(3))))
        );
        let error = decode_args("/learn", name("cutoff")).unwrap_err();
        assert!(error
            .to_string()
            .contains("`cutoff`, which is not a control"));
        assert!(error.to_string().contains("position, attack"), "{error}");
        assert!(matches!(
            decode_args("/learn", vec![Int(7)]),
            Err(Rejected::ArgumentType {
                found: "an int",
                ..
            })
        ));
        assert_eq!(
            decode_args("/transpose", vec![Int(-24)]),
            Ok(Request::Control(Input::Transpose(-24)))
        );
        assert_eq!(
            decode_args("/transpose", vec![Float(12.7)]),
            Ok(Request::Control(Input::Transpose(12)))
        );
        assert!(decode_args("/transpose", vec![Int(25)]).is_err());
        assert_eq!(
            decode_args("/fineTune", vec![Float(-50.5)]),
            Ok(Request::Control(Input::FineTune(-50.5)))
        );
        assert!(decode_args("/fineTune", vec![Float(100.5)]).is_err());
        assert!(decode_args("/fineTune", vec![Float(f32::NAN)]).is_err());
    }
}
