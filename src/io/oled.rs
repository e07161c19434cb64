//! The SSD1306 128×64 OLED on I2C: the reset pulse, the original's init sequence, and pushing
//! frames as eight pages, only the pages that changed, each one re-addressed so a failed write
//! can never leave the picture shifted (§15.30). It takes finished pages and never draws; the
//! controller's command set lives in `Command` and reaches the bus through one `send`.
//!
//! The `ssd1306` crate is not used: its init differs from the original's (it switches the display
//! on, sets the contrast through the pre-charge, and adds a scroll command), and its flush
//! addresses one dirty rectangle once and forgets it even when the write fails.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;

use crate::ui::{Pages, PAGES, WIDTH};

/// First byte of a write that carries commands.
const COMMAND_STREAM: u8 = 0x00;
/// First byte of a write that carries display RAM data.
const DATA_STREAM: u8 = 0x40;
const LAST_COLUMN: u8 = (WIDTH - 1) as u8;
const LAST_PAGE: u8 = (PAGES - 1) as u8;
const RESET_HOLD_US: u32 = 1000;
const RESET_RECOVERY_US: u32 = 1000;

/// The controller commands this driver uses, with their arguments in the units of the data
/// sheet; `encode` turns them into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    DisplayOn(bool),
    ClockDivide {
        ratio: u8,
        oscillator: u8,
    },
    MultiplexRatio {
        rows: u8,
    },
    DisplayOffset(u8),
    StartLine(u8),
    ChargePump(bool),
    HorizontalAddressing,
    /// Column 127 drives SEG0.
    SegmentRemap(bool),
    /// COM63 is scanned first.
    ComScanReversed(bool),
    ComPins {
        alternative: bool,
        left_right_remap: bool,
    },
    PreCharge {
        phase1: u8,
        phase2: u8,
    },
    VcomhDeselect(u8),
    /// The display shows RAM (rather than all pixels on).
    FollowRam,
    Inverted(bool),
    Contrast(u8),
    ColumnRange {
        first: u8,
        last: u8,
    },
    PageRange {
        first: u8,
        last: u8,
    },
    /// Does nothing: a write that only asks whether the panel is there.
    Nop,
}

impl Command {
    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Command::DisplayOn(on) => out.push(if on { 0xAF } else { 0xAE }),
            Command::ClockDivide { ratio, oscillator } => {
                out.extend([0xD5, (oscillator << 4) | (ratio.saturating_sub(1) & 0x0F)])
            }
            Command::MultiplexRatio { rows } => out.extend([0xA8, rows.saturating_sub(1)]),
            Command::DisplayOffset(rows) => out.extend([0xD3, rows]),
            Command::StartLine(line) => out.push(0x40 | (line & 0x3F)),
            Command::ChargePump(on) => out.extend([0x8D, if on { 0x14 } else { 0x10 }]),
            Command::HorizontalAddressing => out.extend([0x20, 0x00]),
            Command::SegmentRemap(remapped) => out.push(0xA0 | u8::from(remapped)),
            Command::ComScanReversed(reversed) => out.push(if reversed { 0xC8 } else { 0xC0 }),
            Command::ComPins {
                alternative,
                left_right_remap,
            } => out.extend([
                0xDA,
                0x02 | (u8::from(alternative) << 4) | (u8::from(left_right_remap) << 5),
            ]),
            Command::PreCharge { phase1, phase2 } => {
                out.extend([0xD9, (phase2 << 4) | (phase1 & 0x0F)])
            }
            Command::VcomhDeselect(level) => out.extend([0xDB, level]),
            Command::FollowRam => out.push(0xA4),
            Command::Inverted(inverted) => out.push(0xA6 | u8::from(inverted)),
            Command::Contrast(level) => out.extend([0x81, level]),
            Command::ColumnRange { first, last } => out.extend([0x21, first, last]),
            Command::PageRange { first, last } => out.extend([0x22, first, last]),
            Command::Nop => out.push(0xE3),
        }
    }
}

/// The original's init, write by write (spec §7). The display stays off until a whole frame is
/// in its RAM, so the panel never shows power-on noise.
const INIT_WRITES: [&[Command]; 3] = [
    &[
        Command::DisplayOn(false),
        Command::ClockDivide {
            ratio: 1,
            oscillator: 8,
        },
        Command::MultiplexRatio { rows: 64 },
        Command::DisplayOffset(0),
        Command::StartLine(0),
        Command::ChargePump(true),
        Command::HorizontalAddressing,
        Command::SegmentRemap(true),
        Command::ComScanReversed(true),
        Command::ComPins {
            alternative: true,
            left_right_remap: false,
        },
        Command::PreCharge {
            phase1: 1,
            phase2: 15,
        },
        Command::VcomhDeselect(0x40),
        Command::FollowRam,
        Command::Inverted(false),
    ],
    &[Command::Contrast(0xCF)],
    &[
        Command::ColumnRange {
            first: 0,
            last: LAST_COLUMN,
        },
        Command::PageRange {
            first: 0,
            last: LAST_PAGE,
        },
    ],
];

/// Why a write to the panel failed. Nothing is lost: what was not written goes out with the
/// next flush.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OledError {
    #[error(
        "the OLED at I2C address {address:#04x} did not take its init commands ({detail}); \
         check the wiring and the address in the board file"
    )]
    Init { address: u8, detail: String },
    #[error(
        "writing page {page} to the OLED at I2C address {address:#04x} failed ({detail}); it is \
         sent again with the next frame"
    )]
    Page {
        address: u8,
        page: usize,
        detail: String,
    },
    #[error("switching on the OLED at I2C address {address:#04x} failed ({detail})")]
    DisplayOn { address: u8, detail: String },
    #[error(
        "the OLED at I2C address {address:#04x} does not answer ({detail}); check the wiring and \
         the address in the board file"
    )]
    NoAnswer { address: u8, detail: String },
}

/// Driver of an SSD1306 at `address` on an I2C bus.
pub struct Oled<I2C> {
    i2c: I2C,
    address: u8,
    initialised: bool,
    display_on: bool,
    /// What each page of the panel's RAM holds, where that is known for sure.
    shown: [Option<[u8; WIDTH]>; PAGES],
    /// Reused for every write, so a frame costs no allocation.
    write_buffer: Vec<u8>,
}

impl<I2C: I2c> Oled<I2C> {
    pub fn new(i2c: I2C, address: u8) -> Self {
        Self {
            i2c,
            address,
            initialised: false,
            display_on: false,
            shown: [None; PAGES],
            write_buffer: Vec::with_capacity(1 + WIDTH),
        }
    }

    /// Sends the init sequence (display off). `flush` does this itself the first time; calling
    /// it early only tells sooner whether the panel answers.
    pub fn init(&mut self) -> Result<(), OledError> {
        self.initialised = false;
        self.display_on = false;
        self.shown = [None; PAGES];
        for commands in INIT_WRITES {
            self.send(commands).map_err(|error| OledError::Init {
                address: self.address,
                detail: format!("{error:?}"),
            })?;
        }
        self.initialised = true;
        Ok(())
    }

    /// Asks whether the panel answers, with a command that changes nothing on it (so a check
    /// can run beside the instrument without disturbing its screen).
    pub fn probe(&mut self) -> Result<(), OledError> {
        self.send(&[Command::Nop])
            .map_err(|error| OledError::NoAnswer {
                address: self.address,
                detail: format!("{error:?}"),
            })
    }

    /// Shows `pages`: sends each page that differs from what the panel holds (all of them the
    /// first time), then switches the display on once the first whole frame is there. Returns
    /// how many pages went out. On a failed write the remaining pages wait for the next flush.
    pub fn flush(&mut self, pages: &Pages) -> Result<usize, OledError> {
        if !self.initialised {
            self.init()?;
        }
        let mut sent = 0;
        for (page, data) in pages.iter().enumerate() {
            if self.shown[page].as_ref() == Some(data) {
                continue;
            }
            // Until this write is known to have landed, the page's content is unknown.
            self.shown[page] = None;
            self.write_page(page, data)
                .map_err(|error| OledError::Page {
                    address: self.address,
                    page,
                    detail: format!("{error:?}"),
                })?;
            self.shown[page] = Some(*data);
            sent += 1;
        }
        if !self.display_on {
            self.send(&[Command::DisplayOn(true)])
                .map_err(|error| OledError::DisplayOn {
                    address: self.address,
                    detail: format!("{error:?}"),
                })?;
            self.display_on = true;
        }
        Ok(sent)
    }

    /// Points the controller at the start of `page` (a window of that page alone, so even a
    /// write that runs long stays on it) and writes the page's 128 bytes.
    fn write_page(&mut self, page: usize, data: &[u8; WIDTH]) -> Result<(), I2C::Error> {
        let page_number = page as u8;
        self.send(&[
            Command::ColumnRange {
                first: 0,
                last: LAST_COLUMN,
            },
            Command::PageRange {
                first: page_number,
                last: page_number,
            },
        ])?;
        self.write_buffer.clear();
        self.write_buffer.push(DATA_STREAM);
        self.write_buffer.extend_from_slice(data);
        self.i2c.write(self.address, &self.write_buffer)
    }

    /// Sends `commands` as one write.
    fn send(&mut self, commands: &[Command]) -> Result<(), I2C::Error> {
        self.write_buffer.clear();
        self.write_buffer.push(COMMAND_STREAM);
        for command in commands {
            command.encode(&mut self.write_buffer);
        }
        self.i2c.write(self.address, &self.write_buffer)
    }
}

/// The hardware reset the panel needs once before its init: the reset line low for 1 ms, then
/// high, then 1 ms for the controller to wake. The original then turned the pin into an input
/// with a pull-up; an embedded-hal output pin simply stays driven high, which holds the line the
/// same way.
pub fn reset_pulse<P: OutputPin, D: DelayNs>(pin: &mut P, delay: &mut D) -> Result<(), P::Error> {
    pin.set_low()?;
    delay.delay_us(RESET_HOLD_US);
    pin.set_high()?;
    delay.delay_us(RESET_RECOVERY_US);
    Ok(())
}

/// Opens the panel at `address` on the Linux I2C bus device `bus`, after a reset pulse on GPIO
/// `reset_pin` if the board wires one. Init happens on the first flush.
#[cfg(feature = "device")]
pub fn open(
    bus: &std::path::Path,
    address: u8,
    reset_pin: Option<u8>,
) -> Result<Oled<linux_embedded_hal::I2cdev>, super::OpenError> {
    let i2c = super::open_i2c(bus)?;
    if let Some(pin) = reset_pin {
        let gpio = rppal::gpio::Gpio::new().map_err(super::OpenError::Gpio)?;
        let mut reset = super::claim_pin(&gpio, pin, "OLED reset")?.into_output_low();
        // Keep the line driven high after this handle is gone; released, it would float and
        // could reset the panel.
        reset.set_reset_on_drop(false);
        let Ok(()) = reset_pulse(&mut reset, &mut linux_embedded_hal::Delay);
    }
    Ok(Oled::new(i2c, address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
    use std::cell::RefCell;
    use std::rc::Rc;

    const ADDRESS: u8 = 0x3D;

    /// The init writes exactly as spec §7 lists them.
    fn init_transactions() -> Vec<Transaction> {
        vec![
            Transaction::write(
                ADDRESS,
                vec![
                    0x00, 0xAE, 0xD5, 0x80, 0xA8, 0x3F, 0xD3, 0x00, 0x40, 0x8D, 0x14, 0x20, 0x00,
                    0xA1, 0xC8, 0xDA, 0x12, 0xD9, 0xF1, 0xDB, 0x40, 0xA4, 0xA6,
                ],
            ),
            Transaction::write(ADDRESS, vec![0x00, 0x81, 0xCF]),
            Transaction::write(ADDRESS, vec![0x00, 0x21, 0x00, 0x7F, 0x22, 0x00, 0x07]),
        ]
    }

    fn page_transactions(page: u8, data: &[u8; WIDTH]) -> [Transaction; 2] {
        let mut payload = vec![0x40];
        payload.extend_from_slice(data);
        [
            Transaction::write(ADDRESS, vec![0x00, 0x21, 0x00, 0x7F, 0x22, page, page]),
            Transaction::write(ADDRESS, payload),
        ]
    }

    fn display_on() -> Transaction {
        Transaction::write(ADDRESS, vec![0x00, 0xAF])
    }

    /// A frame whose pages all differ, so a page sent in the wrong slot would show.
    fn frame() -> Pages {
        std::array::from_fn(|page| std::array::from_fn(|x| (page * 31 + x) as u8))
    }

    fn first_flush_transactions(pages: &Pages) -> Vec<Transaction> {
        let mut expected = init_transactions();
        for (page, data) in pages.iter().enumerate() {
            expected.extend(page_transactions(page as u8, data));
        }
        expected.push(display_on());
        expected
    }

    #[test]
    fn init_sends_the_three_writes_of_the_original() {
        let mut i2c = Mock::new(&init_transactions());
        let mut oled = Oled::new(i2c.clone(), ADDRESS);
        oled.init().unwrap();
        i2c.done();
    }

    #[test]
    fn a_probe_is_one_no_operation_command() {
        let mut i2c = Mock::new(&[
            Transaction::write(ADDRESS, vec![0x00, 0xE3]),
            Transaction::write(ADDRESS, vec![0x00, 0xE3]).with_error(ErrorKind::Other),
        ]);
        let mut oled = Oled::new(i2c.clone(), ADDRESS);
        assert_eq!(oled.probe(), Ok(()));
        assert!(matches!(
            oled.probe(),
            Err(OledError::NoAnswer {
                address: ADDRESS,
                ..
            })
        ));
        i2c.done();
    }

    #[test]
    fn first_flush_initialises_sends_every_page_addressed_then_switches_on() {
        let pages = frame();
        let mut i2c = Mock::new(&first_flush_transactions(&pages));
        let mut oled = Oled::new(i2c.clone(), ADDRESS);
        assert_eq!(oled.flush(&pages), Ok(PAGES));
        i2c.done();
    }

    #[test]
    fn an_unchanged_frame_sends_nothing_and_one_pixel_sends_one_page() {
        let mut pages = frame();
        let mut i2c = Mock::new(&first_flush_transactions(&pages));
        let mut oled = Oled::new(i2c.clone(), ADDRESS);
        oled.flush(&pages).unwrap();

        i2c.update_expectations(&[]);
        assert_eq!(oled.flush(&pages), Ok(0));

        // Pixel (5, 42) is bit 2 of byte 5 in page 5.
        pages[5][5] ^= 1 << 2;
        i2c.update_expectations(&page_transactions(5, &pages[5]));
        assert_eq!(oled.flush(&pages), Ok(1));
        i2c.done();
    }

    #[test]
    fn a_failed_page_is_resent_with_the_pages_after_it() {
        let mut pages = frame();
        let mut i2c = Mock::new(&first_flush_transactions(&pages));
        let mut oled = Oled::new(i2c.clone(), ADDRESS);
        oled.flush(&pages).unwrap();

        pages[2][0] = 0xFF;
        pages[6][127] = 0xFF;
        let [address_2, data_2] = page_transactions(2, &pages[2]);
        i2c.update_expectations(&[address_2, data_2.with_error(ErrorKind::Bus)]);
        assert!(matches!(
            oled.flush(&pages),
            Err(OledError::Page { page: 2, .. })
        ));

        // Page 2 may hold half a write: it is re-addressed and rewritten, then page 6 follows.
        let mut retry = Vec::from(page_transactions(2, &pages[2]));
        retry.extend(page_transactions(6, &pages[6]));
        i2c.update_expectations(&retry);
        assert_eq!(oled.flush(&pages), Ok(2));
        i2c.done();
    }

    #[test]
    fn a_failed_page_is_resent_even_when_the_frame_changes_back() {
        let old = frame();
        let mut i2c = Mock::new(&first_flush_transactions(&old));
        let mut oled = Oled::new(i2c.clone(), ADDRESS);
        oled.flush(&old).unwrap();

        let mut new = old;
        new[4].fill(0);
        let [address_4, data_4] = page_transactions(4, &new[4]);
        i2c.update_expectations(&[address_4, data_4.with_error(ErrorKind::Bus)]);
        assert!(oled.flush(&new).is_err());

        // The panel's page 4 is neither old nor new now, so going back to the old frame must
        // still write it.
        i2c.update_expectations(&page_transactions(4, &old[4]));
        assert_eq!(oled.flush(&old), Ok(1));
        i2c.done();
    }

    #[test]
    fn the_display_waits_for_a_whole_frame_before_switching_on() {
        let pages = frame();
        let mut expected = init_transactions();
        let [address_0, _] = page_transactions(0, &pages[0]);
        expected.push(address_0.with_error(ErrorKind::Other));
        let mut i2c = Mock::new(&expected);
        let mut oled = Oled::new(i2c.clone(), ADDRESS);
        assert!(matches!(
            oled.flush(&pages),
            Err(OledError::Page { page: 0, .. })
        ));

        // No second init: the panel kept its settings, only the frame is missing.
        let mut second = Vec::new();
        for (page, data) in pages.iter().enumerate() {
            second.extend(page_transactions(page as u8, data));
        }
        second.push(display_on().with_error(ErrorKind::Other));
        i2c.update_expectations(&second);
        assert!(matches!(
            oled.flush(&pages),
            Err(OledError::DisplayOn { .. })
        ));

        i2c.update_expectations(&[display_on()]);
        assert_eq!(oled.flush(&pages), Ok(0));
        i2c.done();
    }

    #[test]
    fn failed_init_is_retried_by_the_next_flush() {
        let pages = frame();
        let failing_first_write = init_transactions().remove(0).with_error(ErrorKind::Other);
        let mut i2c = Mock::new(&[failing_first_write]);
        let mut oled = Oled::new(i2c.clone(), ADDRESS);
        let error = oled.flush(&pages).unwrap_err();
        assert!(matches!(
            error,
            OledError::Init {
                address: ADDRESS,
                ..
            }
        ));
        assert!(error.to_string().contains("0x3d"), "{error}");

        i2c.update_expectations(&first_flush_transactions(&pages));
        assert_eq!(oled.flush(&pages), Ok(PAGES));
        i2c.done();
    }

    /// Records pin levels and delays in one log, so their order shows.
    struct Recorder(Rc<RefCell<Vec<String>>>);

    impl embedded_hal::digital::ErrorType for Recorder {
        type Error = std::convert::Infallible;
    }

    impl OutputPin for Recorder {
        fn set_low(&mut self) -> Result<(), Self::Error> {
            self.0.borrow_mut().push("low".into());
            Ok(())
        }
        fn set_high(&mut self) -> Result<(), Self::Error> {
            self.0.borrow_mut().push("high".into());
            Ok(())
        }
    }

    impl DelayNs for Recorder {
        fn delay_ns(&mut self, ns: u32) {
            self.0.borrow_mut().push(format!("wait {ns} ns"));
        }
    }

    #[test]
    fn reset_pulse_drives_low_for_a_millisecond_then_high_and_waits() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut pin = Recorder(Rc::clone(&log));
        let mut delay = Recorder(Rc::clone(&log));
        let Ok(()) = reset_pulse(&mut pin, &mut delay);
        assert_eq!(
            *log.borrow(),
            ["low", "wait 1000000 ns", "high", "wait 1000000 ns"]
        );
    }
}
