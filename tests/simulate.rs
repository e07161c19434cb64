//! `open-nsynth simulate` end to end: scripted sessions rendered to WAV, screenshots, patch
//! gestures saved to disk, and OSC over loopback while the instrument runs: requests, `/state`,
//! subscriptions and bundles that must change nothing.

#![cfg(feature = "device")]

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use open_nsynth::osc::STATE_MESSAGES;
use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};

mod support;

use support::instrument::{demo, osc_message, osc_on_a_free_port, state, Instrument};

fn simulate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_open-nsynth"))
        .arg("simulate")
        .args(["--settings", "demo/settings.json", "--headless"])
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn wav(path: &Path) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_scripted_session_plays_saves_a_patch_and_takes_screenshots() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let script = "0.1 touch 0 0\n0.2 note-on 60 127\n0.5 screenshot home.pbm\n0.6 knob 5 255\n\
                  1.0 note-off 60\n1.1 button 2 down\n1.95 screenshot saved.pbm\n2.0 button 2 up\n\
                  3.0 quit\n";
    std::fs::write(dir.path().join("script.txt"), script).unwrap();
    let output = simulate(dir.path(), &["--wav", "out.wav", "--script", "script.txt"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Three simulated seconds of stereo sound, silent before the note and sounding after it.
    let samples = wav(&dir.path().join("out.wav"));
    assert_eq!(samples.len(), 2 * 3 * 48000);
    assert!(samples[..2 * 9000].iter().all(|&s| s == 0));
    assert!(samples[2 * 12000..2 * 48000]
        .iter()
        .any(|&s| s.unsigned_abs() > 1000));

    // Holding patch button 3 for 0.9 s saved slot 3 with the touched grid position.
    let patches = std::fs::read_to_string(dir.path().join("demo/patches.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&patches).unwrap();
    assert_eq!(json["patches"][2]["grid"], serde_json::json!([0.0, 0.0]));
    assert_eq!(json["patches"][2]["instruments"][0], "demo-flute");

    // The screenshots are PBM images of the screen: the home grid, then the saved band while the
    // button is still held.
    let home = std::fs::read_to_string(dir.path().join("home.pbm")).unwrap();
    assert!(home.starts_with("P1\n128 64\n"));
    let lit = |image: &str| {
        image
            .lines()
            .skip(2)
            .flat_map(|l| l.split(' '))
            .filter(|p| *p == "1")
            .count()
    };
    assert!(lit(&home) > 121, "particles and labels are drawn");
    let saved = std::fs::read_to_string(dir.path().join("saved.pbm")).unwrap();
    assert!(
        lit(&saved) > 128 * 20 - 200,
        "the solid band of a saved patch"
    );
}

#[test]
fn the_same_script_renders_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let script = "0 note-on 48 100\n0.2 encoder 1 1\n0.4 note-on 55 90\n0.6 grid 0.8 0.1\n1 note-off 48\n1.5 quit\n";
    std::fs::write(dir.path().join("s.txt"), script).unwrap();
    simulate(dir.path(), &["--wav", "a.wav", "--script", "s.txt"]);
    simulate(dir.path(), &["--wav", "b.wav", "--script", "s.txt"]);
    let a = std::fs::read(dir.path().join("a.wav")).unwrap();
    assert!(a.len() > 100_000);
    assert_eq!(a, std::fs::read(dir.path().join("b.wav")).unwrap());
}

#[test]
fn a_bad_script_line_is_reported_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    std::fs::write(dir.path().join("s.txt"), "0 touch 1 1\n1 knob 7 3\n").unwrap();
    let output = simulate(dir.path(), &["--wav", "a.wav", "--script", "s.txt"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("s.txt:2: `7` is not a whole number 0–5"),
        "{}",
        stderr(&output)
    );
}

/// Sends `/grid 0.25 1` until `/state` shows it (at most 5 s); returns the last `/state` replies.
fn grid_reaches_state(port: u16) -> Vec<OscMessage> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let to = format!("127.0.0.1:{port}");
    let grid = rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: "/grid".into(),
        args: vec![OscType::Float(0.25), OscType::Float(1.0)],
    }))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        socket.send_to(&grid, &to).unwrap();
        seen = state(&socket, &to);
        if seen
            .first()
            .is_some_and(|m| m.args == [OscType::Float(0.25), OscType::Float(1.0)])
        {
            break;
        }
    }
    seen
}

#[test]
fn osc_reaches_the_running_instrument_and_state_answers() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let port = osc_on_a_free_port(dir.path());
    std::fs::write(dir.path().join("s.txt"), "6 quit\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_open-nsynth"))
        .args([
            "simulate",
            "--settings",
            "demo/settings.json",
            "--headless",
            "--script",
            "s.txt",
        ])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .spawn()
        .unwrap();
    let seen = grid_reaches_state(port);
    let _ = child.wait();
    let addresses: Vec<&str> = seen.iter().map(|m| m.addr.as_str()).collect();
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
    assert_eq!(seen[0].args, [OscType::Float(0.25), OscType::Float(1.0)]);
    assert_eq!(seen[2].args[3], OscType::String("demo-bell".into()));
}

#[test]
fn run_on_the_desktop_board_is_the_headless_instrument() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let port = osc_on_a_free_port(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_open-nsynth"))
        .args([
            "run",
            "--settings",
            "demo/settings.json",
            "--board",
            "desktop",
        ])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let seen = grid_reaches_state(port);
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(seen.len(), STATE_MESSAGES);
    assert_eq!(seen[0].args, [OscType::Float(0.25), OscType::Float(1.0)]);
}

fn grid(x: f32, y: f32) -> OscPacket {
    osc_message("/grid", vec![OscType::Float(x), OscType::Float(y)])
}

/// Reads `socket` until `/state/grid x y` arrives; false if it does not by `deadline`.
fn hears_grid(socket: &UdpSocket, x: f32, y: f32, deadline: Instant) -> bool {
    let expected = [OscType::Float(x), OscType::Float(y)];
    let mut buffer = [0u8; 1024];
    while Instant::now() < deadline {
        let Ok((size, _)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        if let Ok((_, OscPacket::Message(message))) = rosc::decoder::decode_udp(&buffer[..size]) {
            if message.addr == "/state/grid" && message.args == expected {
                return true;
            }
        }
    }
    false
}

#[test]
fn a_subscriber_hears_another_clients_grid_move() {
    let dir = tempfile::tempdir().unwrap();
    let instrument = Instrument::start(dir.path());
    assert_eq!(
        instrument.first_state().len(),
        STATE_MESSAGES,
        "the instrument answers"
    );
    let a = Instrument::client(Duration::from_millis(20));
    let b = Instrument::client(Duration::from_millis(20));
    instrument.send(&a, &osc_message("/subscribe", vec![]));

    // Until the control loop runs, a move is not acted on: B moves the grid until A hears it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut warm = false;
    while !warm && Instant::now() < deadline {
        instrument.send(&b, &grid(0.75, 0.25));
        warm = hears_grid(&a, 0.75, 0.25, Instant::now() + Duration::from_millis(300));
    }
    assert!(warm, "A never heard B's first move");

    let sent = Instant::now();
    instrument.send(&b, &grid(0.25, 0.75));
    let heard = hears_grid(&a, 0.25, 0.75, sent + Duration::from_secs(1));
    let latency = sent.elapsed();
    println!(
        "subscription latency: {:.1} ms",
        latency.as_secs_f64() * 1000.0
    );
    assert!(
        heard,
        "A did not hear /state/grid 0.25 0.75 within a second"
    );
}

#[test]
fn a_bundle_with_a_bad_message_changes_nothing_in_the_instrument() {
    let dir = tempfile::tempdir().unwrap();
    let instrument = Instrument::start(dir.path());
    let before = instrument.first_state();
    assert_eq!(before.len(), STATE_MESSAGES, "the instrument answers");
    let knobs = |state: &[OscMessage]| match state[1].args[..] {
        [_, _, _, _, OscType::Float(release), _] => release,
        ref other => panic!("unexpected /state/knobs {other:?}"),
    };
    // A release the knob does not have yet, which a later /state can show.
    let release = if knobs(&before) > 0.5 { 0.0 } else { 1.0 };

    let client = Instrument::client(Duration::from_millis(300));
    let bad = OscPacket::Bundle(OscBundle {
        timetag: OscTime::from((0, 1)),
        content: vec![
            grid(0.25, 0.75),
            osc_message("/release", vec![OscType::Float(2.0)]),
        ],
    });
    instrument.send(&client, &bad);
    // Acted on after the bundle, in order: once it shows, the bundle would have shown too.
    instrument.send(
        &client,
        &osc_message("/release", vec![OscType::Float(release)]),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = state(&client, &instrument.osc);
    while (after.len() < 4 || knobs(&after) != release) && Instant::now() < deadline {
        after = state(&client, &instrument.osc);
    }
    assert_eq!(knobs(&after), release, "the later /release arrived");
    assert_eq!(after[0], before[0], "the bundle's /grid was not applied");
}

#[test]
fn scripted_midi_moves_the_instrument_as_a_controller_would() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    // The note is held by the pedal past its note-off; CC 7 = 0 silences it at 1 s.
    let script = "0 note-on 60 127\n0.1 pedal down\n0.2 note-off 60\n0.3 bend 8191\n\
                  0.4 program 7\n1 cc 7 0\n1.5 quit\n";
    std::fs::write(dir.path().join("s.txt"), script).unwrap();
    let output = simulate(dir.path(), &["--wav", "a.wav", "--script", "s.txt"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let samples = wav(&dir.path().join("a.wav"));
    let loud = |from: f64, to: f64| {
        samples[(2.0 * from * 48000.0) as usize..(2.0 * to * 48000.0) as usize]
            .iter()
            .any(|&s| s.unsigned_abs() > 300)
    };
    assert!(loud(0.5, 0.95), "the pedal holds the note");
    assert!(!loud(1.1, 1.5), "CC 7 = 0 turned the volume down");
}
