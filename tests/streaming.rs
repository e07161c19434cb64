//! Pad streaming under playback: the loader reads from a deliberately slow source while an audio
//! thread keeps calling the engine. The audio thread must never reach the source, must keep
//! rendering while reads are in progress, and the switches must not click.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use open_nsynth::engine::{Action, Command, Engine};
use open_nsynth::pad::{LoadEvent, Loader, PadError, PadSource, PadStreamer, Target};

/// What the slow source saw: which threads called it, and whether a read is under way.
#[derive(Default)]
struct Calls {
    threads: Mutex<Vec<ThreadId>>,
    reading: AtomicBool,
}

/// A pad source that sleeps on every read, like a slow SD card; every sample is `value`.
struct SlowSource {
    value: i16,
    calls: Arc<Calls>,
}

impl PadSource for SlowSource {
    fn read_point(&self, _point: usize, dst: &mut [i16]) -> Result<(), PadError> {
        self.calls
            .threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.calls.reading.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(15));
        dst.fill(self.value);
        self.calls.reading.store(false, Ordering::SeqCst);
        Ok(())
    }
}

fn wait_loaded(streamer: &PadStreamer, pad: &str) {
    loop {
        match streamer.wait_event(Duration::from_secs(10)) {
            Some(LoadEvent::Loaded { pad: loaded }) if loaded == pad => return,
            Some(LoadEvent::Failed { error, .. }) => panic!("{error}"),
            Some(_) => {}
            None => panic!("{pad} never loaded"),
        }
    }
}

#[test]
fn the_audio_thread_never_waits_for_a_slow_pad_and_switches_do_not_click() {
    let calls = Arc::new(Calls::default());
    let opener_calls = Arc::clone(&calls);
    let loader = Loader::new(
        support::layout(),
        false,
        Box::new(move |name| {
            let value = if name == "a.bin" { 10000 } else { -10000 };
            Ok(Box::new(SlowSource {
                value,
                calls: Arc::clone(&opener_calls),
            }) as Box<dyn PadSource>)
        }),
    );
    let (mut engine, link) = Engine::new(support::config(), support::open_knobs());
    let mut commands = engine.command_sender(64);
    let streamer = PadStreamer::spawn(loader, link).unwrap();

    streamer.request(Target {
        pad: "a.bin".into(),
        x: 0.5,
        y: 0.5,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let rendered_while_reading = Arc::new(AtomicUsize::new(0));
    let audio = {
        let (stop, calls, during) = (
            Arc::clone(&stop),
            Arc::clone(&calls),
            Arc::clone(&rendered_while_reading),
        );
        std::thread::spawn(move || {
            let mut output = Vec::with_capacity(48000 * 60);
            let mut block = [0.0f32; 128];
            while !stop.load(Ordering::SeqCst) {
                engine.process(&mut block);
                if calls.reading.load(Ordering::SeqCst) {
                    during.fetch_add(1, Ordering::SeqCst);
                }
                output.extend_from_slice(&block);
                std::thread::sleep(Duration::from_micros(500));
            }
            (std::thread::current().id(), output)
        })
    };
    wait_loaded(&streamer, "a.bin");
    commands
        .push(Command::now(Action::NoteOn {
            note: 60,
            velocity: 1.0,
        }))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    for switch in 0..8 {
        let pad = if switch % 2 == 0 { "b.bin" } else { "a.bin" };
        let x = [0.0, 0.5, 1.0][switch % 3];
        streamer.request(Target {
            pad: pad.into(),
            x,
            y: 0.5,
        });
        wait_loaded(&streamer, pad);
        std::thread::sleep(Duration::from_millis(40));
    }
    stop.store(true, Ordering::SeqCst);
    let (audio_thread, output) = audio.join().unwrap();
    drop(streamer);

    let readers = calls.threads.lock().unwrap();
    assert!(
        readers.len() > 8,
        "the slow source was read ({} reads)",
        readers.len()
    );
    assert!(
        !readers.contains(&audio_thread),
        "the audio thread read the pad source"
    );
    assert!(
        rendered_while_reading.load(Ordering::SeqCst) > 10,
        "the audio thread kept rendering during slow reads"
    );
    // Levels: 10000/32767 on pad a, the opposite on pad b. Every change is a ramp (envelope slew,
    // 256-frame handover fades, which may overlap when switches follow closely), never a jump: no
    // step between frames comes near the full swing of 2 × level.
    let level = 10000.0 / 32767.0;
    let largest_step = output
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max);
    assert!(
        largest_step <= level / 64.0,
        "click: a step of {largest_step}"
    );
    // The loop crossfades lift DC material by up to 1.44 (the original's curve), hence the range.
    let last = *output.last().unwrap();
    assert!(
        last > 0.99 * level && last < 1.45 * level,
        "ends on pad a: {last}"
    );
    assert!(output.iter().any(|&s| s < -0.99 * level), "pad b was heard");
}
