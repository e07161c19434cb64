//! MIDI (serial and USB) and OSC for a session: each starts on its own thread and feeds the
//! engine through its hub and the control loop through its input channel; one that cannot start
//! is logged once and the instrument goes on.
//! Serial and USB MIDI are started again every 2 s until they start: at boot the serial port may
//! not yet be the service's (udev sets its group after the instrument started), and the ALSA
//! sequencer may not be there yet.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{CommandHub, OscRoutes, Session};
use crate::input::Input;
use crate::midi::{EventSink, Meaning, MidiMapping, SerialMidi, UsbMidi};
use crate::osc::OscServer;
use crate::outage::Outage;

/// How long to wait before opening the serial port or the ALSA sequencer again.
const MIDI_RETRY: Duration = Duration::from_secs(2);
/// The sequencer client name the instrument's USB MIDI connections use.
pub const MIDI_CLIENT: &str = "open-nsynth";

/// The running MIDI and OSC inputs; dropping it stops those that can be stopped.
pub struct Remotes {
    /// Bytes the serial MIDI parser threw away, when there is a serial port.
    serial_dropped: Option<Arc<AtomicU64>>,
    _serial: Option<Starter>,
    _usb: Option<Starter>,
    pub osc: Option<OscServer>,
    /// MIDI events the instrument does not act on, from either MIDI input.
    ignored: Arc<AtomicU64>,
}

impl Remotes {
    /// What the inputs have thrown away so far, for the health line.
    pub fn dropped_summary(&self) -> String {
        let mut summary = String::new();
        let ignored = self.ignored.load(Ordering::Relaxed);
        if ignored > 0 {
            summary += &format!(" {ignored} MIDI program changes above 3 ignored;");
        }
        if let Some(dropped) = &self.serial_dropped {
            let dropped = dropped.load(Ordering::Relaxed);
            summary += &format!(" {dropped} serial MIDI bytes dropped;");
        }
        if let Some(osc) = &self.osc {
            let counts = osc.counts();
            summary += &format!(
                " OSC {} handled, {} rejected, {} undelivered;",
                counts.handled,
                counts.rejected(),
                counts.undelivered
            );
        }
        summary
    }
}

/// Where MIDI events go, by their meaning: played into the engine's hub, or moved on to the
/// control loop, or counted as ignored.
#[derive(Clone)]
struct MidiRoutes {
    mapping: MidiMapping,
    controls: Sender<Input>,
    ignored: Arc<AtomicU64>,
}

impl MidiRoutes {
    /// A sink for one MIDI input, playing into `hub`.
    fn sink(&self, hub: CommandHub) -> EventSink {
        let routes = self.clone();
        Box::new(move |event| match routes.mapping.meaning(&event) {
            Some(Meaning::Play(action)) => {
                hub.send(action);
            }
            Some(Meaning::Control(input)) => {
                // Only fails once the session has ended.
                let _ = routes.controls.send(input);
            }
            Some(Meaning::Ignored) => {
                routes.ignored.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        })
    }
}

/// Starts USB MIDI, serial MIDI from `serial` (if given) and OSC for `session`.
pub fn start(session: &Session, serial: Option<&Path>) -> Remotes {
    let settings = &session.settings;
    let midi = MidiRoutes {
        mapping: MidiMapping::from_settings(&settings.midi),
        controls: session.input_sender.clone(),
        ignored: Arc::default(),
    };
    let serial_dropped = serial.map(|_| Arc::new(AtomicU64::new(0)));
    let serial = serial.and_then(|path| {
        let (path, routes, hub) = (path.to_owned(), midi.clone(), session.hubs.serial.clone());
        let dropped = Arc::clone(serial_dropped.as_ref().expect("made with the path"));
        Starter::spawn("midi-serial-start", "serial MIDI", move || {
            let sink = routes.sink(hub.clone());
            SerialMidi::open_counting(&path, sink, Arc::clone(&dropped))
                .map(|port| {
                    tracing::info!("serial MIDI on {}", path.display());
                    Box::new(port) as Box<dyn Send>
                })
                .map_err(|error| format!("no serial MIDI: {error}"))
        })
        .map_err(|error| tracing::warn!("no serial MIDI: cannot start its thread: {error}"))
        .ok()
    });
    let (usb_routes, usb_hub) = (midi.clone(), session.hubs.usb.clone());
    let usb = Starter::spawn("midi-usb-start", "USB MIDI", move || {
        UsbMidi::start(MIDI_CLIENT, usb_routes.sink(usb_hub.clone()))
            .map(|usb| Box::new(usb) as Box<dyn Send>)
            .map_err(|error| error.to_string())
    })
    .map_err(|error| tracing::warn!("no USB MIDI: cannot start its thread: {error}"))
    .ok();
    let address = SocketAddr::new(settings.osc_address, settings.osc_port);
    let routes = OscRoutes {
        hub: session.hubs.osc.clone(),
        controls: session.input_sender.clone(),
        state: session.state.clone(),
    };
    let osc = OscServer::spawn(address, routes)
        .inspect(|server| tracing::info!("OSC on udp {}", server.local_addr()))
        .map_err(|error| tracing::warn!("no OSC: {error}"))
        .ok();
    Remotes {
        serial_dropped,
        _serial: serial,
        _usb: usb,
        osc,
        ignored: midi.ignored,
    }
}

/// Keeps trying to start an input (every [`MIDI_RETRY`], its failures logged once), then holds
/// it; dropping it stops both.
struct Starter {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Starter {
    fn spawn(
        name: &str,
        what: &'static str,
        mut start: impl FnMut() -> Result<Box<dyn Send>, String> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut started = None;
                let mut outage = Outage::new(what, MIDI_RETRY);
                loop {
                    if started.is_none() {
                        match start() {
                            Ok(input) => {
                                outage.succeeded();
                                started = Some(input);
                            }
                            Err(error) => outage.failed(&error),
                        }
                    }
                    if stopped.recv_timeout(MIDI_RETRY) != Err(RecvTimeoutError::Timeout) {
                        return;
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Starter {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
