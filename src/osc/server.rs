//! The OSC thread: receives datagrams on one UDP socket, hands each to the router at once, and
//! sends `/state` replies back from the same socket. The router is the socket-free part, so the
//! whole path from bytes to handler calls is testable without threads.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rosc::{OscMessage, OscPacket};

use super::request::{self, Request};
use super::{packet, Counters, OscCounts, OscHandler, Tally};
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

/// The running OSC thread; dropping it stops the thread (within a tenth of a second).
pub struct OscServer {
    local: SocketAddr,
    counters: Arc<Counters>,
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
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("osc".into())
            .spawn(move || serve(&socket, router, &thread_stop))
            .map_err(OscError::Thread)?;
        Ok(Self {
            local,
            counters,
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
                for reply in router.receive(&datagram[..length]) {
                    let sent = rosc::encoder::encode(&OscPacket::Message(reply))
                        .map_err(|error| error.to_string())
                        .and_then(|bytes| {
                            socket
                                .send_to(&bytes, sender)
                                .map_err(|error| error.to_string())
                        });
                    if let Err(error) = sent {
                        tracing::debug!("OSC reply to {sender} failed: {error}");
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

/// Datagrams to handler calls and replies, with the counting; no socket.
struct Router<H> {
    handler: H,
    counters: Arc<Counters>,
}

impl<H: OscHandler> Router<H> {
    fn new(handler: H) -> Self {
        Self {
            handler,
            counters: Arc::default(),
        }
    }

    /// Acts on every message of one datagram, in order; returns the replies for its sender. Every
    /// message is checked before any is acted on: a datagram with one bad message is dropped
    /// whole, as a bundle is meant to act as one, and counted once, by the kind of its first bad
    /// message.
    fn receive(&mut self, datagram: &[u8]) -> Vec<OscMessage> {
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
            let tally = match self.act(request, &mut replies) {
                Ok(()) => Tally::Handled,
                Err(error) => {
                    tracing::debug!("OSC {} dropped: {error}", message.addr);
                    Tally::Undelivered
                }
            };
            self.counters.add(tally);
        }
        replies
    }

    fn act(
        &mut self,
        request: Request,
        replies: &mut Vec<OscMessage>,
    ) -> Result<(), super::Undelivered> {
        match request {
            Request::Note(action) => self.handler.note(action),
            Request::Control(input) => self.handler.control(input),
            Request::Panic => {
                // Both are attempted even if the first finds its queue full.
                let silenced = self.handler.note(Action::AllSoundOff);
                let pedal_up = self.handler.note(Action::Sustain(false));
                silenced.and(pedal_up)
            }
            Request::State => {
                replies.extend(self.handler.state().messages());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Knobs;
    use crate::input::Input;
    use crate::osc::{OscCounts, StateReport, Undelivered};
    use rosc::{OscBundle, OscTime, OscType};

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
            assert!(router.receive(&bytes(&packet)).is_empty());
            assert_eq!(router.handler.calls, expected, "{packet:?}");
            assert_eq!(router.counters.snapshot().handled, 1);
        }
    }

    #[test]
    fn state_returns_the_four_replies_of_the_report() {
        let mut router = router();
        let replies = router.receive(&bytes(&message("/state", vec![])));
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
        let replies = router.receive(&bytes(&packet));
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
        assert_eq!(replies.len(), 8);
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
            assert!(router.receive(&bytes(&packet)).is_empty());
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
            assert!(router.receive(datagram).is_empty());
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
        router.receive(&bytes(&message("/off", vec![Int(1)])));
        router.receive(&bytes(&message("/panic", vec![])));
        router.receive(&bytes(&message("/volume", vec![Float(1.0)])));
        let counts = router.counters.snapshot();
        assert_eq!((counts.undelivered, counts.handled), (3, 0));
    }
}
