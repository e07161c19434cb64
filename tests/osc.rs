//! The OSC server over loopback UDP: requests reach the engine ring and the controller channel,
//! bad datagrams are counted, `/state` answers the sender's port, bundles work, subscribers get
//! the state and then what changes in it.
//!
//! Every exchange ends with a `/state` request: the server handles datagrams in order, so once
//! its replies are back, everything sent before has been handled. No test depends on timing.

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use open_nsynth::engine::{Action, Command, Knobs};
use open_nsynth::input::Input;
use open_nsynth::osc::{
    OscCounts, OscError, OscServer, Routes, StateReport, MAX_SUBSCRIBERS, STATE_MESSAGES,
};
use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};

/// Generous, so a slow machine never fails a test; reached only when something is broken.
const REPLY_WAIT: Duration = Duration::from_secs(10);

fn report() -> StateReport {
    StateReport {
        grid: [0.3, 0.7],
        knobs: Knobs {
            position: 0.0,
            attack: 0.2,
            decay: 0.4,
            sustain: 0.6,
            release: 0.8,
            volume: 1.0,
        },
        corners: [
            "bass_synthetic",
            "flute_acoustic",
            "organ_electronic",
            "mallet",
        ]
        .map(String::from),
        voices: 3,
        ..Default::default()
    }
}

struct Rig {
    server: OscServer,
    client: UdpSocket,
    engine: rtrb::Consumer<Command>,
    controller: mpsc::Receiver<Input>,
}

impl Rig {
    fn new() -> Self {
        let (commands, engine) = rtrb::RingBuffer::new(64);
        let (controls, controller) = mpsc::channel();
        let routes = Routes {
            commands,
            controls,
            state: Box::new(report),
        };
        let server = OscServer::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), routes).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(REPLY_WAIT)).unwrap();
        Self {
            server,
            client,
            engine,
            controller,
        }
    }

    fn send_bytes(&self, datagram: &[u8]) {
        self.client
            .send_to(datagram, self.server.local_addr())
            .unwrap();
    }

    fn send(&self, packet: &OscPacket) {
        self.send_bytes(&rosc::encoder::encode(packet).unwrap());
    }

    /// The next datagram for the client, checked to come from the server's port.
    fn reply(&self) -> OscMessage {
        next_message(&self.client, self.server.local_addr())
    }

    /// Asks for the state and returns its replies; everything sent before is handled then.
    fn state(&self) -> Vec<OscMessage> {
        self.send(&message("/state", vec![]));
        (0..STATE_MESSAGES).map(|_| self.reply()).collect()
    }

    fn commands(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.engine.pop().ok())
            .map(|command| {
                assert_eq!(command.at, 0, "OSC commands act at once");
                command.action
            })
            .collect()
    }

    fn inputs(&self) -> Vec<Input> {
        self.controller.try_iter().collect()
    }
}

/// The next datagram for `client`, checked to come from `server`.
fn next_message(client: &UdpSocket, server: SocketAddr) -> OscMessage {
    let mut buffer = [0; 4096];
    let (length, from) = client.recv_from(&mut buffer).expect("a reply");
    assert_eq!(from, server);
    match rosc::decoder::decode_udp(&buffer[..length]).unwrap().1 {
        OscPacket::Message(message) => message,
        OscPacket::Bundle(bundle) => panic!("expected a message, got {bundle:?}"),
    }
}

fn message(address: &str, args: Vec<OscType>) -> OscPacket {
    OscPacket::Message(OscMessage {
        addr: address.into(),
        args,
    })
}

use OscType::{Float, Int};

#[test]
fn notes_reach_the_engine_ring_and_controls_the_controller() {
    let mut rig = Rig::new();
    rig.send(&message("/on", vec![Int(60), Float(0.75)]));
    rig.send(&message("/on", vec![Float(62.0), Int(0)]));
    rig.send(&message("/off", vec![Int(60)]));
    rig.send(&message("/panic", vec![]));
    for (address, value) in [
        ("/position", 0.0),
        ("/attack", 0.25),
        ("/decay", 0.5),
        ("/sustain", 0.75),
        ("/release", 0.9),
        ("/volume", 1.0),
    ] {
        rig.send(&message(address, vec![Float(value)]));
    }
    rig.send(&message("/grid", vec![Float(0.5), Float(0.125)]));
    rig.send(&message("/instrument", vec![Int(1), Int(4)]));
    rig.send(&message("/patch/load", vec![Int(3)]));
    rig.send(&message("/patch/save", vec![Int(0)]));
    rig.state();

    assert_eq!(
        rig.commands(),
        [
            Action::NoteOn {
                note: 60,
                velocity: 0.75
            },
            Action::NoteOn {
                note: 62,
                velocity: 0.0
            },
            Action::NoteOff { note: 60 },
            Action::AllSoundOff,
            Action::Sustain(false),
        ]
    );
    assert_eq!(
        rig.inputs(),
        [
            Input::Pot { pot: 0, value: 0 },
            Input::Pot { pot: 1, value: 63 },
            Input::Pot { pot: 2, value: 127 },
            Input::Pot { pot: 3, value: 191 },
            Input::Pot { pot: 4, value: 229 },
            Input::Pot { pot: 5, value: 255 },
            Input::Grid { x: 0.5, y: 0.125 },
            Input::Instrument {
                corner: 1,
                index: 4
            },
            Input::PatchLoad(3),
            Input::PatchSave(0),
        ]
    );
    assert_eq!(
        rig.server.counts(),
        OscCounts {
            handled: 15,
            ..OscCounts::default()
        }
    );
}

#[test]
fn state_answers_the_senders_port_with_every_message() {
    let rig = Rig::new();
    let replies = rig.state();
    assert_eq!(replies, report().messages());
    let addresses: Vec<_> = replies.iter().map(|reply| reply.addr.as_str()).collect();
    assert_eq!(
        addresses,
        [
            "/state/grid",
            "/state/knobs",
            "/state/corners",
            "/state/voices",
            "/state/patch",
            "/state/tuning",
        ]
    );
    assert_eq!(replies[3].args, [Int(3)]);

    // A second client gets its own replies.
    let other = Rig {
        client: UdpSocket::bind("127.0.0.1:0").unwrap(),
        ..rig
    };
    other.client.set_read_timeout(Some(REPLY_WAIT)).unwrap();
    assert_eq!(other.state(), report().messages());
}

fn bundle(content: Vec<OscPacket>) -> OscPacket {
    OscPacket::Bundle(OscBundle {
        timetag: OscTime::from((0, 1)),
        content,
    })
}

#[test]
fn a_bundle_of_several_messages_acts_in_order() {
    let mut rig = Rig::new();
    rig.send(&bundle(vec![
        message("/instrument", vec![Int(0), Int(2)]),
        message("/on", vec![Int(48), Float(1.0)]),
        bundle(vec![
            message("/grid", vec![Float(1.0), Float(0.0)]),
            message("/off", vec![Int(48)]),
        ]),
    ]));
    rig.state();
    assert_eq!(
        rig.commands(),
        [
            Action::NoteOn {
                note: 48,
                velocity: 1.0
            },
            Action::NoteOff { note: 48 },
        ]
    );
    assert_eq!(
        rig.inputs(),
        [
            Input::Instrument {
                corner: 0,
                index: 2
            },
            Input::Grid { x: 1.0, y: 0.0 },
        ]
    );
    assert_eq!(rig.server.counts().handled, 5);
}

#[test]
fn a_bundle_with_a_bad_message_changes_nothing_and_counts_once() {
    let mut rig = Rig::new();
    rig.send(&bundle(vec![
        message("/grid", vec![Float(0.25), Float(0.75)]),
        bundle(vec![
            message("/on", vec![Int(60), Float(1.0)]),
            message("/grid", vec![Float(0.5), Float(1.5)]),
        ]),
    ]));
    rig.state();
    assert!(rig.commands().is_empty());
    assert!(rig.inputs().is_empty());
    assert_eq!(
        rig.server.counts(),
        OscCounts {
            // The /state request.
            handled: 1,
            out_of_range: 1,
            ..OscCounts::default()
        }
    );
}

#[test]
fn bad_datagrams_are_counted_by_kind_and_the_server_keeps_going() {
    let mut rig = Rig::new();
    rig.send_bytes(b"\xff\x00garbage");
    rig.send_bytes(b"#bundle\0\0\0");
    rig.send(&message("/filter", vec![Float(0.5)]));
    rig.send(&message("/off", vec![]));
    rig.send(&message("/on", vec![Int(60), Float(0.5), Float(0.5)]));
    rig.send(&message("/volume", vec![OscType::String("max".into())]));
    rig.send(&message("/on", vec![Int(-3), Float(0.5)]));
    rig.send(&message("/volume", vec![Float(2.0)]));
    rig.send(&message("/instrument", vec![Int(4), Int(0)]));
    rig.send(&message("/off", vec![Int(1)]));

    assert_eq!(rig.state(), report().messages());
    assert_eq!(rig.commands(), [Action::NoteOff { note: 1 }]);
    assert!(rig.inputs().is_empty());
    let counts = rig.server.counts();
    assert_eq!(
        counts,
        OscCounts {
            handled: 2,
            malformed: 2,
            unknown_address: 1,
            argument_count: 2,
            argument_type: 1,
            out_of_range: 3,
            ..OscCounts::default()
        }
    );
    assert_eq!(counts.dropped(), 9);
}

#[test]
fn a_subscriber_gets_the_state_and_then_only_what_changed() {
    let rig = Rig::new();
    rig.send(&message("/subscribe", vec![]));
    let first: Vec<_> = (0..STATE_MESSAGES).map(|_| rig.reply()).collect();
    assert_eq!(first, report().messages());

    // The first state published is sent whole: nothing was sent before it.
    rig.server.publish(report());
    let whole: Vec<_> = (0..STATE_MESSAGES).map(|_| rig.reply()).collect();
    assert_eq!(whole, report().messages());

    let mut moved = report();
    moved.grid = [0.25, 0.75];
    rig.server.publish(moved.clone());
    // Published again unchanged: nothing is sent.
    rig.server.publish(moved.clone());
    let mut busy = moved.clone();
    busy.voices = 12;
    busy.knobs.volume = 0.5;
    rig.server.publish(busy.clone());
    // The same three whether or not `moved` was passed over for `busy`, which has its grid.
    let [grid, ..] = moved.messages();
    let [_, knobs, _, voices, ..] = busy.messages();
    let pushed: Vec<_> = (0..3).map(|_| rig.reply()).collect();
    assert_eq!(pushed, [grid, knobs, voices]);

    // A second subscriber stays when the first leaves. Changes go to subscribers in the order
    // they subscribed, so once the second has one, the first would have had it before.
    let second = UdpSocket::bind("127.0.0.1:0").unwrap();
    second.set_read_timeout(Some(REPLY_WAIT)).unwrap();
    let subscribe = rosc::encoder::encode(&message("/subscribe", vec![])).unwrap();
    second.send_to(&subscribe, rig.server.local_addr()).unwrap();
    for _ in 0..STATE_MESSAGES {
        next_message(&second, rig.server.local_addr());
    }
    rig.send(&message("/unsubscribe", vec![]));
    assert_eq!(rig.state(), report().messages());
    let mut quiet = busy.clone();
    quiet.voices = 0;
    rig.server.publish(quiet.clone());
    let [.., voices, _, _] = quiet.messages();
    assert_eq!(next_message(&second, rig.server.local_addr()), voices);
    rig.client.set_nonblocking(true).unwrap();
    let mut buffer = [0; 1024];
    assert!(
        rig.client.recv_from(&mut buffer).is_err(),
        "sent after /unsubscribe"
    );

    let counts = rig.server.counts();
    assert_eq!((counts.handled, counts.dropped()), (4, 0));
}

#[test]
fn subscribers_past_the_limit_are_refused_and_the_rest_served() {
    let rig = Rig::new();
    let server = rig.server.local_addr();
    let clients: Vec<UdpSocket> = (0..=MAX_SUBSCRIBERS)
        .map(|_| {
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            client.set_read_timeout(Some(REPLY_WAIT)).unwrap();
            client
        })
        .collect();
    let subscribe = rosc::encoder::encode(&message("/subscribe", vec![])).unwrap();
    for client in &clients {
        client.send_to(&subscribe, server).unwrap();
    }
    // Handled in order: once /state is answered, every /subscribe before it has been.
    rig.state();
    let counts = rig.server.counts();
    assert_eq!((counts.handled, counts.refused), (9, 1));

    let mut moved = report();
    moved.grid = [0.0, 1.0];
    rig.server.publish(moved.clone());
    for client in &clients[..MAX_SUBSCRIBERS] {
        let received: Vec<_> = (0..2 * STATE_MESSAGES)
            .map(|_| next_message(client, server))
            .collect();
        // The state when it subscribed, then the first published state whole.
        assert_eq!(received[..STATE_MESSAGES], report().messages());
        assert_eq!(received[STATE_MESSAGES..], moved.messages());
    }
}

#[test]
fn a_port_in_use_is_a_bind_error_naming_the_address() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let (commands, _engine) = rtrb::RingBuffer::new(1);
    let (controls, _controller) = mpsc::channel();
    let routes = Routes {
        commands,
        controls,
        state: Box::new(report),
    };
    match OscServer::spawn(address, routes) {
        Err(error @ OscError::Bind { .. }) => {
            let text = error.to_string();
            assert!(text.contains(&address.to_string()), "{text}");
            assert!(text.contains("osc.in.port"), "{text}");
        }
        Err(other) => panic!("expected a bind error, got {other}"),
        Ok(_) => panic!("bound a port that is in use"),
    }
}
