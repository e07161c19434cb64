//! The original's development keyboard (spec §12) as simulator events. Pure mapping; reading the
//! terminal happens in `terminal`.

use super::SimEvent;
use crate::input::Input;
use crate::midi::Control;

/// Knob keys: `g h j k l ;` raise pots 0–5 by 5, `b n m , . /` lower them.
const POT_UP: [char; 6] = ['g', 'h', 'j', 'k', 'l', ';'];
const POT_DOWN: [char; 6] = ['b', 'n', 'm', ',', '.', '/'];
/// Encoder keys: `a s d f` turn encoders 0–3 forward, `z x c v` back.
const ENCODER_UP: [char; 4] = ['a', 's', 'd', 'f'];
const ENCODER_DOWN: [char; 4] = ['z', 'x', 'c', 'v'];
/// Note keys `q … p`: MIDI notes 0–9 plus the octave offset, velocity 1.
const NOTES: [char; 10] = ['q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p'];
/// The function key that starts MIDI learn.
const LEARN_KEY: u8 = 5;
/// Knob step per key press.
const POT_STEP: i16 = 5;
/// Loop point step per key press, as a fraction of the row.
const LOOP_STEP: f32 = 0.01;

/// A key as the simulator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// F1–F4 are the patch buttons; F5 starts MIDI learn for the next control in turn.
    F(u8),
    Escape,
}

/// Turns key presses and releases into events. `octave` shifts the note keys (0 = the original's
/// notes 0–9; the `-` and `=` keys move it, an addition to the original's keys).
#[derive(Debug, Default, Clone)]
pub struct Keyboard {
    pub octave: u8,
    /// Presses of the learn key so far: each learns the next control of [`Control::ALL`].
    learned: usize,
}

impl Keyboard {
    /// The events of a key press (`pressed`) or release. Releases only matter for notes and patch
    /// buttons.
    pub fn event(&mut self, key: Key, pressed: bool) -> Option<SimEvent> {
        let event = match key {
            Key::Escape if pressed => SimEvent::Quit,
            Key::F(n @ 1..=4) => SimEvent::Input(Input::Button {
                button: usize::from(n - 1),
                pressed,
            }),
            Key::F(LEARN_KEY) if pressed => {
                let control = Control::ALL[self.learned % Control::ALL.len()];
                self.learned += 1;
                SimEvent::Input(Input::Learn(control))
            }
            Key::Char(c) => {
                if let Some(i) = NOTES.iter().position(|&k| k == c) {
                    let note = (i as u8)
                        .saturating_add(self.octave.saturating_mul(12))
                        .min(127);
                    let velocity = if pressed { 1.0 } else { 0.0 };
                    return Some(SimEvent::Note { note, velocity });
                }
                if !pressed {
                    return None;
                }
                self.char_event(c)?
            }
            _ => return None,
        };
        Some(event)
    }

    fn char_event(&mut self, c: char) -> Option<SimEvent> {
        let position = |keys: &[char]| keys.iter().position(|&k| k == c);
        Some(if let Some(pot) = position(&POT_UP) {
            SimEvent::Input(Input::PotStep {
                pot,
                delta: POT_STEP,
            })
        } else if let Some(pot) = position(&POT_DOWN) {
            SimEvent::Input(Input::PotStep {
                pot,
                delta: -POT_STEP,
            })
        } else if let Some(encoder) = position(&ENCODER_UP) {
            SimEvent::Input(Input::Rotary { encoder, delta: 1 })
        } else if let Some(encoder) = position(&ENCODER_DOWN) {
            SimEvent::Input(Input::Rotary { encoder, delta: -1 })
        } else {
            match c {
                '[' => SimEvent::LoopStart(-LOOP_STEP),
                ']' => SimEvent::LoopStart(LOOP_STEP),
                '\'' => SimEvent::LoopEnd(-LOOP_STEP),
                '#' => SimEvent::LoopEnd(LOOP_STEP),
                '-' => {
                    self.octave = self.octave.saturating_sub(1);
                    return None;
                }
                '=' => {
                    self.octave = (self.octave + 1).min(10);
                    return None;
                }
                _ => return None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_keys_map_to_knobs_encoders_notes_and_buttons() {
        let mut keys = Keyboard::default();
        let mut press = |k| keys.event(k, true);
        assert_eq!(
            press(Key::Char(';')),
            Some(SimEvent::Input(Input::PotStep { pot: 5, delta: 5 }))
        );
        assert_eq!(
            press(Key::Char('b')),
            Some(SimEvent::Input(Input::PotStep { pot: 0, delta: -5 }))
        );
        assert_eq!(
            press(Key::Char('f')),
            Some(SimEvent::Input(Input::Rotary {
                encoder: 3,
                delta: 1
            }))
        );
        assert_eq!(
            press(Key::Char('z')),
            Some(SimEvent::Input(Input::Rotary {
                encoder: 0,
                delta: -1
            }))
        );
        assert_eq!(
            press(Key::Char('p')),
            Some(SimEvent::Note {
                note: 9,
                velocity: 1.0
            })
        );
        assert_eq!(
            press(Key::F(2)),
            Some(SimEvent::Input(Input::Button {
                button: 1,
                pressed: true
            }))
        );
        assert_eq!(press(Key::Char(']')), Some(SimEvent::LoopStart(0.01)));
        assert_eq!(press(Key::Escape), Some(SimEvent::Quit));
        assert_eq!(press(Key::Char('1')), None);
    }

    #[test]
    fn releases_end_notes_and_buttons_only() {
        let mut keys = Keyboard::default();
        assert_eq!(
            keys.event(Key::Char('q'), false),
            Some(SimEvent::Note {
                note: 0,
                velocity: 0.0
            })
        );
        assert_eq!(
            keys.event(Key::F(1), false),
            Some(SimEvent::Input(Input::Button {
                button: 0,
                pressed: false
            }))
        );
        assert_eq!(keys.event(Key::Char('g'), false), None);
        assert_eq!(keys.event(Key::F(5), false), None);
    }

    #[test]
    fn the_learn_key_takes_each_control_in_turn() {
        let mut keys = Keyboard::default();
        let learned: Vec<_> = (0..=Control::ALL.len())
            .map(|_| keys.event(Key::F(5), true))
            .collect();
        let learn = |control| Some(SimEvent::Input(Input::Learn(control)));
        assert_eq!(learned[0], learn(Control::Position));
        assert_eq!(learned[7], learn(Control::GridY));
        assert_eq!(learned[11], learn(Control::Corner(3)));
        assert_eq!(learned[12], learn(Control::Position), "and round again");
    }

    #[test]
    fn octave_keys_shift_the_note_keys() {
        let mut keys = Keyboard::default();
        for _ in 0..5 {
            keys.event(Key::Char('='), true);
        }
        assert_eq!(
            keys.event(Key::Char('w'), true),
            Some(SimEvent::Note {
                note: 61,
                velocity: 1.0
            })
        );
        keys.event(Key::Char('-'), true);
        assert_eq!(
            keys.event(Key::Char('q'), true),
            Some(SimEvent::Note {
                note: 48,
                velocity: 1.0
            })
        );
    }
}
