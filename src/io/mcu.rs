//! The input microcontroller on I2C: the snapshot-request/read exchange, the 16-byte message and
//! its checksum, the counters of failed polls, and the guard against a dead touch IC. It reports
//! what the controls say as `McuFrame`s and never interprets them (pot thresholds, encoder deltas
//! and the first-poll rule belong to the controller); a poll that fails in any way changes nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use embedded_hal::i2c::I2c;

use super::Polled;
use crate::input::{Input, McuFrame};
use crate::outage::Outage;

/// Length of one message from the microcontroller.
pub const MESSAGE_LEN: usize = 16;
/// Touch coordinate meaning "no touch on this axis".
pub const NO_TOUCH: u8 = 0xFF;

const CHECKSUM_SEED: u32 = 0xAA55_AA55;
/// Any write makes the microcontroller snapshot its inputs into its transmit buffer; the value is
/// ignored, and the original sent 0.
const SNAPSHOT_REQUEST: [u8; 1] = [0x00];
/// Polls in a row an axis may report a coordinate while the other reports no touch before it is
/// taken for a dead touch IC: about a second at 100 Hz. A real finger lights both axes within a
/// few polls.
const LONE_AXIS_POLLS: u32 = 100;
const AXIS_NAMES: [&str; 2] = ["X", "Y"];

/// A message whose checksum word does not match its first twelve bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("checksum in bytes 12–15 is {reported:#010x}, bytes 0–11 give {computed:#010x}")]
pub struct ChecksumMismatch {
    pub reported: u32,
    pub computed: u32,
}

/// Why one poll produced no frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    #[error(
        "the input microcontroller at I2C address {address:#04x} did not take the snapshot \
         request ({detail}); check the wiring and the address in the board file"
    )]
    Request { address: u8, detail: String },
    #[error(
        "reading the {MESSAGE_LEN}-byte message from the input microcontroller at I2C address \
         {address:#04x} failed ({detail})"
    )]
    Read { address: u8, detail: String },
    #[error("the input microcontroller at I2C address {address:#04x} sent a corrupt message: {mismatch}")]
    Corrupt {
        address: u8,
        mismatch: ChecksumMismatch,
    },
}

impl PollError {
    fn is_bus_failure(&self) -> bool {
        !matches!(self, PollError::Corrupt { .. })
    }
}

/// Poll counts since the driver was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct McuStats {
    /// Polls attempted, good or not.
    pub polls: u64,
    /// Polls dropped because the message's checksum was wrong.
    pub bad_checksums: u64,
    /// Polls dropped because the write or the read failed on the bus.
    pub bus_errors: u64,
}

/// A shareable view of a driver's counters, readable from any thread while the poller owns the
/// driver.
#[derive(Debug, Clone, Default)]
pub struct McuCounters(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    polls: AtomicU64,
    bad_checksums: AtomicU64,
    bus_errors: AtomicU64,
}

impl McuCounters {
    pub fn snapshot(&self) -> McuStats {
        McuStats {
            polls: self.0.polls.load(Ordering::Relaxed),
            bad_checksums: self.0.bad_checksums.load(Ordering::Relaxed),
            bus_errors: self.0.bus_errors.load(Ordering::Relaxed),
        }
    }

    fn count<T>(&self, outcome: &Result<T, PollError>) {
        self.0.polls.fetch_add(1, Ordering::Relaxed);
        let failures = match outcome {
            Ok(_) => return,
            Err(error) if error.is_bus_failure() => &self.0.bus_errors,
            Err(_) => &self.0.bad_checksums,
        };
        failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// Checks a message and splits it into its fields, exactly as sent (no touch filtering).
pub fn decode(message: &[u8; MESSAGE_LEN]) -> Result<McuFrame, ChecksumMismatch> {
    let [x, y, r0, r1, r2, r3, p0, p1, p2, p3, p4, p5, c0, c1, c2, c3] = *message;
    let computed = [[x, y, r0, r1], [r2, r3, p0, p1], [p2, p3, p4, p5]]
        .into_iter()
        .map(u32::from_le_bytes)
        .fold(CHECKSUM_SEED, u32::wrapping_add);
    let reported = u32::from_le_bytes([c0, c1, c2, c3]);
    if computed != reported {
        return Err(ChecksumMismatch { reported, computed });
    }
    Ok(McuFrame {
        touch: [x, y],
        rotary: [r0, r1, r2, r3],
        pots: [p0, p1, p2, p3, p4, p5],
    })
}

/// Driver of the input microcontroller at `address` on an I2C bus.
pub struct Mcu<I2C> {
    i2c: I2C,
    address: u8,
    counters: McuCounters,
    touch: TouchGuard,
    /// Bus failures since the last good poll.
    outage: Outage,
    corruption_logged: bool,
}

impl<I2C: I2c> Mcu<I2C> {
    pub fn new(i2c: I2C, address: u8) -> Self {
        Self {
            i2c,
            address,
            counters: McuCounters::default(),
            touch: TouchGuard::default(),
            // Polling goes on at the poller's rate, which the app sets to the default.
            outage: Outage::new(
                "the input microcontroller",
                Duration::from_secs(1) / super::DEFAULT_POLL_RATE_HZ,
            ),
            corruption_logged: false,
        }
    }

    /// The counters of this driver, to keep before the driver moves to the poller thread.
    pub fn counters(&self) -> McuCounters {
        self.counters.clone()
    }

    /// One poll: the snapshot request and the read, as two separate transactions. The touch of
    /// an axis whose IC looks dead (§15.32) comes back as `NO_TOUCH`.
    pub fn poll(&mut self) -> Result<McuFrame, PollError> {
        let outcome = self.exchange();
        self.counters.count(&outcome);
        let frame = outcome?;
        Ok(McuFrame {
            touch: self.touch.filter(frame.touch),
            ..frame
        })
    }

    fn exchange(&mut self) -> Result<McuFrame, PollError> {
        let address = self.address;
        self.i2c
            .write(address, &SNAPSHOT_REQUEST)
            .map_err(|error| PollError::Request {
                address,
                detail: format!("{error:?}"),
            })?;
        let mut message = [0; MESSAGE_LEN];
        self.i2c
            .read(address, &mut message)
            .map_err(|error| PollError::Read {
                address,
                detail: format!("{error:?}"),
            })?;
        decode(&message).map_err(|mismatch| PollError::Corrupt { address, mismatch })
    }
}

impl<I2C: I2c> Polled for Mcu<I2C> {
    fn poll_inputs(&mut self, emit: &mut dyn FnMut(Input)) {
        match self.poll() {
            Ok(frame) => {
                self.outage.succeeded();
                emit(Input::Poll(frame));
            }
            Err(error) if error.is_bus_failure() => self.outage.failed(&error),
            Err(error) => {
                if !self.corruption_logged {
                    self.corruption_logged = true;
                    tracing::warn!("{error}; corrupt messages are dropped and counted from now on");
                }
            }
        }
    }
}

/// Hides the coordinate of a touch axis that cannot be trusted. A touch IC that never answers
/// leaves its axis at 0, a valid coordinate, forever (§15.32); a working one reports `NO_TOUCH`
/// whenever nothing touches it. So an axis is trusted only after it has reported `NO_TOUCH`, and
/// loses that trust when it holds a coordinate alone for `LONE_AXIS_POLLS` polls in a row.
#[derive(Debug, Default)]
struct TouchGuard {
    axes: [AxisTrust; 2],
}

#[derive(Debug, Default, Clone, Copy)]
struct AxisTrust {
    trusted: bool,
    /// Polls in a row with a coordinate on this axis and none on the other.
    lone_polls: u32,
}

impl TouchGuard {
    fn filter(&mut self, touch: [u8; 2]) -> [u8; 2] {
        let mut shown = touch;
        for (axis, trust) in self.axes.iter_mut().enumerate() {
            let other = 1 - axis;
            if touch[axis] == NO_TOUCH {
                *trust = AxisTrust {
                    trusted: true,
                    lone_polls: 0,
                };
            } else if touch[other] == NO_TOUCH {
                trust.lone_polls = trust.lone_polls.saturating_add(1);
                if trust.lone_polls == LONE_AXIS_POLLS {
                    trust.trusted = false;
                    tracing::warn!(
                        "touch axis {} has reported {} for {LONE_AXIS_POLLS} polls while axis {} \
                         reports no touch: its touch IC looks dead, so that axis is ignored until \
                         it reports no touch",
                        AXIS_NAMES[axis],
                        touch[axis],
                        AXIS_NAMES[other]
                    );
                }
            } else {
                trust.lone_polls = 0;
            }
            if !trust.trusted {
                shown[axis] = NO_TOUCH;
            }
        }
        shown
    }
}

/// Opens the microcontroller at `address` on the Linux I2C bus device `bus`.
#[cfg(feature = "device")]
pub fn open(
    bus: &std::path::Path,
    address: u8,
) -> Result<Mcu<linux_embedded_hal::I2cdev>, super::OpenError> {
    Ok(Mcu::new(super::open_i2c(bus)?, address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, ErrorType, NoAcknowledgeSource, Operation};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
    use std::collections::VecDeque;
    use std::sync::mpsc;
    use std::sync::Mutex;

    const ADDRESS: u8 = 0x47;

    /// Builds a message with a correct checksum (computed here independently of `decode`).
    fn message(touch: [u8; 2], rotary: [u8; 4], pots: [u8; 6]) -> [u8; MESSAGE_LEN] {
        let mut bytes = [0; MESSAGE_LEN];
        bytes[..2].copy_from_slice(&touch);
        bytes[2..6].copy_from_slice(&rotary);
        bytes[6..12].copy_from_slice(&pots);
        let mut sum = u64::from(CHECKSUM_SEED);
        for word in bytes[..12].chunks(4) {
            sum += u64::from(u32::from_le_bytes(word.try_into().unwrap()));
        }
        bytes[12..].copy_from_slice(&((sum % (1 << 32)) as u32).to_le_bytes());
        bytes
    }

    fn idle() -> [u8; MESSAGE_LEN] {
        message([NO_TOUCH; 2], [0; 4], [127; 6])
    }

    fn poll_transactions(address: u8, response: [u8; MESSAGE_LEN]) -> [Transaction; 2] {
        [
            Transaction::write(address, vec![0x00]),
            Transaction::read(address, response.to_vec()),
        ]
    }

    #[test]
    fn golden_message_decodes_field_by_field() {
        // Checksum worked out by hand: 0xAA55AA55 + 0x140A0403 + 0x3200281E + 0xFFC89664.
        let golden = [
            3, 4, 10, 20, 30, 40, 0, 50, 100, 150, 200, 255, 0xDA, 0x6C, 0x28, 0xF0,
        ];
        let frame = decode(&golden).unwrap();
        assert_eq!(
            frame,
            McuFrame {
                touch: [3, 4],
                rotary: [10, 20, 30, 40],
                pots: [0, 50, 100, 150, 200, 255],
            }
        );
    }

    #[test]
    fn checksum_wraps_modulo_two_to_the_32() {
        let mut all_ones = [0xFF; MESSAGE_LEN];
        all_ones[12..].copy_from_slice(&0xAA55_AA52_u32.to_le_bytes());
        assert!(decode(&all_ones).is_ok());
    }

    #[test]
    fn checksum_off_by_one_is_rejected() {
        let mut bytes = message([5, 6], [1, 2, 3, 4], [9; 6]);
        let good = u32::from_le_bytes(bytes[12..].try_into().unwrap());
        bytes[12..].copy_from_slice(&good.wrapping_add(1).to_le_bytes());
        assert_eq!(
            decode(&bytes),
            Err(ChecksumMismatch {
                reported: good.wrapping_add(1),
                computed: good,
            })
        );
    }

    #[test]
    fn poll_writes_one_zero_byte_then_reads_sixteen_at_the_given_address() {
        let address = 0x21;
        let sent = message([NO_TOUCH; 2], [255, 0, 1, 128], [0, 1, 2, 3, 4, 5]);
        let mut i2c = Mock::new(&poll_transactions(address, sent));
        let mut mcu = Mcu::new(i2c.clone(), address);
        assert_eq!(mcu.poll().unwrap(), decode(&sent).unwrap());
        assert_eq!(
            mcu.counters().snapshot(),
            McuStats {
                polls: 1,
                ..McuStats::default()
            }
        );
        i2c.done();
    }

    #[test]
    fn corrupt_message_is_dropped_and_counted() {
        let mut corrupt = message([2, 2], [0; 4], [0; 6]);
        corrupt[7] ^= 0x10;
        let mut expected = Vec::from(poll_transactions(ADDRESS, corrupt));
        expected.extend(poll_transactions(ADDRESS, idle()));
        let mut i2c = Mock::new(&expected);
        let mut mcu = Mcu::new(i2c.clone(), ADDRESS);
        assert!(matches!(
            mcu.poll(),
            Err(PollError::Corrupt {
                address: ADDRESS,
                ..
            })
        ));
        assert!(mcu.poll().is_ok());
        let stats = mcu.counters().snapshot();
        assert_eq!(
            (stats.polls, stats.bad_checksums, stats.bus_errors),
            (2, 1, 0)
        );
        i2c.done();
    }

    #[test]
    fn device_gone_mid_read_reads_as_corrupt() {
        // A slave that stops driving the bus half way leaves SDA high: the rest reads as 0xFF.
        let mut truncated = idle();
        truncated[8..].fill(0xFF);
        let mut i2c = Mock::new(&poll_transactions(ADDRESS, truncated));
        let mut mcu = Mcu::new(i2c.clone(), ADDRESS);
        assert!(matches!(mcu.poll(), Err(PollError::Corrupt { .. })));
        assert_eq!(mcu.counters().snapshot().bad_checksums, 1);
        i2c.done();
    }

    #[test]
    fn failed_read_is_a_bus_error_and_the_next_poll_recovers() {
        // The kernel reports a read that ended early as a failed transfer.
        let mut expected = vec![
            Transaction::write(ADDRESS, vec![0x00]),
            Transaction::read(ADDRESS, vec![0; MESSAGE_LEN]).with_error(ErrorKind::Bus),
        ];
        expected.extend(poll_transactions(ADDRESS, idle()));
        let mut i2c = Mock::new(&expected);
        let mut mcu = Mcu::new(i2c.clone(), ADDRESS);
        assert!(matches!(mcu.poll(), Err(PollError::Read { .. })));
        assert_eq!(mcu.poll().unwrap(), decode(&idle()).unwrap());
        let stats = mcu.counters().snapshot();
        assert_eq!(
            (stats.polls, stats.bad_checksums, stats.bus_errors),
            (2, 0, 1)
        );
        i2c.done();
    }

    #[test]
    fn unacknowledged_request_skips_the_read() {
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut i2c = Mock::new(&[Transaction::write(ADDRESS, vec![0x00]).with_error(nack)]);
        let mut mcu = Mcu::new(i2c.clone(), ADDRESS);
        let error = mcu.poll().unwrap_err();
        assert!(matches!(
            error,
            PollError::Request {
                address: ADDRESS,
                ..
            }
        ));
        assert!(error.to_string().contains("0x47"), "{error}");
        assert_eq!(mcu.counters().snapshot().bus_errors, 1);
        i2c.done();
    }

    #[test]
    fn only_good_polls_become_inputs() {
        let mut corrupt = idle();
        corrupt[0] = 0;
        let good = message([NO_TOUCH; 2], [7, 0, 0, 0], [127; 6]);
        let mut expected =
            vec![Transaction::write(ADDRESS, vec![0x00]).with_error(ErrorKind::Other)];
        expected.extend(poll_transactions(ADDRESS, corrupt));
        expected.extend(poll_transactions(ADDRESS, good));
        let mut i2c = Mock::new(&expected);
        let mut mcu = Mcu::new(i2c.clone(), ADDRESS);
        let mut inputs = Vec::new();
        for _ in 0..3 {
            mcu.poll_inputs(&mut |input| inputs.push(input));
        }
        assert_eq!(inputs, [Input::Poll(decode(&good).unwrap())]);
        i2c.done();
    }

    #[test]
    fn a_silent_microcontroller_is_logged_when_it_stops_and_when_it_answers_again() {
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut expected = vec![Transaction::write(ADDRESS, vec![0x00]).with_error(nack); 3];
        expected.extend(poll_transactions(ADDRESS, idle()));
        let mut i2c = Mock::new(&expected);
        let mut mcu = Mcu::new(i2c.clone(), ADDRESS);
        let ((), lines) = crate::logging::capture(|| {
            for _ in 0..4 {
                mcu.poll_inputs(&mut |_| {});
            }
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("WARN the input microcontroller at I2C address 0x47 did not")
                && lines[0].ends_with("; trying again every 10 ms"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("INFO the input microcontroller works now, after 3 failed"),
            "{lines:?}"
        );
        i2c.done();
    }

    fn touches(guard: &mut TouchGuard, touch: [u8; 2], polls: u32) -> [u8; 2] {
        (0..polls).fold(touch, |_, _| guard.filter(touch))
    }

    #[test]
    fn a_touch_axis_that_never_reported_no_touch_is_ignored() {
        // Axis Y's IC is dead: it reads 0 whatever happens, and X works.
        let mut guard = TouchGuard::default();
        assert_eq!(guard.filter([NO_TOUCH, 0]), [NO_TOUCH, NO_TOUCH]);
        assert_eq!(guard.filter([4, 0]), [4, NO_TOUCH]);
        // A healthy pair is trusted once both axes have shown no touch.
        let mut guard = TouchGuard::default();
        guard.filter([NO_TOUCH; 2]);
        assert_eq!(guard.filter([4, 0]), [4, 0]);
    }

    #[test]
    fn a_touch_axis_stuck_alone_loses_trust_until_it_reports_no_touch() {
        let mut guard = TouchGuard::default();
        guard.filter([NO_TOUCH; 2]);
        // Y dies holding 6: alone it is still believed for a while (a finger may light one axis
        // first), then dropped.
        assert_eq!(
            touches(&mut guard, [NO_TOUCH, 6], LONE_AXIS_POLLS - 1),
            [NO_TOUCH, 6]
        );
        assert_eq!(guard.filter([NO_TOUCH, 6]), [NO_TOUCH, NO_TOUCH]);
        assert_eq!(guard.filter([2, 6]), [2, NO_TOUCH]);
        // It comes back to life.
        guard.filter([NO_TOUCH; 2]);
        assert_eq!(guard.filter([2, 6]), [2, 6]);
    }

    #[test]
    fn touching_both_axes_never_costs_trust() {
        let mut guard = TouchGuard::default();
        guard.filter([NO_TOUCH; 2]);
        assert_eq!(touches(&mut guard, [3, 9], 3 * LONE_AXIS_POLLS), [3, 9]);
        // Short lone spells separated by real touches do not add up.
        for _ in 0..3 {
            assert_eq!(
                touches(&mut guard, [3, NO_TOUCH], LONE_AXIS_POLLS - 1),
                [3, NO_TOUCH]
            );
            guard.filter([3, 9]);
        }
        assert_eq!(guard.filter([3, 9]), [3, 9]);
    }

    /// A bus that answers each poll with the next scripted reply, then with `idle()` forever, and
    /// counts the transactions it saw.
    struct ScriptedBus {
        replies: VecDeque<Result<[u8; MESSAGE_LEN], ErrorKind>>,
        transactions: Arc<Mutex<Vec<(u8, &'static str)>>>,
    }

    impl ErrorType for ScriptedBus {
        type Error = ErrorKind;
    }

    impl I2c for ScriptedBus {
        fn transaction(
            &mut self,
            address: u8,
            operations: &mut [Operation<'_>],
        ) -> Result<(), ErrorKind> {
            for operation in operations {
                match operation {
                    Operation::Write(bytes) => {
                        assert_eq!(*bytes, &SNAPSHOT_REQUEST);
                        self.transactions.lock().unwrap().push((address, "write"));
                    }
                    Operation::Read(buffer) => {
                        self.transactions.lock().unwrap().push((address, "read"));
                        let reply = self.replies.pop_front().unwrap_or(Ok(idle()));
                        buffer.copy_from_slice(&reply?);
                    }
                }
            }
            Ok(())
        }
    }

    #[test]
    fn poller_thread_sends_good_frames_counts_bad_ones_and_stops() {
        let first = message([NO_TOUCH; 2], [1, 0, 0, 0], [10; 6]);
        let second = message([NO_TOUCH; 2], [2, 0, 0, 0], [20; 6]);
        let mut corrupt = second;
        corrupt[15] ^= 0x80;
        let transactions = Arc::new(Mutex::new(Vec::new()));
        let bus = ScriptedBus {
            replies: VecDeque::from([Ok(first), Err(ErrorKind::Bus), Ok(corrupt), Ok(second)]),
            transactions: Arc::clone(&transactions),
        };
        let mcu = Mcu::new(bus, ADDRESS);
        let counters = mcu.counters();
        let (sink, inputs) = mpsc::channel();
        let poller = super::super::spawn_poller(mcu, 1000, sink).unwrap();
        let wait = Duration::from_secs(10);
        assert_eq!(
            inputs.recv_timeout(wait),
            Ok(Input::Poll(decode(&first).unwrap()))
        );
        assert_eq!(
            inputs.recv_timeout(wait),
            Ok(Input::Poll(decode(&second).unwrap()))
        );
        poller.stop();
        let stats = counters.snapshot();
        assert_eq!((stats.bus_errors, stats.bad_checksums), (1, 1));
        assert!(stats.polls >= 4, "{stats:?}");
        let seen = transactions.lock().unwrap();
        assert_eq!(seen.len() as u64, 2 * stats.polls);
        assert!(seen
            .chunks(2)
            .all(|pair| pair == [(ADDRESS, "write"), (ADDRESS, "read")]));
    }
}
