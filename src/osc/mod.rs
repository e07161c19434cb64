//! OSC input and feedback: a UDP server thread that decodes messages and bundles into typed
//! requests and routes them at once: notes into an engine command ring, controls to the
//! controller, state queries answered to their sender, subscriptions registered; and a feedback
//! thread that sends subscribers what changed in the state. It owns the OSC address space and its
//! checks; it never touches the engine or the controller except through [`OscHandler`], and never
//! panics on what arrives: bad datagrams and messages are counted and dropped.

mod feedback;
pub mod packet;
pub mod request;
mod server;
mod subscribers;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rosc::{OscMessage, OscType};

use crate::engine::{Action, Command, CommandSender, Knobs};
use crate::input::{Input, ENCODERS};

pub use server::{OscError, OscServer};
pub use subscribers::MAX_SUBSCRIBERS;

use request::Rejected;

/// Where the OSC thread sends what it decodes. Called on the OSC thread, one message at a time.
pub trait OscHandler: Send {
    /// An engine action (`/on`, `/off`, and the two actions of `/panic`).
    fn note(&mut self, action: Action) -> Result<(), Undelivered>;
    /// A controller input (knobs, `/grid`, `/instrument`, `/patch/load`, `/patch/save`).
    fn control(&mut self, input: Input) -> Result<(), Undelivered>;
    /// The state to answer `/state` with.
    fn state(&self) -> StateReport;
}

/// A request that its queue had no room for, or whose receiver has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request not delivered: its queue is full or its receiver has gone")]
pub struct Undelivered;

/// The state the app provides on demand.
pub type StateSource = Box<dyn Fn() -> StateReport + Send>;

/// The usual wiring: notes straight into an engine command ring owned by the OSC thread,
/// controls into the controller's channel, state from a snapshot the app keeps.
pub struct Routes {
    pub commands: CommandSender,
    pub controls: mpsc::Sender<Input>,
    pub state: StateSource,
}

impl OscHandler for Routes {
    fn note(&mut self, action: Action) -> Result<(), Undelivered> {
        self.commands
            .push(Command::now(action))
            .map_err(|_| Undelivered)
    }

    fn control(&mut self, input: Input) -> Result<(), Undelivered> {
        self.controls.send(input).map_err(|_| Undelivered)
    }

    fn state(&self) -> StateReport {
        (self.state)()
    }
}

/// How many messages `/state` replies with.
pub const STATE_MESSAGES: usize = 6;

/// What `/state` reports; the app fills it from the controller and the engine's status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateReport {
    /// The grid position, fractions 0–1 (x, y).
    pub grid: [f32; 2],
    pub knobs: Knobs,
    /// The `name` of each corner's selected instrument, in corner order.
    pub corners: [String; ENCODERS],
    /// Voices sounding.
    pub voices: u32,
    /// The patch slot (0–3) last loaded or saved, if any.
    pub patch: Option<usize>,
    /// Transposition in semitones and fine tuning in cents.
    pub transpose: i8,
    pub fine_tune: f32,
}

impl StateReport {
    /// The messages of those of the replies whose values differ from `before`'s, in reply
    /// order; all of them when there is nothing before.
    pub fn changes_since(&self, before: Option<&StateReport>) -> Vec<OscMessage> {
        let now = self.messages();
        match before {
            None => now.into(),
            Some(before) => now
                .into_iter()
                .zip(before.messages())
                .filter_map(|(now, before)| (now != before).then_some(now))
                .collect(),
        }
    }

    /// The reply messages, in the order they are sent.
    pub fn messages(&self) -> [OscMessage; STATE_MESSAGES] {
        let reply = |address: &str, args: Vec<OscType>| OscMessage {
            addr: address.into(),
            args,
        };
        [
            reply("/state/grid", self.grid.map(OscType::Float).to_vec()),
            reply(
                "/state/knobs",
                self.knobs.in_pot_order().map(OscType::Float).to_vec(),
            ),
            reply(
                "/state/corners",
                self.corners.clone().map(OscType::String).to_vec(),
            ),
            reply(
                "/state/voices",
                vec![OscType::Int(i32::try_from(self.voices).unwrap_or(i32::MAX))],
            ),
            // Slots as the buttons number them, 1–4; 0 before any load or save.
            reply(
                "/state/patch",
                vec![OscType::Int(self.patch.map_or(0, |slot| slot as i32 + 1))],
            ),
            reply(
                "/state/tuning",
                vec![
                    OscType::Int(i32::from(self.transpose)),
                    OscType::Float(self.fine_tune),
                ],
            ),
        ]
    }
}

/// What the OSC thread has done so far, for the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OscCounts {
    /// Messages acted on.
    pub handled: u64,
    /// Datagrams that are not OSC (or nest too deep); a whole datagram counts once.
    pub malformed: u64,
    pub unknown_address: u64,
    pub argument_count: u64,
    pub argument_type: u64,
    pub out_of_range: u64,
    /// `/subscribe` requests refused because every place was taken.
    pub refused: u64,
    /// Valid requests whose queue was full or whose receiver had gone.
    pub undelivered: u64,
    /// Receives that failed at the socket.
    pub receive_errors: u64,
    /// `/state` and `/subscribe` replies that could not be encoded or sent.
    pub reply_errors: u64,
    /// State changes that could not be encoded or sent to a subscriber (one per subscriber).
    pub push_errors: u64,
}

impl OscCounts {
    /// Datagrams and messages refused for what they are (not OSC, a bad message, a subscription
    /// with no place left).
    pub fn rejected(&self) -> u64 {
        self.malformed
            + self.unknown_address
            + self.argument_count
            + self.argument_type
            + self.out_of_range
            + self.refused
    }

    /// Everything dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.rejected()
            + self.undelivered
            + self.receive_errors
            + self.reply_errors
            + self.push_errors
    }
}

impl std::fmt::Display for OscCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} handled, {} malformed, {} unknown address, {} wrong argument count, {} wrong \
             argument type, {} out of range, {} refused subscriptions, {} undelivered, {} receive \
             errors, {} reply errors, {} push errors",
            self.handled,
            self.malformed,
            self.unknown_address,
            self.argument_count,
            self.argument_type,
            self.out_of_range,
            self.refused,
            self.undelivered,
            self.receive_errors,
            self.reply_errors,
            self.push_errors
        )
    }
}

/// One thing the OSC thread counts.
#[derive(Debug, Clone, Copy)]
enum Tally {
    Handled,
    Malformed,
    UnknownAddress,
    ArgumentCount,
    ArgumentType,
    OutOfRange,
    Refused,
    Undelivered,
    ReceiveError,
    ReplyError,
    PushError,
}

impl Tally {
    const KINDS: usize = Tally::PushError as usize + 1;
}

impl From<&Rejected> for Tally {
    fn from(rejected: &Rejected) -> Self {
        match rejected {
            Rejected::UnknownAddress(_) => Tally::UnknownAddress,
            Rejected::ArgumentCount { .. } => Tally::ArgumentCount,
            Rejected::ArgumentType { .. } => Tally::ArgumentType,
            Rejected::OutOfRange { .. } | Rejected::UnknownControl { .. } => Tally::OutOfRange,
        }
    }
}

/// The counts, shared between the OSC thread and whoever reads them.
#[derive(Debug, Default)]
struct Counters([AtomicU64; Tally::KINDS]);

impl Counters {
    fn add(&self, tally: Tally) {
        self.0[tally as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> OscCounts {
        let count = |tally: Tally| self.0[tally as usize].load(Ordering::Relaxed);
        OscCounts {
            handled: count(Tally::Handled),
            malformed: count(Tally::Malformed),
            unknown_address: count(Tally::UnknownAddress),
            argument_count: count(Tally::ArgumentCount),
            argument_type: count(Tally::ArgumentType),
            out_of_range: count(Tally::OutOfRange),
            refused: count(Tally::Refused),
            undelivered: count(Tally::Undelivered),
            receive_errors: count(Tally::ReceiveError),
            reply_errors: count(Tally::ReplyError),
            push_errors: count(Tally::PushError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StateReport {
        StateReport {
            grid: [0.25, 1.0],
            knobs: Knobs {
                position: 0.0,
                attack: 0.1,
                decay: 0.2,
                sustain: 0.3,
                release: 0.4,
                volume: 0.5,
            },
            corners: ["bass", "flute", "organ", "snare"].map(String::from),
            voices: 7,
            ..Default::default()
        }
    }

    #[test]
    fn the_report_becomes_grid_knobs_corners_voices_patch_and_tuning() {
        use OscType::{Float, Int};
        let [grid, knobs, corners, voices, patch, tuning] = report().messages();
        assert_eq!(grid.addr, "/state/grid");
        assert_eq!(grid.args, [Float(0.25), Float(1.0)]);
        assert_eq!(knobs.addr, "/state/knobs");
        assert_eq!(
            knobs.args,
            [0.0, 0.1, 0.2, 0.3, 0.4, 0.5].map(Float).to_vec()
        );
        assert_eq!(corners.addr, "/state/corners");
        assert_eq!(
            corners.args,
            ["bass", "flute", "organ", "snare"].map(|name| OscType::String(name.into()))
        );
        assert_eq!(voices.addr, "/state/voices");
        assert_eq!(voices.args, [Int(7)]);
        assert_eq!(patch.addr, "/state/patch");
        assert_eq!(patch.args, [Int(0)], "no patch loaded yet");
        assert_eq!(tuning.addr, "/state/tuning");
        assert_eq!(tuning.args, [Int(0), Float(0.0)]);
        let loaded = StateReport {
            patch: Some(2),
            transpose: -12,
            fine_tune: 25.0,
            ..report()
        };
        let [.., patch, tuning] = loaded.messages();
        assert_eq!(patch.args, [Int(3)], "slots are numbered 1–4");
        assert_eq!(tuning.args, [Int(-12), Float(25.0)]);
    }

    #[test]
    fn only_the_replies_whose_values_changed_are_sent() {
        let before = report();
        assert_eq!(before.changes_since(None), before.messages());
        assert_eq!(before.changes_since(Some(&before)), []);

        let mut moved = before.clone();
        moved.grid = [0.25, 0.75];
        let [grid, ..] = moved.messages();
        assert_eq!(moved.changes_since(Some(&before)), [grid]);

        let mut busy = moved.clone();
        busy.knobs.volume = 1.0;
        busy.corners[3] = "bell".into();
        busy.voices = 8;
        let [_, knobs, corners, voices, ..] = busy.messages();
        assert_eq!(busy.changes_since(Some(&moved)), [knobs, corners, voices]);

        let mut quieter = busy.clone();
        quieter.voices = 0;
        let [.., voices, _, _] = quieter.messages();
        assert_eq!(quieter.changes_since(Some(&busy)), [voices]);
    }

    #[test]
    fn routes_refuse_when_the_ring_is_full_or_the_controller_gone() {
        let (commands, mut engine_side) = rtrb::RingBuffer::new(1);
        let (controls, controller) = mpsc::channel();
        let mut routes = Routes {
            commands,
            controls,
            state: Box::new(report),
        };
        assert_eq!(routes.note(Action::AllNotesOff), Ok(()));
        assert_eq!(routes.note(Action::AllSoundOff), Err(Undelivered));
        assert_eq!(
            engine_side.pop().map(|command| command.action),
            Ok(Action::AllNotesOff)
        );

        assert_eq!(routes.control(Input::PatchLoad(1)), Ok(()));
        assert_eq!(controller.try_recv(), Ok(Input::PatchLoad(1)));
        drop(controller);
        assert_eq!(routes.control(Input::PatchLoad(2)), Err(Undelivered));
        assert_eq!(routes.state(), report());
    }

    #[test]
    fn dropped_adds_every_kind_but_handled() {
        let counts = OscCounts {
            handled: 100,
            malformed: 1,
            unknown_address: 2,
            argument_count: 3,
            argument_type: 4,
            out_of_range: 5,
            refused: 6,
            undelivered: 7,
            receive_errors: 8,
            reply_errors: 9,
            push_errors: 10,
        };
        assert_eq!(counts.rejected(), 21);
        assert_eq!(counts.dropped(), 55);
        assert!(counts
            .to_string()
            .starts_with("100 handled, 1 malformed, 2 unknown address"));
    }
}
