//! The instrument played from a MIDI controller end to end: serial MIDI through a pseudo-terminal
//! into the running simulator, watched over OSC `/state`. Mapped control changes move the knobs
//! and the grid, a program change loads a patch, and MIDI learn maps a new CC, saves the map
//! beside the patch file and keeps it in force after a restart.

#![cfg(feature = "device")]

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use open_nsynth::patch::{Patch, PatchStore};
use rosc::{OscMessage, OscType};

mod support;

use support::instrument::{demo, edit_settings, osc_message, Instrument};

/// The MIDI cable: the end the test writes to, and the terminal the instrument opens (held open
/// so the terminal stays there between instruments).
struct Cable {
    plug: File,
    _terminal: OwnedFd,
    path: PathBuf,
}

impl Cable {
    fn new() -> Self {
        let pty = nix::pty::openpty(None, None).unwrap();
        let path = nix::unistd::ttyname(&pty.slave).unwrap();
        Self {
            plug: File::from(pty.master),
            _terminal: pty.slave,
            path,
        }
    }

    /// Sends raw MIDI bytes.
    fn send(&mut self, bytes: &[u8]) {
        self.plug.write_all(bytes).unwrap();
        self.plug.flush().unwrap();
    }

    /// CC `controller` = `value` on MIDI channel 1.
    fn control(&mut self, controller: u8, value: u8) {
        self.send(&[0xB0, controller, value]);
    }
}

fn floats(message: &OscMessage) -> Vec<f32> {
    message
        .args
        .iter()
        .filter_map(|arg| match arg {
            OscType::Float(value) => Some(*value),
            _ => None,
        })
        .collect()
}

/// The volume knob in a `/state` reply (the last of `/state/knobs`).
fn volume(state: &[OscMessage]) -> Option<f32> {
    state
        .iter()
        .find(|m| m.addr == "/state/knobs")
        .and_then(|m| floats(m).get(5).copied())
}

fn grid(state: &[OscMessage]) -> Option<Vec<f32>> {
    state.iter().find(|m| m.addr == "/state/grid").map(floats)
}

fn patch(state: &[OscMessage]) -> Option<i32> {
    state
        .iter()
        .find(|m| m.addr == "/state/patch")
        .and_then(|m| match m.args[..] {
            [OscType::Int(slot)] => Some(slot),
            _ => None,
        })
}

/// The demo in `dir`, its serial MIDI on `cable`, and a patch in slot 2 at the grid's far corner;
/// the instrument started on it, once it answers.
fn instrument_on(dir: &std::path::Path, cable: &Cable) -> Instrument {
    demo(dir);
    edit_settings(dir, |settings| {
        settings["midi"]["device"] = cable.path.to_string_lossy().into();
    });
    let mut patches = PatchStore::new(dir.join("demo/patches.json"));
    patches.slots[1] = Some(Patch {
        instruments: ["demo-flute", "demo-brass", "demo-reed", "demo-bell"].map(String::from),
        grid: [1.0, 1.0],
        ..Patch::default()
    });
    patches.save().unwrap();
    let instrument = Instrument::start_on(dir);
    assert!(
        volume(&instrument.first_state()).is_some(),
        "the instrument answers"
    );
    instrument
}

#[test]
fn serial_midi_moves_mapped_controls_and_program_change_loads_a_patch() {
    let dir = tempfile::tempdir().unwrap();
    let mut cable = Cable::new();
    let instrument = instrument_on(dir.path(), &cable);

    // CC 7 is volume and CC 16 is gridX by default.
    cable.control(7, 0);
    let seen = instrument.state_until(|state| volume(state) == Some(0.0));
    assert_eq!(volume(&seen), Some(0.0), "CC 7 = 0 turns the volume down");
    cable.control(7, 127);
    let seen = instrument.state_until(|state| volume(state) == Some(1.0));
    assert_eq!(volume(&seen), Some(1.0), "CC 7 = 127 turns it up");
    cable.control(16, 127);
    let seen = instrument.state_until(|state| grid(state).is_some_and(|g| g[0] == 1.0));
    assert_eq!(grid(&seen).map(|g| g[0]), Some(1.0), "CC 16 moves gridX");

    // Program 1 is patch 2.
    cable.send(&[0xC0, 1]);
    let seen = instrument.state_until(|state| patch(state) == Some(2));
    assert_eq!(patch(&seen), Some(2));
    assert_eq!(grid(&seen), Some(vec![1.0, 1.0]), "the patch's grid");
}

#[test]
fn a_learned_control_is_saved_beside_the_patches_and_kept_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cable = Cable::new();
    let instrument = instrument_on(dir.path(), &cable);

    let client = Instrument::client(Duration::from_millis(300));
    let learn = osc_message("/learn", vec![OscType::String("volume".into())]);
    let map = dir.path().join("demo/midi-map.json");
    // The OSC request and the MIDI bytes take different threads: CC 21 is sent until it has been
    // taken (and saved), and any sent after that just moves the volume.
    instrument.send(&client, &learn);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !map.exists() && Instant::now() < deadline {
        cable.control(21, 64);
        std::thread::sleep(Duration::from_millis(100));
    }
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&map).unwrap()).unwrap();
    assert_eq!(saved["volume"], 21);
    let settings = std::fs::read_to_string(dir.path().join("demo/settings.json")).unwrap();
    assert!(!settings.contains("\"cc\""), "settings.json untouched");

    cable.control(21, 0);
    let seen = instrument.state_until(|state| volume(state) == Some(0.0));
    assert_eq!(volume(&seen), Some(0.0), "CC 21 sets the volume now");
    // CC 7 no longer does: once the grid move after it shows, it has been handled.
    cable.control(7, 127);
    cable.control(16, 0);
    let seen = instrument.state_until(|state| grid(state).is_some_and(|g| g[0] == 0.0));
    assert_eq!(volume(&seen), Some(0.0), "CC 7 was unmapped");
    drop(instrument);

    let restarted = Instrument::start_on(dir.path());
    assert!(
        volume(&restarted.first_state()).is_some(),
        "the instrument answers again"
    );
    cable.control(21, 127);
    let seen = restarted.state_until(|state| volume(state) == Some(1.0));
    assert_eq!(
        volume(&seen),
        Some(1.0),
        "the learned map is in force after the restart"
    );
}
