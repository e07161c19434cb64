//! Which MIDI control-change (CC) number moves which instrument control, and reading CC values
//! into control moves: the map's defaults, its JSON form (checked key by key, errors naming the
//! control), MIDI learn, and 14-bit grid pairs (a grid axis on CC n < 32 also owns CC n + 32 as
//! its fine half). It never reads or writes files and never reaches the engine.

use super::{CHANNEL_MODE, SUSTAIN_PEDAL};
use serde_json::Value;

/// A control MIDI CCs can move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    Position,
    Attack,
    Decay,
    Sustain,
    Release,
    Volume,
    GridX,
    GridY,
    /// A corner's instrument, 0–3 in settings order (top-left, top-right, bottom-left,
    /// bottom-right). A higher number is no corner: it has no CC and can't learn one.
    Corner(usize),
}

/// Names of the corners' controls, indexed by corner.
const CORNER_NAMES: [&str; 4] = ["corner1", "corner2", "corner3", "corner4"];

/// The name of a corner number past the last corner; no key has it.
const NO_CORNER: &str = "no corner";

/// CC numbers below this pair with the number 32 above as 14-bit coarse and fine halves.
const FINE_OFFSET: u8 = 32;

impl Control {
    /// Every control, in the order above: the six knobs first in pot order, corners 0..4 last.
    pub const ALL: [Control; 12] = [
        Control::Position,
        Control::Attack,
        Control::Decay,
        Control::Sustain,
        Control::Release,
        Control::Volume,
        Control::GridX,
        Control::GridY,
        Control::Corner(0),
        Control::Corner(1),
        Control::Corner(2),
        Control::Corner(3),
    ];

    /// The settings/OSC name: "position", "attack", "decay", "sustain", "release", "volume",
    /// "gridX", "gridY", "corner1".."corner4".
    pub fn name(self) -> &'static str {
        match self {
            Control::Position => "position",
            Control::Attack => "attack",
            Control::Decay => "decay",
            Control::Sustain => "sustain",
            Control::Release => "release",
            Control::Volume => "volume",
            Control::GridX => "gridX",
            Control::GridY => "gridY",
            Control::Corner(corner) => CORNER_NAMES.get(corner).copied().unwrap_or(NO_CORNER),
        }
    }

    pub fn from_name(name: &str) -> Option<Control> {
        Control::ALL
            .into_iter()
            .find(|control| control.name() == name)
    }

    /// Where the control sits in [`Control::ALL`]; `None` for a corner past the last.
    fn index(self) -> Option<usize> {
        Control::ALL.iter().position(|control| *control == self)
    }

    /// The slot a grid axis keeps its coarse half in, in [`CcReader`].
    fn grid_axis(self) -> Option<usize> {
        match self {
            Control::GridX => Some(0),
            Control::GridY => Some(1),
            _ => None,
        }
    }

    /// The fine half this control takes when it is on `cc`: CC n + 32 for a grid axis on n < 32.
    fn fine_half(self, cc: u8) -> Option<u8> {
        (self.grid_axis().is_some() && cc < FINE_OFFSET).then_some(cc + FINE_OFFSET)
    }

    /// Whether this control on `cc` takes `claimed`, as its CC or its fine half.
    fn takes(self, cc: u8, claimed: u8) -> bool {
        cc == claimed || self.fine_half(cc) == Some(claimed)
    }
}

/// A control moved by a CC: `value` is a fraction 0–1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControlMove {
    pub control: Control,
    pub value: f32,
}

/// A control's CC that the map can't take: the control's name as `key` (empty for the map as a
/// whole) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", key_prefix(.key))]
pub struct CcMapError {
    pub key: String,
    pub message: String,
}

/// "`key`: " before a message about one control; nothing before one about the whole map.
fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("`{key}`: ")
    }
}

impl CcMapError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The key at fault under `map_key`, the key of the whole map (`midi.cc` →
    /// `midi.cc.volume`, or `midi.cc` itself when the map as a whole is wrong).
    pub fn key_under(&self, map_key: &str) -> String {
        if self.key.is_empty() {
            map_key.to_owned()
        } else {
            format!("{map_key}.{}", self.key)
        }
    }
}

/// The validated map from controls to CC numbers: no CC on two controls (fine halves of 14-bit
/// grid pairs included), none reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcMap {
    /// Each control's CC, indexed like [`Control::ALL`].
    ccs: [Option<u8>; 12],
}

impl Default for CcMap {
    fn default() -> Self {
        Self::general_midi()
    }
}

impl CcMap {
    /// Defaults: volume 7, release 72, attack 73, decay 75 (General MIDI 2 numbers), and where
    /// GM2 has none: position 18, sustain 79, gridX 16, gridY 17, corner1..corner4 80, 81, 82, 83.
    pub fn general_midi() -> Self {
        Self {
            ccs: [18, 73, 75, 79, 72, 7, 16, 17, 80, 81, 82, 83].map(Some),
        }
    }

    pub fn cc(&self, control: Control) -> Option<u8> {
        control.index().and_then(|index| self.ccs[index])
    }

    /// Reads a JSON object from control name to CC number (0–127) or null. Keys not present keep
    /// their defaults; null unmaps the control. The first problem is returned, naming its key.
    pub fn from_json(value: &Value) -> Result<Self, CcMapError> {
        let Some(object) = value.as_object() else {
            return Err(CcMapError::new(
                "",
                format!(
                    "expected an object from control name to CC number (0–127) or null, found {value}"
                ),
            ));
        };
        let mut map = Self::general_midi();
        let mut explicit = [false; 12];
        for (name, value) in object {
            let Some(index) = Control::ALL
                .iter()
                .position(|control| control.name() == name)
            else {
                return Err(CcMapError::new(
                    name.as_str(),
                    format!("`{name}` is not a control; the controls are {}", names()),
                ));
            };
            map.ccs[index] = cc_number(Control::ALL[index], value)?;
            explicit[index] = true;
        }
        map.check_conflicts(&explicit)?;
        Ok(map)
    }

    /// Every control as a key, unmapped ones as null; `from_json(to_json())` round-trips.
    pub fn to_json(&self) -> Value {
        let object = Control::ALL
            .iter()
            .zip(self.ccs)
            .map(|(control, cc)| {
                (
                    control.name().to_owned(),
                    cc.map_or(Value::Null, Value::from),
                )
            })
            .collect();
        Value::Object(object)
    }

    /// Makes `cc` the map of `control` (MIDI learn). Any other control that used `cc` (or, for a
    /// grid axis, whose fine half is `cc`, or whose CC is the fine half `control` now claims) is
    /// unmapped; returns the controls that lost their CC, in [`Control::ALL`] order. Refuses a
    /// reserved CC, a number past 127 and a corner past the last.
    pub fn learn(&mut self, control: Control, cc: u8) -> Result<Vec<Control>, CcMapError> {
        let Some(index) = control.index() else {
            return Err(CcMapError::new(
                control.name(),
                "there are 4 corners, 0–3 (corner1–corner4); this number is none of them",
            ));
        };
        check_cc(control, cc)?;
        let mut lost = Vec::new();
        for (other_index, other) in Control::ALL.into_iter().enumerate() {
            let Some(other_cc) = self.ccs[other_index] else {
                continue;
            };
            let overlaps = other.takes(other_cc, cc)
                || control
                    .fine_half(cc)
                    .is_some_and(|fine| other.takes(other_cc, fine));
            if other != control && overlaps {
                self.ccs[other_index] = None;
                lost.push(other);
            }
        }
        self.ccs[index] = Some(cc);
        Ok(lost)
    }

    /// The first CC two controls share, reported on the one the user set (the later one when
    /// both were set); `explicit` says which controls the JSON named.
    fn check_conflicts(&self, explicit: &[bool; 12]) -> Result<(), CcMapError> {
        for (later_index, later) in Control::ALL.into_iter().enumerate() {
            let Some(later_cc) = self.ccs[later_index] else {
                continue;
            };
            for (earlier_index, earlier) in Control::ALL.into_iter().enumerate().take(later_index) {
                let Some(earlier_cc) = self.ccs[earlier_index] else {
                    continue;
                };
                let Some(shared) = [Some(later_cc), later.fine_half(later_cc)]
                    .into_iter()
                    .flatten()
                    .find(|&claimed| earlier.takes(earlier_cc, claimed))
                else {
                    continue;
                };
                let (key, key_cc, other, other_cc, other_explicit) = if explicit[later_index] {
                    (
                        later,
                        later_cc,
                        earlier,
                        earlier_cc,
                        explicit[earlier_index],
                    )
                } else {
                    (earlier, earlier_cc, later, later_cc, false)
                };
                return Err(conflict(
                    key,
                    key_cc,
                    other,
                    other_cc,
                    other_explicit,
                    shared,
                ));
            }
        }
        Ok(())
    }
}

/// The known control names, for messages.
fn names() -> String {
    Control::ALL.map(Control::name).join(", ")
}

/// The CC number `value` holds for `control`: a whole number 0–127 that is not reserved, or
/// null for none.
fn cc_number(control: Control, value: &Value) -> Result<Option<u8>, CcMapError> {
    if value.is_null() {
        return Ok(None);
    }
    let whole = value
        .as_f64()
        .filter(|number| number.fract() == 0.0 && (0.0..=127.0).contains(number));
    let Some(number) = whole else {
        return Err(CcMapError::new(
            control.name(),
            format!(
                "{value} is not a CC number: expected a whole number 0–127, or null to leave {} unmapped",
                control.name()
            ),
        ));
    };
    let cc = number as u8;
    check_cc(control, cc)?;
    Ok(Some(cc))
}

/// Refuses a CC the instrument reads itself or that is no CC at all.
fn check_cc(control: Control, cc: u8) -> Result<(), CcMapError> {
    let reason = match cc {
        SUSTAIN_PEDAL => "is the sustain pedal",
        CHANNEL_MODE..=127 => "is a channel mode message (120–127: all sound off, all notes off …)",
        128.. => "is not a CC number (0–127)",
        _ => return Ok(()),
    };
    Err(CcMapError::new(
        control.name(),
        format!(
            "CC {cc} {reason} and can't be mapped; choose a number 0–119 other than 64, or null"
        ),
    ))
}

/// The message for `key` on `key_cc` sharing `shared` with `other` on `other_cc`.
fn conflict(
    key: Control,
    key_cc: u8,
    other: Control,
    other_cc: u8,
    other_explicit: bool,
    shared: u8,
) -> CcMapError {
    let default = if other_explicit { "" } else { " (a default)" };
    let (key_name, other_name) = (key.name(), other.name());
    let whose = if shared == other_cc {
        format!("{other_name}'s{default}")
    } else {
        format!("the 14-bit fine half of {other_name}'s CC {other_cc}{default}")
    };
    let subject = if shared == key_cc {
        format!("CC {shared} is also {whose}")
    } else {
        format!("CC {key_cc} takes CC {shared} too, as its 14-bit fine half, and CC {shared} is {whose}")
    };
    CcMapError::new(
        key_name,
        format!("{subject}; set `{other_name}` to another number or null, or `{key_name}` to another CC"),
    )
}

/// Turns CC values into control moves; keeps the coarse half of 14-bit grid pairs.
#[derive(Debug, Clone, Default)]
pub struct CcReader {
    /// The last coarse half of gridX and gridY, with the CC it came on, so a coarse value from
    /// before a change of map is never combined with a fine one after it.
    coarse: [Option<(u8, u8)>; 2],
}

impl CcReader {
    /// The move CC `controller` = `value` (0–127, higher counts as 127) makes under `map`, if
    /// any. 7-bit: value/127. For gridX/gridY on n < 32: CC n (coarse) gives value/127 and is
    /// remembered; CC n+32 (fine) gives (coarse × 128 + fine)/16383 once a coarse value has
    /// arrived, and nothing before.
    pub fn read(&mut self, map: &CcMap, controller: u8, value: u8) -> Option<ControlMove> {
        let value = value.min(127);
        for control in Control::ALL {
            let Some(cc) = map.cc(control) else {
                continue;
            };
            if cc == controller {
                if let (Some(axis), Some(_)) = (control.grid_axis(), control.fine_half(cc)) {
                    self.coarse[axis] = Some((cc, value));
                }
                return Some(ControlMove {
                    control,
                    value: f32::from(value) / 127.0,
                });
            }
            if control.fine_half(cc) == Some(controller) {
                let (coarse_cc, coarse) = self.coarse[control.grid_axis()?]?;
                if coarse_cc != cc {
                    return None;
                }
                let combined = u16::from(coarse) * 128 + u16::from(value);
                return Some(ControlMove {
                    control,
                    value: f32::from(combined) / 16383.0,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(value: Value) -> CcMapError {
        CcMap::from_json(&value).expect_err("should be refused")
    }

    #[test]
    fn names_round_trip_and_follow_the_order() {
        for control in Control::ALL {
            assert_eq!(Control::from_name(control.name()), Some(control));
        }
        assert_eq!(Control::Corner(0).name(), "corner1");
        assert_eq!(Control::Corner(3).name(), "corner4");
        assert_eq!(Control::from_name("corner5"), None);
        assert_eq!(
            Control::from_name("gridx"),
            None,
            "names are case-sensitive"
        );
    }

    #[test]
    fn the_defaults_are_general_midi_numbers() {
        let map = CcMap::default();
        assert_eq!(map, CcMap::general_midi());
        let expected = [
            (Control::Volume, 7),
            (Control::Release, 72),
            (Control::Attack, 73),
            (Control::Decay, 75),
            (Control::Position, 18),
            (Control::Sustain, 79),
            (Control::GridX, 16),
            (Control::GridY, 17),
            (Control::Corner(0), 80),
            (Control::Corner(3), 83),
        ];
        for (control, cc) in expected {
            assert_eq!(map.cc(control), Some(cc), "{}", control.name());
        }
        assert_eq!(map.cc(Control::Corner(4)), None);
        assert_eq!(CcMap::from_json(&json!({})).unwrap(), map);
    }

    #[test]
    fn json_sets_and_unmaps_controls_and_round_trips() {
        let map = CcMap::from_json(&json!({"volume": 11, "position": null, "gridX": 0})).unwrap();
        assert_eq!(map.cc(Control::Volume), Some(11));
        assert_eq!(map.cc(Control::Position), None);
        assert_eq!(map.cc(Control::GridX), Some(0));
        assert_eq!(
            map.cc(Control::Attack),
            Some(73),
            "unnamed keys keep their default"
        );
        let written = map.to_json();
        assert_eq!(written["position"], Value::Null);
        assert_eq!(written.as_object().unwrap().len(), 12);
        assert_eq!(CcMap::from_json(&written).unwrap(), map);
        let whole = CcMap::from_json(&json!({"volume": 9.0})).unwrap();
        assert_eq!(whole.cc(Control::Volume), Some(9));
    }

    #[test]
    fn bad_maps_name_the_key_and_the_expectation() {
        let top = refused(json!([7]));
        assert_eq!(top.key, "");
        assert!(top.message.contains("expected an object"), "{top}");
        let unknown = refused(json!({"cutoff": 74}));
        assert_eq!(unknown.key, "cutoff");
        assert!(unknown.message.contains("position, attack"), "{unknown}");
        for bad in [
            json!(128),
            json!(-1),
            json!(7.5),
            json!("seven"),
            json!(true),
        ] {
            let error = refused(json!({ "volume": bad }));
            assert_eq!(error.key, "volume", "{bad}");
            assert!(error.message.contains("whole number 0–127"), "{error}");
        }
        let pedal = refused(json!({"sustain": 64}));
        assert_eq!(pedal.to_string(), "`sustain`: CC 64 is the sustain pedal and can't be mapped; choose a number 0–119 other than 64, or null");
        for mode in [120, 123, 127] {
            let error = refused(json!({ "decay": mode }));
            assert!(error.message.contains("channel mode"), "{error}");
        }
    }

    #[test]
    fn one_cc_on_two_controls_is_refused() {
        let with_default = refused(json!({"position": 7}));
        assert_eq!(with_default.key, "position");
        assert_eq!(
            with_default.message,
            "CC 7 is also volume's (a default); set `volume` to another number or null, or \
             `position` to another CC"
        );
        let both = refused(json!({"attack": 1, "corner2": 1}));
        assert_eq!(both.key, "corner2");
        assert!(both.message.contains("attack's;"), "{both}");
        // Moving the default owner away frees its number.
        let swapped = CcMap::from_json(&json!({"position": 7, "volume": 18})).unwrap();
        assert_eq!(swapped.cc(Control::Position), Some(7));
    }

    #[test]
    fn grid_axes_on_low_numbers_own_the_fine_half_too() {
        let fine = refused(json!({"gridX": 16, "volume": 48}));
        assert_eq!(fine.key, "gridX");
        assert!(
            fine.message.contains("CC 16 takes CC 48") && fine.message.contains("volume's"),
            "{fine}"
        );
        let under_default = refused(json!({"volume": 48}));
        assert_eq!(under_default.key, "volume");
        assert!(
            under_default
                .message
                .contains("fine half of gridX's CC 16 (a default)")
                && under_default.message.contains("(a default)"),
            "{under_default}"
        );
        let axes = refused(json!({"gridX": 3, "gridY": 35}));
        assert_eq!(axes.key, "gridY");
        // Numbers from 32 up have no fine half.
        let high = CcMap::from_json(&json!({"gridX": 40, "volume": 72, "release": 8})).unwrap();
        assert_eq!(high.cc(Control::GridX), Some(40));
    }

    #[test]
    fn learning_moves_the_cc_and_unmaps_its_old_owner() {
        let mut map = CcMap::general_midi();
        assert_eq!(map.learn(Control::Position, 7), Ok(vec![Control::Volume]));
        assert_eq!(map.cc(Control::Position), Some(7));
        assert_eq!(map.cc(Control::Volume), None);
        assert_eq!(
            map.learn(Control::Position, 7),
            Ok(vec![]),
            "relearning is a no-op"
        );
        assert_eq!(map.learn(Control::Volume, 48), Ok(vec![Control::GridX]));
        assert_eq!(
            map.learn(Control::GridY, 16),
            Ok(vec![Control::Volume]),
            "its fine half, CC 48, was volume's"
        );
        assert_eq!(map.cc(Control::GridY), Some(16));
        assert!(
            CcMap::from_json(&map.to_json()).is_ok(),
            "a learned map is valid"
        );
        assert!(map.learn(Control::Attack, 64).is_err());
        assert!(map.learn(Control::Attack, 121).is_err());
        assert!(map.learn(Control::Attack, 200).is_err());
        assert!(map.learn(Control::Corner(4), 1).is_err());
        assert_eq!(
            map.cc(Control::Attack),
            Some(73),
            "a refused learn changes nothing"
        );
    }

    #[test]
    fn seven_bit_controls_span_zero_to_one() {
        let map = CcMap::general_midi();
        let mut reader = CcReader::default();
        let volume = |value| {
            Some(ControlMove {
                control: Control::Volume,
                value,
            })
        };
        assert_eq!(reader.read(&map, 7, 0), volume(0.0));
        assert_eq!(reader.read(&map, 7, 127), volume(1.0));
        assert_eq!(reader.read(&map, 7, 200), volume(1.0));
        assert_eq!(reader.read(&map, 1, 100), None, "the mod wheel is unmapped");
        assert_eq!(reader.read(&map, 64, 127), None, "the pedal is no control");
    }

    #[test]
    fn grid_pairs_give_fourteen_bit_values() {
        let map = CcMap::general_midi();
        let mut reader = CcReader::default();
        let grid_x = |value| {
            Some(ControlMove {
                control: Control::GridX,
                value,
            })
        };
        assert_eq!(reader.read(&map, 48, 5), None, "no coarse half yet");
        assert_eq!(reader.read(&map, 16, 64), grid_x(64.0 / 127.0));
        assert_eq!(reader.read(&map, 48, 0), grid_x(8192.0 / 16383.0));
        assert_eq!(reader.read(&map, 16, 127), grid_x(1.0));
        assert_eq!(reader.read(&map, 48, 127), grid_x(1.0));
        assert_eq!(
            reader.read(&map, 49, 0),
            None,
            "gridY has no coarse half yet"
        );
        // A coarse value from before a relearn is not combined with the new fine half.
        let mut moved = map.clone();
        moved.learn(Control::GridX, 20).unwrap();
        assert_eq!(reader.read(&moved, 52, 0), None);
        assert_eq!(
            reader.read(&moved, 48, 0),
            None,
            "CC 48 is no longer gridX's"
        );
    }
}
