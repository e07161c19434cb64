//! The audio callback's contract, checked: `Engine::process` never allocates or frees, whatever
//! it is asked to do (notes, stealing, releases, parameter moves, pad handovers, bank retirement).

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use open_nsynth::engine::{Action, Command, Engine, Param};
use open_nsynth::pad::{Bank, PointRows, Selection};

/// Counts allocations and frees made on a thread while its `WATCHING` flag is set, in that
/// thread's own count: the harness runs the tests side by side, and another test's
/// allocations are not the callback's.
struct CountingAllocator;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static EVENTS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if WATCHING.try_with(Cell::get).unwrap_or(false) {
        let _ = EVENTS.try_with(|events| events.set(events.get() + 1));
    }
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many allocations and frees it made on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = EVENTS.with(Cell::get);
    WATCHING.with(|w| w.set(true));
    f();
    WATCHING.with(|w| w.set(false));
    EVENTS.with(Cell::get) - before
}

fn bank(generation: u64, value: i16, selection: Selection) -> Arc<Bank> {
    let layout = support::layout();
    let points = (0..layout.points())
        .map(|_| {
            Some(Arc::new(PointRows {
                samples: vec![value; layout.point_samples()].into(),
            }))
        })
        .collect();
    Arc::new(Bank {
        generation,
        points,
        selection,
    })
}

#[test]
fn the_counting_allocator_sees_allocations() {
    assert!(allocations_in(|| drop(vec![1u8; 16])) >= 2);
}

#[test]
fn process_never_allocates_or_frees() {
    let (mut engine, mut link) = Engine::new(support::config(), support::open_knobs());
    let mut commands = engine.command_sender(1024);
    let blended = Selection::blend(&[(0, 0.5), (4, 0.5)]);
    let banks: Vec<Arc<Bank>> = (1..=12)
        .map(|g| {
            bank(
                g,
                if g % 2 == 0 { 8000 } else { -8000 },
                if g % 3 == 0 {
                    blended
                } else {
                    Selection::point(4)
                },
            )
        })
        .collect();
    let mut out = vec![0.0f32; 128];
    let mut retired = Vec::with_capacity(64);
    let mut total = 0;
    let mut most_voices = 0;
    let mut next_bank = banks.iter();
    for block in 0..2000u64 {
        // The producing side (not the audio thread) queues work for this block.
        let at = block * 128;
        if block % 150 == 0 {
            if let Some(b) = next_bank.next() {
                let _ = link.banks.push(Arc::clone(b));
            }
        }
        let note = (block % 90) as u8 + 10;
        let _ = commands.push(Command {
            at: at + 3,
            action: Action::NoteOn {
                note,
                velocity: 0.9,
            },
        });
        let _ = commands.push(Command {
            at: at + 64,
            action: Action::NoteOff {
                note: note.wrapping_sub(20),
            },
        });
        let _ = commands.push(Command {
            at: at + 90,
            action: Action::Set(Param::Release, (block % 10) as f32 / 10.0),
        });
        if block % 7 == 0 {
            let _ = commands.push(Command {
                at: at + 100,
                action: Action::Set(Param::Volume, (block % 5) as f32 / 4.0),
            });
        }
        if block % 500 == 499 {
            let _ = commands.push(Command {
                at: at + 5,
                action: Action::AllSoundOff,
            });
        }
        if block % 333 == 0 {
            let _ = commands.push(Command {
                at: at + 7,
                action: Action::AllNotesOff,
            });
        }
        total += allocations_in(|| engine.process(&mut out));
        most_voices = most_voices.max(engine.status().voices.load(Ordering::Relaxed));
        while let Ok(bank) = link.retired.pop() {
            retired.push(bank);
        }
    }
    assert_eq!(total, 0, "process allocated or freed {total} times");
    assert!(
        retired.len() >= 8,
        "banks were handed over and retired ({})",
        retired.len()
    );
    assert!(
        most_voices > 32,
        "the voice limits were exercised ({most_voices} voices)"
    );
}

/// The sound card's callback around the engine (the choke point that times itself, and asks for
/// real-time priority at its first call) adds no allocation either, whatever period the card
/// asks for.
#[cfg(feature = "device")]
#[test]
fn the_sound_cards_callback_never_allocates_or_frees() {
    use open_nsynth::audio::RealTime;
    let (engine, mut link) = Engine::new(support::config(), support::open_knobs());
    let _ = link.banks.push(bank(1, 8000, Selection::point(4)));
    let mut callback = open_nsynth::audio::Callback::new(engine, 2, 48_000).asking_real_time();
    assert_eq!(callback.stats().real_time(), RealTime::NotAsked);
    let mut data = vec![0.0f32; 2 * 5000];
    let mut total = 0;
    for period in [128usize, 64, 4096, 5000, 1] {
        total += allocations_in(|| callback.process(&mut data[..2 * period]));
    }
    assert_eq!(total, 0, "the callback allocated or freed {total} times");
    assert_eq!(callback.stats().callbacks.load(Ordering::Relaxed), 5);
    // It asked once, on its own thread: granted where the test may (root, or an RLIMIT_RTPRIO),
    // refused with the system's reason elsewhere; either way the answer is kept.
    assert_ne!(callback.stats().real_time(), RealTime::NotAsked);
}

/// Only the thread that asks is promoted: a thread of the same process keeps its priority.
#[cfg(all(feature = "device", target_os = "linux"))]
#[test]
fn real_time_priority_is_the_audio_threads_alone() {
    use open_nsynth::audio::RealTime;
    let policy = || {
        // SAFETY: sched_getscheduler(0) asks about the calling thread.
        unsafe { nix::libc::sched_getscheduler(0) }
    };
    let (engine, _link) = Engine::new(support::config(), support::open_knobs());
    let mut callback = open_nsynth::audio::Callback::new(engine, 2, 48_000).asking_real_time();
    let (granted, audio_policy) = std::thread::spawn(move || {
        callback.process(&mut [0.0; 256]);
        (callback.stats().real_time(), policy())
    })
    .join()
    .unwrap();
    match granted {
        RealTime::Granted => assert_eq!(audio_policy, nix::libc::SCHED_FIFO),
        RealTime::Refused(why) => assert!(!why.is_empty()),
        RealTime::NotAsked => panic!("the first call asks"),
    }
    assert_eq!(
        policy(),
        nix::libc::SCHED_OTHER,
        "the test's own thread is untouched"
    );
}

/// A stream that closes hands its engine back with its voices still sounding, so that a stream
/// opened again (after an underrun ended the last one) plays on where it stopped.
#[cfg(feature = "device")]
#[test]
fn a_closed_output_hands_its_engine_back_with_its_voices() {
    use open_nsynth::audio::start_stand_in;
    use open_nsynth::settings::AudioSettings;
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        while !done() {
            assert!(started.elapsed().as_secs() < 10, "{what} did not happen");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    };
    let (mut engine, mut link) = Engine::new(support::config(), support::open_knobs());
    let _ = link.banks.push(bank(1, 8000, Selection::point(4)));
    let mut commands = engine.command_sender(8);
    let _ = commands.push(Command {
        at: 3,
        action: Action::NoteOn {
            note: 60,
            velocity: 0.9,
        },
    });
    let status = Arc::clone(engine.status());
    let settings = AudioSettings {
        sample_rate: 48_000,
        buffer_size: 128,
        device_id: None,
    };
    let output = start_stand_in(engine, &settings).unwrap();
    wait_for("the note", &|| status.voices.load(Ordering::Relaxed) == 1);
    let engine = output
        .close()
        .expect("a closed output hands its engine back");
    let stopped_at = status.frame.load(Ordering::Relaxed);
    assert!(Arc::ptr_eq(engine.status(), &status), "the same engine");
    assert_eq!(
        status.voices.load(Ordering::Relaxed),
        1,
        "the note sounds on"
    );
    let output = start_stand_in(engine, &settings).unwrap();
    wait_for("playing on", &|| {
        status.frame.load(Ordering::Relaxed) > stopped_at
    });
    assert_eq!(status.voices.load(Ordering::Relaxed), 1);
    assert!(output.close().is_some());
}
