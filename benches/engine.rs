//! Engine benchmarks (run with `cargo bench --bench engine`); each prints the figure it exists for.
//!
//! 1. ns per voice-sample with 8, 32 and 64 held looping voices, 128-frame buffers at 48 kHz,
//!    and the real-time factor (audio seconds per second of one core).
//! 2. Worst-case callback time while the pad is switched 100 times under playback, with the
//!    loader thread reading real pad files.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use open_nsynth::demo::{demo_layout, pad_bytes};
use open_nsynth::engine::{Action, Command, Engine, EngineConfig, Knobs};
use open_nsynth::pad::{Bank, LoadEvent, Loader, PadStreamer, PointRows, Selection, Target};

const RATE: u32 = 48000;
const BLOCK: usize = 128;
const RUNS: usize = 9;

fn config(length: usize) -> EngineConfig {
    EngineConfig {
        soft_limit: 64,
        hard_limit: 64,
        ..EngineConfig::new(demo_layout(length), 16000, RATE)
    }
}

fn knobs() -> Knobs {
    Knobs {
        position: 0.0,
        attack: 0.0,
        decay: 0.3,
        sustain: 0.8,
        release: 0.5,
        volume: 0.2,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A bank with one resident grid point of harmonic-rich rows at the real row length.
fn voice_bank() -> Arc<Bank> {
    let layout = demo_layout(60000);
    let samples: Vec<i16> = (0..layout.point_samples())
        .map(|i| {
            let t = (i % layout.length) as f32 / 16000.0;
            (8000.0 * (t * 1234.5).sin() + 3000.0 * (t * 4321.0).sin()) as i16
        })
        .collect();
    let mut points: Vec<Option<Arc<PointRows>>> = vec![None; layout.points()];
    points[40] = Some(Arc::new(PointRows {
        samples: samples.into(),
    }));
    Arc::new(Bank {
        generation: 1,
        points: points.into(),
        selection: Selection::point(40),
    })
}

fn voices_benchmark(voices: usize) -> (f64, f64) {
    let bank = voice_bank();
    let mut per_voice_sample = Vec::new();
    let mut realtime = Vec::new();
    for _ in 0..RUNS {
        let (mut engine, mut link) = Engine::new(config(60000), knobs());
        let mut commands = engine.command_sender(256);
        link.banks.push(Arc::clone(&bank)).unwrap();
        for v in 0..voices {
            let note = 30 + (v * 7 % 60) as u8;
            commands
                .push(Command::now(Action::NoteOn {
                    note,
                    velocity: 0.8,
                }))
                .unwrap();
        }
        let mut out = [0.0f32; BLOCK];
        // Past the attack, so every voice is a steady held loop.
        for _ in 0..100 {
            engine.process(&mut out);
        }
        assert_eq!(
            engine.status().voices.load(Ordering::Relaxed) as usize,
            voices
        );
        let blocks = 750; // 2 s of audio
        let start = Instant::now();
        for _ in 0..blocks {
            engine.process(&mut out);
            std::hint::black_box(&out);
        }
        let elapsed = start.elapsed().as_secs_f64();
        per_voice_sample.push(elapsed * 1e9 / (blocks * BLOCK * voices) as f64);
        realtime.push((blocks * BLOCK) as f64 / f64::from(RATE) / elapsed);
    }
    (median(per_voice_sample), median(realtime))
}

fn pad_switch_benchmark() -> (f64, f64, f64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let layout = demo_layout(16000);
    let bytes = pad_bytes(&layout);
    std::fs::write(dir.path().join("a.bin"), &bytes).unwrap();
    let flipped: Vec<u8> = bytes
        .chunks(2)
        .flat_map(|s| (-i16::from_le_bytes([s[0], s[1]])).to_le_bytes())
        .collect();
    std::fs::write(dir.path().join("b.bin"), flipped).unwrap();

    let config = EngineConfig {
        soft_limit: 32,
        hard_limit: 40,
        ..config(16000)
    };
    let loader = Loader::for_directory(layout, false, dir.path().to_path_buf());
    let (mut engine, link) = Engine::new(config, knobs());
    let mut commands = engine.command_sender(256);
    let streamer = PadStreamer::spawn(loader, link).unwrap();
    let wait = |pad: &str| loop {
        match streamer.wait_event(Duration::from_secs(10)) {
            Some(LoadEvent::Loaded { pad: p }) if p == pad => return,
            Some(LoadEvent::Failed { error, .. }) => panic!("{error}"),
            Some(_) => {}
            None => panic!("no load"),
        }
    };
    streamer.request(Target {
        pad: "a.bin".into(),
        x: 0.5,
        y: 0.5,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let audio = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let period = Duration::from_secs_f64(BLOCK as f64 / f64::from(RATE));
            let mut times = Vec::with_capacity(200_000);
            let mut out = [0.0f32; BLOCK];
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                engine.process(&mut out);
                times.push(start.elapsed().as_secs_f64() * 1e6);
                next += period;
                if let Some(rest) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(rest);
                }
            }
            times
        })
    };
    wait("a.bin");
    for note in [
        48, 52, 55, 60, 64, 67, 72, 76, 36, 40, 43, 79, 84, 50, 57, 62,
    ] {
        commands
            .push(Command::now(Action::NoteOn {
                note,
                velocity: 0.7,
            }))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    for switch in 0..100 {
        let pad = if switch % 2 == 0 { "b.bin" } else { "a.bin" };
        let x = (switch % 11) as f32 / 10.0;
        let y = (switch * 7 % 11) as f32 / 10.0;
        streamer.request(Target {
            pad: pad.into(),
            x,
            y,
        });
        wait(pad);
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let times = audio.join().unwrap();
    let count = times.len();
    let worst = times.iter().copied().fold(0.0, f64::max);
    let mut sorted = times;
    sorted.sort_by(f64::total_cmp);
    let p999 = sorted[sorted.len() * 999 / 1000];
    (worst, p999, median(sorted), count)
}

fn main() {
    // `cargo test --benches` runs this binary too; do the work only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!(
        "engine: {BLOCK}-frame buffers at {RATE} Hz, held looping voices, median of {RUNS} runs"
    );
    for voices in [8, 32, 64] {
        let (ns, realtime) = voices_benchmark(voices);
        println!(
            "  {voices:>2} voices: {ns:.2} ns per voice-sample, real-time factor {realtime:.0}x ({:.1}% of one core)",
            100.0 / realtime
        );
    }
    let (worst, p999, median, callbacks) = pad_switch_benchmark();
    let budget = BLOCK as f64 / f64::from(RATE) * 1e6;
    println!(
        "pad switching: 100 switches under 16 voices, {callbacks} callbacks: worst {worst:.1} us, \
         99.9th percentile {p999:.1} us, median {median:.1} us (budget {budget:.0} us)"
    );
}
