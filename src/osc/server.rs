//! The OSC thread: receives datagrams on one UDP socket, hands each to the router at once, and
//! sends `/state` and `/subscribe` replies back from the same socket; it starts the feedback
//! thread on a clone of that socket. The router is the socket-free part, so the whole path from
//! bytes to handler calls and replies is testable without threads.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rosc::{OscMessage, OscPacket};

use super::feedback::Feedback;
use super::request::{self, Request};
use super::subscribers::Subscribers;
use super::{packet, Counters, OscCounts, OscHandler, StateReport, Tally, Undelivered};
use crate::engine::Action;
use crate::outage::Outage;

/// How long a receive waits before the thread checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(100);
/// A pause after an unexpected socket error, so a persistent one cannot spin the thread.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// The largest UDP payload, so no datagram is ever cut short.
const MAX_DATAGRAM: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum OscError {
    #[error(
        "cannot listen for OSC on UDP {address}: {cause}; another program may hold the port, \
         or the address is not this machine's (settings keys osc.in.port and osc.in.address)"
    )]
    Bind {
        address: SocketAddr,
        cause: std::io::Error,
    },
    #[error("cannot set up the OSC socket on UDP {address}: {cause}")]
    Socket {
        address: SocketAddr,
        cause: std::io::Error,
    },
    #[error("cannot start the OSC thread: {0}")]
    Thread(std::io::Error),
}

/// The running OSC and feedback threads; dropping it stops them (within a tenth of a second).
pub struct OscServer {
    local: SocketAddr,
    counters: Arc<Counters>,
    feedback: Feedback,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OscServer {
    /// Binds `address` (port 0 picks a free one) and starts handling what arrives there.
    pub fn spawn<H: OscHandler + 'static>(
        address: SocketAddr,
        handler: H,
    ) -> Result<Self, OscError> {
        let socket = UdpSocket::bind(address).map_err(|cause| OscError::Bind { address, cause })?;
        let configure = |cause| OscError::Socket { address, cause };
        socket
            .set_read_timeout(Some(STOP_POLL))
            .map_err(configure)?;
        let local = socket.local_addr().map_err(configure)?;
        let router = Router::new(handler);
        let counters = Arc::clone(&router.counters);
        let feedback = Feedback::spawn(
            socket.try_clone().map_err(configure)?,
            Arc::clone(&router.subscribers),
            Arc::clone(&counters),
        )
        .map_err(OscError::Thread)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("osc".into())
            .spawn(move || serve(&socket, router, &thread_stop))
            .map_err(OscError::Thread)?;
        Ok(Self {
            local,
            counters,
            feedback,
            stop,
            thread: Some(thread),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn counts(&self) -> OscCounts {
        self.counters.snapshot()
    }

    /// The state as it is now, for subscribers: each gets the replies whose values changed since
    /// the last published state. Meant to be called at most once a frame, and never blocks on the
    /// network.
    pub fn publish(&self, report: StateReport) {
        self.feedback.publish(report);
    }
}

impl Drop for OscServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve<H: OscHandler>(socket: &UdpSocket, mut router: Router<H>, stop: &AtomicBool) {
    let mut datagram = vec![0; MAX_DATAGRAM];
    let mut outage = Outage::new("OSC receiving", ERROR_BACKOFF);
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut datagram) {
            Ok((length, sender)) => {
                outage.succeeded();
                for reply in router.receive(&datagram[..length], sender, Instant::now()) {
                    if let Err(error) = send(socket, &reply.message, reply.to) {
                        tracing::debug!("OSC reply to {} failed: {error}", reply.to);
                        router.counters.add(Tally::ReplyError);
                    }
                }
            }
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(error) => {
                outage.failed(&format_args!("OSC receive failed: {error}"));
                router.counters.add(Tally::ReceiveError);
                std::thread::sleep(ERROR_BACKOFF);
            }
        }
    }
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub(super) enum SendError {
    #[error("cannot encode it: {0}")]
    Encode(rosc::OscError),
    #[error("{0}")]
    Socket(std::io::Error),
}

/// Sends one message as one datagram.
pub(super) fn send(
    socket: &UdpSocket,
    message: &OscMessage,
    to: SocketAddr,
) -> Result<(), SendError> {
    let bytes =
        rosc::encoder::encode(&OscPacket::Message(message.clone())).map_err(SendError::Encode)?;
    socket.send_to(&bytes, to).map_err(SendError::Socket)?;
    Ok(())
}

/// A message the OSC thread sends back, and where to.
#[derive(Debug, PartialEq)]
struct Reply {
    to: SocketAddr,
    message: OscMessage,
}

/// Datagrams to handler calls, subscriptions and replies, with the counting; no socket.
struct Router<H> {
    handler: H,
    counters: Arc<Counters>,
    /// Shared with the feedback thread, which sends to them.
    subscribers: Arc<Mutex<Subscribers>>,
}

impl<H: OscHandler> Router<H> {
    fn new(handler: H) -> Self {
        Self {
            handler,
            counters: Arc::default(),
            subscribers: Arc::default(),
        }
    }

    fn subscribers(&self) -> MutexGuard<'_, Subscribers> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Acts on every message of one datagram from `sender`, in order, at `now`; returns the
    /// replies. Every message is checked before any is acted on: a datagram with one bad message
    /// is dropped whole, as a bundle is meant to act as one, and counted once, by the kind of its
    /// first bad message.
    fn receive(&mut self, datagram: &[u8], sender: SocketAddr, now: Instant) -> Vec<Reply> {
        let mut replies = Vec::new();
        let messages = match packet::messages(datagram) {
            Ok(messages) => messages,
            Err(error) => {
                tracing::debug!("OSC datagram dropped: {error}");
                self.counters.add(Tally::Malformed);
                return replies;
            }
        };
        let requests = match messages
            .iter()
            .map(request::decode)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(requests) => requests,
            Err(rejected) => {
                match messages.len() {
                    1 => tracing::debug!("OSC message dropped: {rejected}"),
                    n => tracing::debug!("OSC bundle of {n} messages dropped: {rejected}"),
                }
                self.counters.add(Tally::from(&rejected));
                return replies;
            }
        };
        for (request, message) in requests.into_iter().zip(&messages) {
            let tally = self.act(request, sender, now, &mut replies);
            if let Tally::Undelivered = tally {
                tracing::debug!("OSC {} dropped: {Undelivered}", message.addr);
            }
            self.counters.add(tally);
        }
        replies
    }

    fn act(
        &mut self,
        request: Request,
        sender: SocketAddr,
        now: Instant,
        replies: &mut Vec<Reply>,
    ) -> Tally {
        let delivered = match request {
            Request::Note(action) => self.handler.note(action),
            Request::Control(input) => self.handler.control(input),
            Request::Panic => {
                // Both are attempted even if the first finds its queue full.
                let silenced = self.handler.note(Action::AllSoundOff);
                let pedal_up = self.handler.note(Action::Sustain(false));
                silenced.and(pedal_up)
            }
            Request::State => {
                self.reply_state(sender, replies);
                Ok(())
            }
            Request::Subscribe { port } => {
                let to = at_port(sender, port);
                if self.subscribers().subscribe(to, now).is_err() {
                    return Tally::Refused;
                }
                // Registered first, so no change published after this state can miss it.
                self.reply_state(to, replies);
                Ok(())
            }
            Request::Unsubscribe { port } => {
                self.subscribers().unsubscribe(at_port(sender, port));
                Ok(())
            }
        };
        match delivered {
            Ok(()) => Tally::Handled,
            Err(Undelivered) => Tally::Undelivered,
        }
    }

    fn reply_state(&self, to: SocketAddr, replies: &mut Vec<Reply>) {
        let state = self.handler.state().messages();
        replies.extend(state.map(|message| Reply { to, message }));
    }
}

/// The sender's address, with `port` if one is given.
fn at_port(sender: SocketAddr, port: Option<u16>) -> SocketAddr {
    SocketAddr::new(sender.ip(), port.unwrap_or(sender.port()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Knobs;
    use crate::input::Input;
    use crate::osc::{OscCounts, StateReport, Undelivered, MAX_SUBSCRIBERS, STATE_MESSAGES};
    use rosc::{OscBundle, OscTime, OscType};

    /// Where the tests' datagrams come from.
    fn client(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 7], port))
    }

    #[derive(Debug, PartialEq)]
    enum Call {
        Note(Action),
        Control(Input),
    }

    /// Records every call; refuses them all when `full`.
    struct Recorder {
        calls: Vec<Call>,
        full: bool,
    }

    impl OscHandler for Recorder {
        fn note(&mut self, action: Action) -> Result<(), Undelivered> {
            self.record(Call::Note(action))
        }

        fn control(&mut self, input: Input) -> Result<(), Undelivered> {
            self.record(Call::Control(input))
        }

        fn state(&self) -> StateReport {
            StateReport {
                grid: [0.5, 0.25],
                knobs: Knobs::default(),
                corners: ["a", "b", "c", "d"].map(String::from),
                voices: u32::try_from(self.calls.len()).unwrap(),
                ..Default::default()
            }
        }
    }

    impl Recorder {
        fn record(&mut self, call: Call) -> Result<(), Undelivered> {
            if self.full {
                return Err(Undelivered);
            }
            self.calls.push(call);
            Ok(())
        }
    }

    impl<H: OscHandler> Router<H> {
        /// Handles a datagram from the client's port 5555, now; the replies' messages, each
        /// checked to go back to that address.
        fn receive_from_client(&mut self, datagram: &[u8]) -> Vec<OscMessage> {
            let replies = self.receive(datagram, client(5555), Instant::now());
            replies
                .into_iter()
                .map(|reply| {
                    assert_eq!(reply.to, client(5555));
                    reply.message
                })
                .collect()
        }

        fn subscribed(&self) -> Vec<SocketAddr> {
            self.subscribers().addresses().collect()
        }
    }

    fn router() -> Router<Recorder> {
        Router::new(Recorder {
            calls: Vec::new(),
            full: false,
        })
    }

    fn message(address: &str, args: Vec<OscType>) -> OscPacket {
        OscPacket::Message(OscMessage {
            addr: address.into(),
            args,
        })
    }

    fn bytes(packet: &OscPacket) -> Vec<u8> {
        rosc::encoder::encode(packet).unwrap()
    }

    use OscType::{Float, Int};

    #[test]
    fn each_address_reaches_its_handler_call() {
        let cases = [
            (
                message("/on", vec![Int(60), Float(0.5)]),
                vec![Call::Note(Action::NoteOn {
                    note: 60,
                    velocity: 0.5,
                })],
            ),
            (
                message("/on", vec![Int(60), Float(0.0)]),
                vec![Call::Note(Action::NoteOn {
                    note: 60,
                    velocity: 0.0,
                })],
            ),
            (
                message("/off", vec![Float(61.0)]),
                vec![Call::Note(Action::NoteOff { note: 61 })],
            ),
            (
                message("/volume", vec![Float(0.2)]),
                vec![Call::Control(Input::Pot { pot: 5, value: 51 })],
            ),
            (
                message("/release", vec![Int(1)]),
                vec![Call::Control(Input::Pot { pot: 4, value: 255 })],
            ),
            (
                message("/grid", vec![Float(0.1), Float(0.9)]),
                vec![Call::Control(Input::Grid { x: 0.1, y: 0.9 })],
            ),
            (
                message("/instrument", vec![Int(2), Int(5)]),
                vec![Call::Control(Input::Instrument {
                    corner: 2,
                    index: 5,
                })],
            ),
            (
                message("/patch/load", vec![Int(1)]),
                vec![Call::Control(Input::PatchLoad(1))],
            ),
            (
                message("/patch/save", vec![Int(2)]),
                vec![Call::Control(Input::PatchSave(2))],
            ),
            (
                message("/panic", vec![]),
                vec![
                    Call::Note(Action::AllSoundOff),
                    Call::Note(Action::Sustain(false)),
                ],
            ),
        ];
        for (packet, expected) in cases {
            let mut router = router();
            assert!(router.receive_from_client(&bytes(&packet)).is_empty());
            assert_eq!(router.handler.calls, expected, "{packet:?}");
            assert_eq!(router.counters.snapshot().handled, 1);
        }
    }

    #[test]
    fn state_returns_every_reply_of_the_report() {
        let mut router = router();
        let replies = router.receive_from_client(&bytes(&message("/state", vec![])));
        assert_eq!(replies, router.handler.state().messages());
        assert_eq!(router.counters.snapshot().handled, 1);
    }

    fn bundle(content: Vec<OscPacket>) -> OscPacket {
        OscPacket::Bundle(OscBundle {
            timetag: OscTime::from((0, 1)),
            content,
        })
    }

    #[test]
    fn a_bundle_acts_in_order_and_collects_every_reply() {
        let packet = bundle(vec![
            message("/on", vec![Int(60), Float(1.0)]),
            bundle(vec![
                message("/state", vec![]),
                message("/off", vec![Int(60)]),
            ]),
            message("/state", vec![]),
        ]);
        let mut router = router();
        let replies = router.receive_from_client(&bytes(&packet));
        assert_eq!(
            router.handler.calls,
            [
                Call::Note(Action::NoteOn {
                    note: 60,
                    velocity: 1.0
                }),
                Call::Note(Action::NoteOff { note: 60 }),
            ]
        );
        // The first /state saw one call so far, the second two.
        let voices: Vec<_> = replies
            .iter()
            .filter(|reply| reply.addr == "/state/voices")
            .map(|reply| reply.args.clone())
            .collect();
        assert_eq!(replies.len(), 2 * STATE_MESSAGES);
        assert_eq!(voices, [vec![Int(1)], vec![Int(2)]]);
        assert_eq!(router.counters.snapshot().handled, 4);
    }

    #[test]
    fn a_bundle_with_one_bad_message_is_dropped_whole_and_counted_once() {
        let bad_inside = [
            (message("/reverb", vec![]), Tally::UnknownAddress),
            (message("/volume", vec![Float(2.0)]), Tally::OutOfRange),
        ];
        for (bad, tally) in bad_inside {
            let packet = bundle(vec![
                message("/grid", vec![Float(0.25), Float(0.75)]),
                message("/state", vec![]),
                bundle(vec![message("/on", vec![Int(60), Float(1.0)]), bad]),
                message("/off", vec![Int(60)]),
            ]);
            let mut router = router();
            assert!(router.receive_from_client(&bytes(&packet)).is_empty());
            assert!(router.handler.calls.is_empty());
            let expected = Counters::default();
            expected.add(tally);
            assert_eq!(router.counters.snapshot(), expected.snapshot());
        }
    }

    #[test]
    fn every_kind_of_bad_input_is_counted_and_dropped() {
        let mut router = router();
        let bad = [
            b"not osc at all".to_vec(),
            bytes(&message("/reverb", vec![Float(1.0)])),
            bytes(&message("/on", vec![Int(60)])),
            bytes(&message(
                "/grid",
                vec![Float(0.5), OscType::String("top".into())],
            )),
            bytes(&message("/on", vec![Int(128), Float(1.0)])),
            bytes(&message("/patch/save", vec![Int(4)])),
            Vec::new(),
        ];
        for datagram in &bad {
            assert!(router.receive_from_client(datagram).is_empty());
        }
        assert!(router.handler.calls.is_empty());
        assert_eq!(
            router.counters.snapshot(),
            OscCounts {
                malformed: 2,
                unknown_address: 1,
                argument_count: 1,
                argument_type: 1,
                out_of_range: 2,
                ..OscCounts::default()
            }
        );
    }

    #[test]
    fn requests_a_full_queue_refuses_are_counted_as_undelivered() {
        let mut router = Router::new(Recorder {
            calls: Vec::new(),
            full: true,
        });
        router.receive_from_client(&bytes(&message("/off", vec![Int(1)])));
        router.receive_from_client(&bytes(&message("/panic", vec![])));
        router.receive_from_client(&bytes(&message("/volume", vec![Float(1.0)])));
        let counts = router.counters.snapshot();
        assert_eq!((counts.undelivered, counts.handled), (3, 0));
    }

    #[test]
    fn subscribing_registers_the_address_and_replies_the_state_there() {
        let mut router = router();
        let now = Instant::now();
        let subscribe = |port: Vec<OscType>| bytes(&message("/subscribe", port));
        let unsubscribe = |port: Vec<OscType>| bytes(&message("/unsubscribe", port));

        let replies = router.receive(&subscribe(vec![]), client(5555), now);
        let state = router.handler.state().messages();
        let to_client = state.clone().map(|message| Reply {
            to: client(5555),
            message,
        });
        assert_eq!(replies, to_client);
        // Another port of the same machine, named by the argument.
        let replies = router.receive(&subscribe(vec![Int(9001)]), client(5555), now);
        assert!(replies.iter().all(|reply| reply.to == client(9001)));
        assert_eq!(replies.len(), STATE_MESSAGES);
        assert_eq!(router.subscribed(), [client(5555), client(9001)]);

        assert!(router
            .receive(&unsubscribe(vec![Int(9001)]), client(5555), now)
            .is_empty());
        assert_eq!(router.subscribed(), [client(5555)]);
        router.receive(&unsubscribe(vec![]), client(5555), now);
        assert_eq!(router.subscribed(), []);
        assert_eq!(router.counters.snapshot().handled, 4);
    }

    #[test]
    fn a_subscriber_past_the_limit_is_refused_and_counted() {
        let mut router = router();
        let subscribe = bytes(&message("/subscribe", vec![]));
        let now = Instant::now();
        for port in 0..=MAX_SUBSCRIBERS as u16 {
            let replies = router.receive(&subscribe, client(6000 + port), now);
            let refused = usize::from(port) == MAX_SUBSCRIBERS;
            assert_eq!(replies.is_empty(), refused, "subscriber {port}");
        }
        assert_eq!(router.subscribed().len(), MAX_SUBSCRIBERS);
        let counts = router.counters.snapshot();
        assert_eq!((counts.handled, counts.refused), (8, 1));
        assert_eq!(counts.rejected(), 1);
    }

    #[test]
    fn a_subscription_in_a_bad_bundle_is_not_made() {
        let mut router = router();
        let packet = bundle(vec![
            message("/subscribe", vec![]),
            message("/unsubscribe", vec![Int(9000), Int(9001)]),
        ]);
        assert!(router.receive_from_client(&bytes(&packet)).is_empty());
        assert_eq!(router.subscribed(), []);
        assert_eq!(router.counters.snapshot().argument_count, 1);
    }
}
