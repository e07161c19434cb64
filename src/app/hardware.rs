//! The board's own controls and screen for `run`: the input microcontroller and the patch
//! buttons read on the input-poller thread, and the OLED as the session's display. Everything
//! comes from the board description; whatever is missing or does not answer is logged once and
//! the rest of the instrument keeps working.

use std::sync::mpsc::Sender;
use std::time::Duration;

use super::Display;
use crate::board::Board;
use crate::input::Input;
use crate::io::{self, buttons, mcu, oled, Poller};
use crate::outage::Outage;
use crate::ui::Pages;

/// How long a silent OLED is left alone before it is tried again, so that a missing panel does
/// not fill the shared bus with failed writes 30 times a second.
const OLED_RETRY: Duration = Duration::from_secs(2);

/// The OLED on the board's I2C bus, or `None` (logged) when the board has none or the bus
/// cannot be opened.
pub fn oled_display(board: &Board) -> Option<Box<dyn Display>> {
    let i2c = board.i2c.as_ref()?;
    let reset = board.gpio.as_ref().and_then(|gpio| gpio.oled_reset);
    match oled::open(&i2c.device, i2c.oled_address, reset) {
        Ok(panel) => Some(Box::new(OledDisplay {
            panel,
            outage: Outage::new("the OLED", OLED_RETRY),
        })),
        Err(error) => {
            tracing::warn!("no screen: {error}");
            None
        }
    }
}

/// Starts polling the microcontroller and the patch buttons into `inputs`. `None` (logged) when
/// the board has neither or none could be opened.
pub fn start_inputs(board: &Board, inputs: Sender<Input>) -> Option<Poller> {
    let mcu = board.i2c.as_ref().and_then(|i2c| {
        mcu::open(&i2c.device, i2c.mcu_address)
            .map_err(|error| tracing::warn!("no touch pad, encoders or knobs: {error}"))
            .ok()
    });
    let buttons = board.gpio.as_ref().and_then(|gpio| {
        let patch = &gpio.patch_buttons;
        buttons::open(patch.pins, patch.pull, patch.active)
            .map_err(|error| tracing::warn!("no patch buttons: {error}"))
            .ok()
    });
    if mcu.is_none() && buttons.is_none() {
        return None;
    }
    io::spawn_poller((mcu, buttons), io::DEFAULT_POLL_RATE_HZ, inputs)
        .map_err(|error| tracing::warn!("no hardware controls: {error}"))
        .ok()
}

struct OledDisplay<I2C> {
    panel: oled::Oled<I2C>,
    outage: Outage,
}

impl<I2C: embedded_hal::i2c::I2c> Display for OledDisplay<I2C> {
    fn show(&mut self, pages: &Pages, _status: &str) -> Result<(), String> {
        if !self.outage.due() {
            return Ok(());
        }
        match self.panel.flush(pages) {
            Ok(_) => {
                self.outage.succeeded();
                Ok(())
            }
            Err(error) => {
                self.outage.failed(&error);
                Err(error.to_string())
            }
        }
    }
}
