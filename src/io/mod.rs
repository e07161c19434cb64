//! Hardware drivers for the board's controls and display: the input microcontroller and the OLED
//! on I2C, the patch buttons on GPIO, and the thread that polls the inputs at a steady rate.
//! Everything is written against embedded-hal traits, so it is tested on a desktop with mock
//! buses; the Linux buses and pins are opened only in the `open` constructors behind the
//! `device` feature. Addresses, bus paths and pin numbers always come from the caller (the board
//! file); this module never assumes a board.

pub mod buttons;
pub mod mcu;
pub mod oled;

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::input::Input;

/// The rate to poll the controls at when the board says nothing else: about three times the
/// original's screen-bound 30 Hz. A poll is about 175 bit times, so this takes under a fifth of a
/// 100 kHz bus (under a twentieth at 400 kHz) and leaves the rest to the OLED.
pub const DEFAULT_POLL_RATE_HZ: u32 = 100;

/// Poll rates the poller accepts: below 1 Hz the controls feel dead, above 1 kHz the bus is
/// busy for nothing (the microcontroller's own pot filter settles far slower).
pub const POLL_RATES_HZ: std::ops::RangeInclusive<u32> = 1..=1000;

/// A device that is read at a steady rate and reports what changed as inputs.
pub trait Polled {
    /// Reads the device once and hands every resulting input to `emit`. Failures are the
    /// device's business (counted, logged once); a failed read emits nothing.
    fn poll_inputs(&mut self, emit: &mut dyn FnMut(Input));
}

/// Both devices are read on every tick, the second whether or not the first answered (so the
/// patch buttons keep working while the microcontroller is silent).
impl<A: Polled, B: Polled> Polled for (A, B) {
    fn poll_inputs(&mut self, emit: &mut dyn FnMut(Input)) {
        self.0.poll_inputs(emit);
        self.1.poll_inputs(emit);
    }
}

/// A device the board lacks or that could not be opened is simply not read.
impl<P: Polled> Polled for Option<P> {
    fn poll_inputs(&mut self, emit: &mut dyn FnMut(Input)) {
        if let Some(device) = self {
            device.poll_inputs(emit);
        }
    }
}

/// A device opened when it can be: tried at the first poll and again every `every` until it
/// opens, since the bus it is on may appear only after the program started (during boot, its
/// driver is loaded while the instrument already plays). The failures are logged once.
pub struct Opening<D, F> {
    device: Option<D>,
    open: F,
    what: &'static str,
    outage: crate::outage::Outage,
}

impl<D, E: std::fmt::Display, F: FnMut() -> Result<D, E>> Opening<D, F> {
    /// `what` names the device in the log ("touch pad, encoders or knobs").
    pub fn new(what: &'static str, every: Duration, open: F) -> Self {
        Opening {
            device: None,
            open,
            what,
            outage: crate::outage::Outage::new(what, every),
        }
    }

    /// The device, opened now if it is time to try.
    pub fn get(&mut self) -> Option<&mut D> {
        if self.device.is_none() && self.outage.due() {
            match (self.open)() {
                Ok(device) => {
                    self.outage.succeeded();
                    self.device = Some(device);
                }
                Err(error) => self.outage.failed(&format!("no {}: {error}", self.what)),
            }
        }
        self.device.as_mut()
    }
}

impl<D: Polled, E: std::fmt::Display, F: FnMut() -> Result<D, E>> Polled for Opening<D, F> {
    fn poll_inputs(&mut self, emit: &mut dyn FnMut(Input)) {
        if let Some(device) = self.get() {
            device.poll_inputs(emit);
        }
    }
}

/// Why the poller thread could not start.
#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error("input poll rate {rate_hz} Hz is outside the supported 1–1000 Hz")]
    Rate { rate_hz: u32 },
    #[error("cannot start the input poller thread: {0}")]
    Spawn(std::io::Error),
}

/// Why a Linux bus or pin could not be opened.
#[cfg(feature = "device")]
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "cannot open the I2C bus {}: {cause}; check the bus in the board file, that I2C is \
         enabled, and that this user may use the device",
        bus.display()
    )]
    I2cBus {
        bus: std::path::PathBuf,
        cause: linux_embedded_hal::i2cdev::linux::LinuxI2CError,
    },
    #[error("cannot open the GPIO controller: {0}; check that this user may use the GPIO device")]
    Gpio(rppal::gpio::Error),
    #[error("cannot claim GPIO {pin} for the {role}: {cause}; check the pin in the board file")]
    Pin {
        pin: u8,
        role: String,
        cause: rppal::gpio::Error,
    },
}

#[cfg(feature = "device")]
fn open_i2c(bus: &std::path::Path) -> Result<linux_embedded_hal::I2cdev, OpenError> {
    linux_embedded_hal::I2cdev::new(bus).map_err(|cause| OpenError::I2cBus {
        bus: bus.to_path_buf(),
        cause,
    })
}

/// Claims GPIO `pin` for `role` (named in the error if it is taken or does not exist).
#[cfg(feature = "device")]
fn claim_pin(gpio: &rppal::gpio::Gpio, pin: u8, role: &str) -> Result<rppal::gpio::Pin, OpenError> {
    gpio.get(pin).map_err(|cause| OpenError::Pin {
        pin,
        role: role.to_owned(),
        cause,
    })
}

/// Handle of a running poller thread. `stop` (or dropping the handle) ends the thread within one
/// poll and waits for it.
pub struct Poller {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    /// Stops the thread and waits until it has finished its current poll.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Polls `device` on its own thread `rate_hz` times a second and sends every input to `sink`.
/// The schedule is drift-free (tick `k` is due at `start + k/rate`), independent of the screen
/// rate; ticks missed while a poll was slow are skipped rather than bunched. The thread ends when
/// the handle is stopped or dropped, or when the receiving end of `sink` is gone.
pub fn spawn_poller<D>(
    mut device: D,
    rate_hz: u32,
    sink: Sender<Input>,
) -> Result<Poller, PollerError>
where
    D: Polled + Send + 'static,
{
    if !POLL_RATES_HZ.contains(&rate_hz) {
        return Err(PollerError::Rate { rate_hz });
    }
    let period = Duration::from_secs(1) / rate_hz;
    let (stop, stop_requested) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("input-poller".into())
        .spawn(move || {
            let mut ticker = Ticker::new(period, Instant::now());
            loop {
                let mut receiver_gone = false;
                device.poll_inputs(&mut |input| receiver_gone |= sink.send(input).is_err());
                if receiver_gone {
                    return;
                }
                let deadline = ticker.next_after(Instant::now());
                let wait = deadline.saturating_duration_since(Instant::now());
                // The stop channel doubles as the sleep, so a stop request wakes the thread at once.
                match stop_requested.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })
        .map_err(PollerError::Spawn)?;
    Ok(Poller {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Deadlines on the fixed grid `start + k·period`.
struct Ticker {
    period: Duration,
    due: Instant,
}

impl Ticker {
    fn new(period: Duration, start: Instant) -> Self {
        Self { period, due: start }
    }

    /// The first grid point after the one just served that is still ahead of `now`: a late
    /// poll shortens the next wait instead of shifting the grid, and ticks already past are
    /// dropped so a stall is not followed by a burst of polls.
    fn next_after(&mut self, now: Instant) -> Instant {
        self.due += self.period;
        if self.due <= now {
            let period_ns = self.period.as_nanos();
            let into_period_ns = (now - self.due).as_nanos() % period_ns;
            let to_next_ns = u64::try_from(period_ns - into_period_ns).unwrap_or(u64::MAX);
            self.due = now + Duration::from_nanos(to_next_ns);
        }
        self.due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, TryRecvError};

    #[test]
    fn ticker_keeps_to_its_grid_when_polls_run_late() {
        let start = Instant::now();
        let period = Duration::from_millis(10);
        let mut ticker = Ticker::new(period, start);
        // A poll that finished 3 ms into its period waits only 7 ms for the next.
        assert_eq!(
            ticker.next_after(start + Duration::from_millis(3)),
            start + period
        );
        assert_eq!(
            ticker.next_after(start + Duration::from_millis(19)),
            start + 2 * period
        );
    }

    #[test]
    fn ticker_skips_ticks_missed_during_a_stall() {
        let start = Instant::now();
        let period = Duration::from_millis(10);
        let mut ticker = Ticker::new(period, start);
        // Stalled until 47 ms: ticks at 10–40 ms are gone, the next is on the grid at 50 ms.
        assert_eq!(
            ticker.next_after(start + Duration::from_millis(47)),
            start + Duration::from_millis(50)
        );
        // A stall ending exactly on a grid point does not poll twice at that instant.
        assert_eq!(
            ticker.next_after(start + Duration::from_millis(60)),
            start + Duration::from_millis(70)
        );
    }

    #[test]
    fn rates_outside_the_supported_range_are_refused() {
        struct Silent;
        impl Polled for Silent {
            fn poll_inputs(&mut self, _emit: &mut dyn FnMut(Input)) {}
        }
        for rate_hz in [0, 1001] {
            let (sink, _inputs) = mpsc::channel();
            let refused = spawn_poller(Silent, rate_hz, sink);
            assert!(matches!(refused, Err(PollerError::Rate { rate_hz: r }) if r == rate_hz));
        }
    }

    /// Emits the numbers 0, 1, 2, … as touch inputs, one per poll. `alive` disconnects when the
    /// device is dropped, which happens only when the poller thread has ended.
    struct Counting {
        next: u8,
        _alive: Sender<()>,
    }
    impl Polled for Counting {
        fn poll_inputs(&mut self, emit: &mut dyn FnMut(Input)) {
            emit(Input::Touch { x: self.next, y: 0 });
            self.next = self.next.wrapping_add(1);
        }
    }

    #[test]
    fn a_device_that_cannot_open_yet_is_opened_when_it_can() {
        let mut attempts = 0;
        let mut device = Opening::new("counter", Duration::ZERO, || {
            attempts += 1;
            if attempts < 3 {
                Err("cannot open the I2C bus /dev/i2c-1")
            } else {
                Ok(Counting {
                    next: 7,
                    _alive: mpsc::channel().0,
                })
            }
        });
        let mut seen = Vec::new();
        for _ in 0..4 {
            device.poll_inputs(&mut |input| seen.push(input));
        }
        // Two failed attempts emit nothing; then the device opens and is read on each poll.
        assert_eq!(
            seen,
            [Input::Touch { x: 7, y: 0 }, Input::Touch { x: 8, y: 0 }]
        );
    }

    fn counting(first: u8) -> (Counting, Receiver<()>) {
        let (alive, probe) = mpsc::channel();
        let device = Counting {
            next: first,
            _alive: alive,
        };
        (device, probe)
    }

    fn next_touch_x(inputs: &Receiver<Input>) -> u8 {
        match inputs.recv_timeout(Duration::from_secs(10)) {
            Ok(Input::Touch { x, .. }) => x,
            other => panic!("expected a touch input, got {other:?}"),
        }
    }

    #[test]
    fn poller_delivers_in_order_and_stops_cleanly() {
        let (device, probe) = counting(0);
        let (sink, inputs) = mpsc::channel();
        let poller = spawn_poller(device, 1000, sink).unwrap();
        for expected in 0..5 {
            assert_eq!(next_touch_x(&inputs), expected);
        }
        poller.stop();
        assert_eq!(probe.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn poller_ends_when_nobody_listens() {
        let (device, probe) = counting(0);
        let (sink, inputs) = mpsc::channel();
        let _poller = spawn_poller(device, 1000, sink).unwrap();
        next_touch_x(&inputs);
        drop(inputs);
        assert_eq!(
            probe.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn a_pair_polls_its_second_device_after_the_first() {
        let mut pair = (counting(7).0, counting(40).0);
        let mut seen = Vec::new();
        pair.poll_inputs(&mut |input| seen.push(input));
        assert_eq!(
            seen,
            [Input::Touch { x: 7, y: 0 }, Input::Touch { x: 40, y: 0 }]
        );
    }
}
