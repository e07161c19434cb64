//! The four patch buttons on GPIO: reading the pins at the poll rate, debouncing, and reporting
//! presses and releases. Which level means pressed and which pull the pins get come from the
//! board file. It reports edges only and never interprets them (short and long presses, patch
//! load and save belong to the controller); it does not depend on the microcontroller answering
//! (§15.22), and the pulls go through the GPIO driver's own bias API (§15.31).

use embedded_hal::digital::InputPin;

use super::Polled;
use crate::board::Level;
use crate::input::{Input, BUTTONS};

/// Equal readings in a row needed before a button changes state: contact bounce settles well
/// within one 10 ms poll, so two are plenty and add at most one poll of latency.
const DEBOUNCE_READS: u8 = 2;

/// The patch buttons, in slot order.
pub struct Buttons<P> {
    pins: [P; BUTTONS],
    active: Level,
    debouncers: [Debouncer; BUTTONS],
    read_failure_logged: bool,
}

impl<P: InputPin> Buttons<P> {
    /// All buttons start released; one held at start is reported once it has read pressed
    /// `DEBOUNCE_READS` times.
    pub fn new(pins: [P; BUTTONS], active: Level) -> Self {
        Self {
            pins,
            active,
            debouncers: Default::default(),
            read_failure_logged: false,
        }
    }
}

impl<P: InputPin> Polled for Buttons<P> {
    fn poll_inputs(&mut self, emit: &mut dyn FnMut(Input)) {
        let pins = self.pins.iter_mut();
        for (button, (pin, debouncer)) in pins.zip(&mut self.debouncers).enumerate() {
            let high = match pin.is_high() {
                Ok(high) => high,
                Err(error) => {
                    if !self.read_failure_logged {
                        self.read_failure_logged = true;
                        tracing::warn!("reading patch button {} failed: {error:?}", button + 1);
                    }
                    continue;
                }
            };
            let pressed = self.active.matches(high);
            if let Some(pressed) = debouncer.take(pressed) {
                emit(Input::Button { button, pressed });
            }
        }
    }
}

/// One button's state, changed only by `DEBOUNCE_READS` equal readings in a row.
#[derive(Debug, Default, Clone, Copy)]
struct Debouncer {
    pressed: bool,
    latest: bool,
    /// How many readings in a row have equalled `latest`.
    repeats: u8,
}

impl Debouncer {
    /// Takes one reading; returns the new state when it changes.
    fn take(&mut self, pressed: bool) -> Option<bool> {
        if pressed == self.latest {
            self.repeats = self.repeats.saturating_add(1);
        } else {
            self.latest = pressed;
            self.repeats = 1;
        }
        if self.latest != self.pressed && self.repeats >= DEBOUNCE_READS {
            self.pressed = self.latest;
            return Some(self.pressed);
        }
        None
    }
}

/// Claims the GPIO `pins` (BCM numbers, slot order) as inputs with `pull`.
#[cfg(feature = "device")]
pub fn open(
    pins: [u8; BUTTONS],
    pull: crate::board::Pull,
    active: Level,
) -> Result<Buttons<rppal::gpio::InputPin>, super::OpenError> {
    use crate::board::Pull;
    let gpio = rppal::gpio::Gpio::new().map_err(super::OpenError::Gpio)?;
    let claim = |slot: usize, pin: u8| -> Result<rppal::gpio::InputPin, super::OpenError> {
        let pin = super::claim_pin(&gpio, pin, &format!("patch button {}", slot + 1))?;
        Ok(match pull {
            Pull::Up => pin.into_input_pullup(),
            Pull::Down => pin.into_input_pulldown(),
            Pull::None => pin.into_input(),
        })
    };
    let [first, second, third, fourth] = pins;
    let inputs = [
        claim(0, first)?,
        claim(1, second)?,
        claim(2, third)?,
        claim(3, fourth)?,
    ];
    Ok(Buttons::new(inputs, active))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::mcu::Mcu;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
    use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2cTransaction};
    use embedded_hal_mock::eh1::MockError;

    use State::{High, Low};

    /// Reads returning `levels`, one per poll.
    fn reads(levels: &[State]) -> Vec<Transaction> {
        levels
            .iter()
            .map(|&level| Transaction::get(level))
            .collect()
    }

    fn pins(reads: [Vec<Transaction>; BUTTONS]) -> [PinMock; BUTTONS] {
        reads.map(|reads| PinMock::new(&reads))
    }

    /// Polls `polls` times and returns the inputs of each poll.
    fn run<P: InputPin>(buttons: &mut Buttons<P>, polls: usize) -> Vec<Vec<Input>> {
        (0..polls)
            .map(|_| {
                let mut inputs = Vec::new();
                buttons.poll_inputs(&mut |input| inputs.push(input));
                inputs
            })
            .collect()
    }

    fn done(mut pins: [PinMock; BUTTONS]) {
        pins.iter_mut().for_each(PinMock::done);
    }

    fn press(button: usize) -> Vec<Input> {
        vec![Input::Button {
            button,
            pressed: true,
        }]
    }

    fn release(button: usize) -> Vec<Input> {
        vec![Input::Button {
            button,
            pressed: false,
        }]
    }

    #[test]
    fn active_low_press_and_release_each_need_two_equal_reads() {
        let idle = reads(&[High; 6]);
        let pressed_once = reads(&[High, Low, Low, Low, High, High]);
        let mocks = pins([idle.clone(), idle.clone(), pressed_once, idle]);
        let mut buttons = Buttons::new(mocks.clone(), Level::Low);
        assert_eq!(
            run(&mut buttons, 6),
            [vec![], vec![], press(2), vec![], vec![], release(2)]
        );
        done(mocks);
    }

    #[test]
    fn active_high_buttons_read_the_other_way() {
        let idle = reads(&[Low; 4]);
        let first = reads(&[Low, High, High, Low]);
        let fourth = reads(&[High, High, Low, Low]);
        let mocks = pins([first, idle.clone(), idle, fourth]);
        let mut buttons = Buttons::new(mocks.clone(), Level::High);
        assert_eq!(
            run(&mut buttons, 4),
            [vec![], press(3), press(0), release(3)]
        );
        done(mocks);
    }

    #[test]
    fn bounce_shorter_than_two_reads_is_ignored() {
        let idle = reads(&[High; 6]);
        let bouncing = reads(&[Low, High, Low, High, Low, High]);
        let mocks = pins([bouncing, idle.clone(), idle.clone(), idle]);
        let mut buttons = Buttons::new(mocks.clone(), Level::Low);
        assert!(run(&mut buttons, 6).iter().all(Vec::is_empty));
        done(mocks);
    }

    #[test]
    fn a_failed_read_is_not_a_reading() {
        let failed = Transaction::get(High).with_error(MockError::Io(std::io::ErrorKind::Other));
        let mut flaky = reads(&[Low, Low, High]);
        flaky.extend([failed, Transaction::get(High)]);
        let idle = reads(&[High; 5]);
        let mocks = pins([flaky, idle.clone(), idle.clone(), idle]);
        let mut buttons = Buttons::new(mocks.clone(), Level::Low);
        // The release needs two good readings; the failure between them neither counts nor
        // restarts the count.
        assert_eq!(
            run(&mut buttons, 5),
            [vec![], press(0), vec![], vec![], release(0)]
        );
        done(mocks);
    }

    /// §15.22: the original read the buttons only after a good microcontroller poll.
    #[test]
    fn buttons_work_while_the_microcontroller_is_silent() {
        let silent: Vec<I2cTransaction> = (0..3)
            .map(|_| I2cTransaction::write(0x47, vec![0x00]).with_error(ErrorKind::Other))
            .collect();
        let mut i2c = I2cMock::new(&silent);
        let idle = reads(&[High; 3]);
        let held = reads(&[Low; 3]);
        let mocks = pins([idle.clone(), held, idle.clone(), idle]);
        let mut inputs = (
            Mcu::new(i2c.clone(), 0x47),
            Buttons::new(mocks.clone(), Level::Low),
        );
        let mut seen = Vec::new();
        for _ in 0..3 {
            inputs.poll_inputs(&mut |input| seen.push(input));
        }
        assert_eq!(seen, press(1));
        i2c.done();
        done(mocks);
    }
}
