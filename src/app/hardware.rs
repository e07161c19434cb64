//! The board's own controls and screen for `run`: the input microcontroller and the patch
//! buttons read on the input-poller thread, and the OLED as the session's display. Everything
//! comes from the board description; whatever is missing or does not answer is logged once and
//! the rest of the instrument keeps working. The I2C devices are opened again every 2 s until
//! they open: at boot the bus's driver may be loaded after the instrument started.

use std::sync::mpsc::Sender;
use std::time::Duration;

use super::Display;
use crate::board::Board;
use crate::input::Input;
use crate::io::{self, buttons, mcu, oled, Poller};
use crate::outage::Outage;
use crate::ui::Pages;

/// How long a silent OLED (or an I2C bus that is not there yet) is left alone before it is
/// tried again, so that a missing panel does not fill the shared bus with failed writes 30 times
/// a second.
const I2C_RETRY: Duration = Duration::from_secs(2);

/// The OLED on the board's I2C bus, opened at the first frame (and every 2 s until it opens), or
/// `None` when the board has none.
pub fn oled_display(board: &Board) -> Option<Box<dyn Display>> {
    let i2c = board.i2c.clone()?;
    let reset = board.gpio.as_ref().and_then(|gpio| gpio.oled_reset);
    Some(Box::new(OledDisplay {
        panel: io::Opening::new("screen", I2C_RETRY, move || {
            oled::open(&i2c.device, i2c.oled_address, reset)
        }),
        outage: Outage::new("the OLED", I2C_RETRY),
    }))
}

/// Starts polling the microcontroller (opened on the poller thread, again every 2 s until it
/// opens) and the patch buttons into `inputs`. `None` (logged) when the board has neither.
pub fn start_inputs(board: &Board, inputs: Sender<Input>) -> Option<Poller> {
    let mcu = board.i2c.clone().map(|i2c| {
        io::Opening::new("touch pad, encoders or knobs", I2C_RETRY, move || {
            mcu::open(&i2c.device, i2c.mcu_address)
        })
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

struct OledDisplay<I2C, F> {
    panel: io::Opening<oled::Oled<I2C>, F>,
    outage: Outage,
}

impl<I2C, E, F> Display for OledDisplay<I2C, F>
where
    I2C: embedded_hal::i2c::I2c,
    E: std::fmt::Display,
    F: FnMut() -> Result<oled::Oled<I2C>, E>,
{
    fn show(&mut self, pages: &Pages, _status: &str) -> Result<(), String> {
        if !self.outage.due() {
            return Ok(());
        }
        let Some(panel) = self.panel.get() else {
            return Ok(());
        };
        match panel.flush(pages) {
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
