//! USB MIDI through the ALSA sequencer (midir): every input port is connected, each through its
//! own parser, and a rescan about once a second connects keyboards plugged in later and drops
//! those that went away. The rescan logic ([`Connections`]) only sees the [`PortSystem`] trait, so
//! it is tested without ALSA. It never connects to itself or to the "Midi Through" loopback, and
//! never blocks a reader on the rescan.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use midir::{MidiInput, MidiInputConnection};

use super::{Decoder, EventSink};
use crate::outage::Outage;

/// A keyboard plugged in is playing within two rescans.
const RESCAN_EVERY: Duration = Duration::from_secs(1);
/// The kernel's loopback client, which only echoes what other programs send.
const MIDI_THROUGH: &str = "Midi Through";

#[derive(Debug, thiserror::Error)]
pub enum UsbMidiError {
    #[error("cannot open the ALSA sequencer, so there is no USB MIDI (is the snd-seq kernel module loaded?)")]
    Init,
    #[error("USB MIDI port {port} went away before it could be connected")]
    Vanished { port: String },
    #[error("cannot connect to USB MIDI port {port}: {reason}")]
    Connect { port: String, reason: String },
    #[error("cannot start the USB MIDI rescan thread: {0}")]
    Thread(std::io::Error),
}

/// An input port as the system lists it. With ALSA, `id` is `client:port` and `name` is
/// `client name:port name client:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPort {
    pub id: String,
    pub name: String,
}

/// The system's MIDI input ports, as far as hot-plugging needs them.
pub trait PortSystem {
    /// An open connection, delivering events until it is dropped.
    type Connection;
    /// The input ports there are now.
    fn list(&mut self) -> Vec<ListedPort>;
    fn connect(&mut self, port: &ListedPort) -> Result<Self::Connection, UsbMidiError>;
}

/// What one rescan changed, by port name, for the log.
#[derive(Debug, Default)]
pub struct Rescan {
    pub connected: Vec<String>,
    pub disconnected: Vec<String>,
}

/// The ports connected now, and those that could not be connected, which are tried again at
/// every rescan while they are listed.
#[derive(Debug)]
pub struct Connections<C> {
    own_prefix: String,
    open: Vec<(ListedPort, C)>,
    failing: Vec<(ListedPort, Outage)>,
}

impl<C> Connections<C> {
    /// `own_client` is the sequencer client name this program connects under, whose ports are
    /// never inputs.
    pub fn new(own_client: &str) -> Self {
        Self {
            own_prefix: format!("{own_client}:"),
            open: Vec::new(),
            failing: Vec::new(),
        }
    }

    /// Connects every wanted port not connected yet and drops the connections of ports that are
    /// gone. A port whose id now carries another name counts as gone and new (ALSA reuses client
    /// numbers).
    pub fn rescan<S: PortSystem<Connection = C>>(&mut self, system: &mut S) -> Rescan {
        let listed: Vec<ListedPort> = system
            .list()
            .into_iter()
            .filter(|port| self.wanted(port))
            .collect();
        let mut rescan = Rescan::default();
        self.open.retain(|(port, _)| {
            let present = listed.contains(port);
            if !present {
                rescan.disconnected.push(port.name.clone());
            }
            present
        });
        self.failing.retain(|(port, _)| listed.contains(port));
        for port in listed {
            if self.open.iter().any(|(open, _)| *open == port) {
                continue;
            }
            let failing = self
                .failing
                .iter()
                .position(|(failing, _)| *failing == port);
            match system.connect(&port) {
                Ok(connection) => {
                    if let Some(index) = failing {
                        self.failing.swap_remove(index).1.succeeded();
                    }
                    rescan.connected.push(port.name.clone());
                    self.open.push((port, connection));
                }
                Err(error) => {
                    let index = failing.unwrap_or_else(|| {
                        let outage =
                            Outage::new(format!("USB MIDI port {}", port.name), RESCAN_EVERY);
                        self.failing.push((port, outage));
                        self.failing.len() - 1
                    });
                    self.failing[index].1.failed(&error);
                }
            }
        }
        rescan
    }

    /// The ports connected now.
    pub fn ports(&self) -> impl Iterator<Item = &ListedPort> {
        self.open.iter().map(|(port, _)| port)
    }

    fn wanted(&self, port: &ListedPort) -> bool {
        !port.name.starts_with(MIDI_THROUGH) && !port.name.starts_with(&self.own_prefix)
    }
}

/// The input ports USB MIDI would listen to now (what `run --check` shows), as `client_name`
/// would see them.
pub fn input_ports(client_name: &str) -> Result<Vec<String>, UsbMidiError> {
    let lister = MidiInput::new(client_name).map_err(|_| UsbMidiError::Init)?;
    let connections = Connections::<()>::new(client_name);
    Ok(lister
        .ports()
        .iter()
        .filter_map(|port| {
            let listed = ListedPort {
                id: port.id(),
                name: lister.port_name(port).ok()?,
            };
            connections.wanted(&listed).then_some(listed.name)
        })
        .collect())
}

/// USB MIDI input with hot-plug; dropping it stops the rescans and closes every connection.
#[derive(Debug)]
pub struct UsbMidi {
    stop: mpsc::Sender<()>,
    scanner: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

impl UsbMidi {
    /// Opens the sequencer as `client_name` and starts rescanning; every port's events go to
    /// `sink`, one port at a time.
    pub fn start(client_name: &str, sink: EventSink) -> Result<Self, UsbMidiError> {
        let dropped = Arc::new(AtomicU64::new(0));
        let mut system = AlsaPorts {
            lister: MidiInput::new(client_name).map_err(|_| UsbMidiError::Init)?,
            client_name: client_name.to_owned(),
            sink: Arc::new(Mutex::new(sink)),
            dropped: Arc::clone(&dropped),
        };
        let mut connections = Connections::new(client_name);
        let (stop, stopped) = mpsc::channel();
        let scanner = std::thread::Builder::new()
            .name("midi-usb-rescan".into())
            .spawn(move || loop {
                log(&connections.rescan(&mut system));
                if stopped.recv_timeout(RESCAN_EVERY) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
            })
            .map_err(UsbMidiError::Thread)?;
        Ok(Self {
            stop,
            scanner: Some(scanner),
            dropped,
        })
    }

    /// Bytes the parsers have thrown away so far, all ports together.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for UsbMidi {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(scanner) = self.scanner.take() {
            let _ = scanner.join();
        }
    }
}

fn log(rescan: &Rescan) {
    for name in &rescan.connected {
        tracing::info!("USB MIDI: listening to {name}");
    }
    for name in &rescan.disconnected {
        tracing::info!("USB MIDI: {name} went away");
    }
}

/// The ALSA sequencer through midir. Connecting consumes a `MidiInput`, so each connection gets
/// its own client and the lister stays for the rescans.
struct AlsaPorts {
    lister: MidiInput,
    client_name: String,
    /// Each connection's callback runs on its own thread; the sink takes one event at a time.
    sink: Arc<Mutex<EventSink>>,
    dropped: Arc<AtomicU64>,
}

impl PortSystem for AlsaPorts {
    type Connection = MidiInputConnection<Decoder>;

    fn list(&mut self) -> Vec<ListedPort> {
        self.lister
            .ports()
            .iter()
            .filter_map(|port| {
                // A port that vanished between listing and naming is simply not there.
                let name = self.lister.port_name(port).ok()?;
                Some(ListedPort {
                    id: port.id(),
                    name,
                })
            })
            .collect()
    }

    fn connect(&mut self, port: &ListedPort) -> Result<Self::Connection, UsbMidiError> {
        let input = MidiInput::new(&self.client_name).map_err(|_| UsbMidiError::Init)?;
        let found =
            input
                .find_port_by_id(port.id.clone())
                .ok_or_else(|| UsbMidiError::Vanished {
                    port: port.name.clone(),
                })?;
        let sink = Arc::clone(&self.sink);
        input
            .connect(
                &found,
                "in",
                move |_micros, bytes, decoder: &mut Decoder| {
                    // A sink that panicked once still gets later events.
                    let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
                    decoder.decode(bytes, &mut **sink);
                },
                Decoder::new(Arc::clone(&self.dropped)),
            )
            .map_err(|error| UsbMidiError::Connect {
                port: port.name.clone(),
                reason: error.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::logging::capture;

    /// Ports that come and go as a test says; connections record when they are dropped.
    #[derive(Default)]
    struct FakePorts {
        present: Vec<ListedPort>,
        refuse: Vec<String>,
        connects: usize,
        closed: Rc<RefCell<Vec<String>>>,
    }

    struct FakeConnection {
        name: String,
        closed: Rc<RefCell<Vec<String>>>,
    }

    impl Drop for FakeConnection {
        fn drop(&mut self) {
            self.closed.borrow_mut().push(self.name.clone());
        }
    }

    impl PortSystem for FakePorts {
        type Connection = FakeConnection;

        fn list(&mut self) -> Vec<ListedPort> {
            self.present.clone()
        }

        fn connect(&mut self, port: &ListedPort) -> Result<FakeConnection, UsbMidiError> {
            self.connects += 1;
            if self.refuse.contains(&port.name) {
                return Err(UsbMidiError::Connect {
                    port: port.name.clone(),
                    reason: "busy".into(),
                });
            }
            Ok(FakeConnection {
                name: port.name.clone(),
                closed: Rc::clone(&self.closed),
            })
        }
    }

    fn port(id: &str, name: &str) -> ListedPort {
        ListedPort {
            id: id.into(),
            name: name.into(),
        }
    }

    fn names(connections: &Connections<FakeConnection>) -> Vec<&str> {
        connections.ports().map(|port| port.name.as_str()).collect()
    }

    #[test]
    fn connects_every_input_but_our_own_and_midi_through() {
        let mut system = FakePorts {
            present: vec![
                port("14:0", "Midi Through:Midi Through Port-0 14:0"),
                port("20:0", "Keystation:Keystation MIDI 1 20:0"),
                port("128:0", "open-nsynth:in 128:0"),
                port("24:0", "Pads:Pads MIDI 1 24:0"),
            ],
            ..FakePorts::default()
        };
        let mut connections = Connections::new("open-nsynth");
        let rescan = connections.rescan(&mut system);
        assert_eq!(
            rescan.connected,
            ["Keystation:Keystation MIDI 1 20:0", "Pads:Pads MIDI 1 24:0"]
        );
        assert_eq!(names(&connections), rescan.connected);
        assert_eq!(system.connects, 2);
    }

    #[test]
    fn a_port_plugged_in_later_is_connected_once_and_dropped_when_it_goes() {
        let keyboard = port("20:0", "Keystation:Keystation MIDI 1 20:0");
        let mut system = FakePorts::default();
        let mut connections = Connections::new("open-nsynth");
        assert!(connections.rescan(&mut system).connected.is_empty());

        system.present.push(keyboard.clone());
        assert_eq!(
            connections.rescan(&mut system).connected,
            [keyboard.name.as_str()]
        );
        let unchanged = connections.rescan(&mut system);
        assert!(unchanged.connected.is_empty() && unchanged.disconnected.is_empty());
        assert_eq!(
            system.connects, 1,
            "a connected port is not connected again"
        );

        system.present.clear();
        let rescan = connections.rescan(&mut system);
        assert_eq!(rescan.disconnected, [keyboard.name.as_str()]);
        assert_eq!(*system.closed.borrow(), [keyboard.name]);
        assert!(names(&connections).is_empty());
    }

    #[test]
    fn a_reused_id_with_another_name_is_a_new_port() {
        let mut system = FakePorts {
            present: vec![port("20:0", "Keystation:Keystation MIDI 1 20:0")],
            ..FakePorts::default()
        };
        let mut connections = Connections::new("open-nsynth");
        connections.rescan(&mut system);
        system.present = vec![port("20:0", "Pads:Pads MIDI 1 20:0")];
        let rescan = connections.rescan(&mut system);
        assert_eq!(rescan.disconnected, ["Keystation:Keystation MIDI 1 20:0"]);
        assert_eq!(rescan.connected, ["Pads:Pads MIDI 1 20:0"]);
    }

    #[test]
    fn a_failing_port_is_reported_once_and_retried_until_it_connects() {
        let name = "Keystation:Keystation MIDI 1 20:0";
        let mut system = FakePorts {
            present: vec![port("20:0", name)],
            refuse: vec![name.into()],
            ..FakePorts::default()
        };
        let mut connections = Connections::new("open-nsynth");
        let (first, lines) = capture(|| connections.rescan(&mut system));
        assert!(first.connected.is_empty());
        assert_eq!(
            lines,
            [format!(
                "WARN cannot connect to USB MIDI port {name}: busy; trying again every 1 s"
            )]
        );
        let ((), lines) = capture(|| {
            connections.rescan(&mut system);
        });
        assert!(lines.is_empty(), "{lines:?}");
        assert_eq!(system.connects, 2, "retried at the second rescan");

        system.refuse.clear();
        let (third, lines) = capture(|| connections.rescan(&mut system));
        assert_eq!(third.connected, [name]);
        assert_eq!(names(&connections), [name]);
        assert!(
            lines[0].starts_with(&format!(
                "INFO USB MIDI port {name} works now, after 2 failed attempts"
            )),
            "{lines:?}"
        );
    }

    #[test]
    fn without_a_sequencer_starting_is_an_error_not_a_panic() {
        // Where a sequencer exists this starts for real; either way it must not panic.
        match UsbMidi::start("open-nsynth-test", Box::new(|_| {})) {
            Ok(midi) => assert_eq!(midi.dropped_bytes(), 0),
            Err(error) => {
                assert!(matches!(error, UsbMidiError::Init));
                assert!(error.to_string().contains("ALSA sequencer"));
            }
        }
    }
}
