//! MIDI (serial and USB) and OSC for a session: each starts on its own thread and feeds the
//! engine through its hub and the control loop through its input channel; one that cannot start
//! is logged once and the instrument goes on.
//! USB MIDI is started again every 2 s until the ALSA sequencer is there.

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

/// How long to wait before opening the ALSA sequencer again.
const USB_RETRY: Duration = Duration::from_secs(2);
/// The sequencer client name the instrument's USB MIDI connections use.
pub const MIDI_CLIENT: &str = "open-nsynth";

/// The running MIDI and OSC inputs; dropping it stops those that can be stopped.
pub struct Remotes {
    serial: Option<SerialMidi>,
    _usb: Option<UsbStarter>,
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
        if let Some(serial) = &self.serial {
            summary += &format!(" {} serial MIDI bytes dropped;", serial.dropped_bytes());
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
    let serial = serial.and_then(|path| {
        SerialMidi::open(path, midi.sink(session.hubs.serial.clone()))
            .inspect(|_| tracing::info!("serial MIDI on {}", path.display()))
            .map_err(|error| tracing::warn!("no serial MIDI: {error}"))
            .ok()
    });
    let (usb_routes, usb_hub) = (midi.clone(), session.hubs.usb.clone());
    let usb = UsbStarter::spawn(move || usb_routes.sink(usb_hub.clone()))
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
        serial,
        _usb: usb,
        osc,
        ignored: midi.ignored,
    }
}

/// Keeps trying to start USB MIDI, then holds it; dropping it stops both.
struct UsbStarter {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl UsbStarter {
    fn spawn(sink: impl Fn() -> EventSink + Send + 'static) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("midi-usb-start".into())
            .spawn(move || {
                let mut usb = None;
                let mut outage = Outage::new("USB MIDI", USB_RETRY);
                loop {
                    if usb.is_none() {
                        match UsbMidi::start(MIDI_CLIENT, sink()) {
                            Ok(started) => {
                                outage.succeeded();
                                usb = Some(started);
                            }
                            Err(error) => outage.failed(&error),
                        }
                    }
                    if stopped.recv_timeout(USB_RETRY) != Err(RecvTimeoutError::Timeout) {
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

impl Drop for UsbStarter {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
