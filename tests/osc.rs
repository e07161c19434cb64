//! The OSC server over loopback UDP: requests reach the engine ring and the controller channel,
//! bad datagrams are counted, `/state` answers the sender's port, bundles work.
//!
//! Every exchange ends with a `/state` request: the server handles datagrams in order, so once
//! its replies are back, everything sent before has been handled. No test depends on timing.

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use open_nsynth::engine::{Action, Command, Knobs};
use open_nsynth::input::Input;
use open_nsynth::osc::{OscCounts, OscError, OscServer, Routes, StateReport};
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
        let mut buffer = [0; 4096];
        let (length, from) = self.client.recv_from(&mut buffer).expect("a reply");
        assert_eq!(from, self.server.local_addr());
        match rosc::decoder::decode_udp(&buffer[..length]).unwrap().1 {
            OscPacket::Message(message) => message,
            OscPacket::Bundle(bundle) => panic!("expected a message, got {bundle:?}"),
        }
    }

    /// Asks for the state and returns its four replies; everything sent before is handled then.
    fn state(&self) -> Vec<OscMessage> {
        self.send(&message("/state", vec![]));
        (0..4).map(|_| self.reply()).collect()
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
fn state_answers_the_senders_port_with_four_messages() {
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
            "/state/voices"
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
