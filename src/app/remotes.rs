//! MIDI (serial and USB) and OSC for a session: each starts on its own thread and feeds the
//! engine through its hub; one that cannot start is logged once and the instrument goes on.

use std::net::SocketAddr;
use std::path::Path;

use super::{CommandHub, OscRoutes, Session};
use crate::midi::{self, ChannelFilter, EventSink, SerialMidi, UsbMidi};
use crate::osc::OscServer;
use crate::settings::Settings;

/// The running MIDI and OSC inputs; dropping it stops those that can be stopped.
pub struct Remotes {
    _serial: Option<SerialMidi>,
    _usb: Option<UsbMidi>,
    pub osc: Option<OscServer>,
}

/// A MIDI event sink that plays the settings' channel(s) into `hub`.
fn midi_sink(settings: &Settings, hub: CommandHub) -> EventSink {
    let channels = ChannelFilter::from_settings(&settings.midi);
    let range = settings.midi.pitch_bend_range;
    Box::new(move |event| {
        if let Some(action) = midi::to_action(&event, channels, range) {
            hub.send(action);
        }
    })
}

/// Starts USB MIDI, serial MIDI from `serial` (if given) and OSC for `session`.
pub fn start(session: &Session, serial: Option<&Path>) -> Remotes {
    let settings = &session.settings;
    let serial = serial.and_then(|path| {
        SerialMidi::open(path, midi_sink(settings, session.hubs.serial.clone()))
            .inspect(|_| tracing::info!("serial MIDI on {}", path.display()))
            .map_err(|error| tracing::warn!("no serial MIDI: {error}"))
            .ok()
    });
    let usb = UsbMidi::start("open-nsynth", midi_sink(settings, session.hubs.usb.clone()))
        .map_err(|error| tracing::warn!("no USB MIDI: {error}"))
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
        _serial: serial,
        _usb: usb,
        osc,
    }
}
