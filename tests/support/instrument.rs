//! The instrument as a process for end-to-end tests: the demo pads written into a folder, the
//! simulator started headless on them with OSC on a free loopback port, and OSC helpers to talk
//! to it. The process is killed when the handle drops (and ends after a minute regardless).

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use open_nsynth::osc::STATE_MESSAGES;
use rosc::{OscMessage, OscPacket, OscType};

/// Writes the demo (short rows) into `dir/demo`.
pub fn demo(dir: &Path) {
    let files = open_nsynth::demo::write_demo(&dir.join("demo"), 2048).unwrap();
    assert!(files.settings.exists());
}

/// Changes the demo's settings file with `edit`.
pub fn edit_settings(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("demo/settings.json");
    let mut settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut settings);
    std::fs::write(path, serde_json::to_string_pretty(&settings).unwrap()).unwrap();
}

/// Points the demo's OSC at a free loopback port, returned.
pub fn osc_on_a_free_port(dir: &Path) -> u16 {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    edit_settings(dir, |settings| {
        settings["osc"]["in"] = serde_json::json!({"port": port, "address": "127.0.0.1"});
    });
    port
}

/// Asks for `/state` and waits for its replies.
pub fn state(socket: &UdpSocket, to: &str) -> Vec<OscMessage> {
    let packet = rosc::encoder::encode(&osc_message("/state", vec![])).unwrap();
    socket.send_to(&packet, to).unwrap();
    let mut replies = Vec::new();
    let mut buffer = [0u8; 1024];
    while replies.len() < STATE_MESSAGES {
        let Ok((size, _)) = socket.recv_from(&mut buffer) else {
            break;
        };
        if let Ok((_, OscPacket::Message(message))) = rosc::decoder::decode_udp(&buffer[..size]) {
            replies.push(message);
        }
    }
    replies
}

pub fn osc_message(address: &str, args: Vec<OscType>) -> OscPacket {
    OscPacket::Message(OscMessage {
        addr: address.into(),
        args,
    })
}

/// A headless instrument playing the demo, stopped when dropped (and after a minute regardless).
pub struct Instrument {
    child: Child,
    pub osc: String,
}

impl Instrument {
    /// Writes the demo into `dir` and starts the instrument on it.
    pub fn start(dir: &Path) -> Self {
        demo(dir);
        Self::start_on(dir)
    }

    /// Starts the instrument on the demo already in `dir` (settings edits kept).
    pub fn start_on(dir: &Path) -> Self {
        let port = osc_on_a_free_port(dir);
        let child = Command::new(env!("CARGO_BIN_EXE_open-nsynth"))
            .args(["simulate", "--settings", "demo/settings.json", "--headless"])
            .args(["--duration", "60"])
            .current_dir(dir)
            .env("HOME", dir)
            .spawn()
            .unwrap();
        Self {
            child,
            osc: format!("127.0.0.1:{port}"),
        }
    }

    pub fn send(&self, socket: &UdpSocket, packet: &OscPacket) {
        let bytes = rosc::encoder::encode(packet).unwrap();
        socket.send_to(&bytes, &self.osc).unwrap();
    }

    /// A client socket whose reads give up after `wait`.
    pub fn client(wait: Duration) -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(wait)).unwrap();
        socket
    }

    /// `/state` from a new client, asked again until the instrument answers (at most 10 s).
    pub fn first_state(&self) -> Vec<OscMessage> {
        let socket = Self::client(Duration::from_millis(300));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = state(&socket, &self.osc);
            if seen.len() == STATE_MESSAGES || Instant::now() > deadline {
                return seen;
            }
        }
    }

    /// Asks for `/state` until `accept` takes it (at most 10 s); the last replies either way.
    pub fn state_until(&self, accept: impl Fn(&[OscMessage]) -> bool) -> Vec<OscMessage> {
        let socket = Self::client(Duration::from_millis(300));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = state(&socket, &self.osc);
            if accept(&seen) || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Instrument {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
