//! The sound card: opens the output stream and runs the engine in its callback.
//!
//! This is the one choke point between ALSA and the engine. [`start`] allocates everything the
//! callback needs; the callback itself ([`Callback::process`]) only calls [`Engine::process`]
//! into a preallocated mono buffer, copies it to every channel and times itself into atomics: no
//! allocation, lock, log or I/O. On a sound card its first call also puts its own thread, and
//! only that thread, at real-time priority (one system call), and leaves the outcome in an
//! atomic for the control thread to log. [`start_stand_in`] runs the same callback on a thread paced like
//! a sound card, for machines without one (soak tests, servers). A stream that closes hands its
//! engine back ([`AudioOutput::close`]), so a stream opened again plays on where it stopped.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::engine::Engine;
use crate::settings::AudioSettings;

/// Largest block the callback renders at once; longer periods are rendered in several blocks.
const SCRATCH_FRAMES: usize = 4096;

/// A running output stream; dropping it stops the sound.
pub struct AudioOutput {
    backend: Backend,
    /// The device's name, for the log.
    pub device: String,
    /// The first error the stream reported (for example, the device was unplugged).
    failure: Arc<OnceLock<String>>,
    pub stats: Arc<CallbackStats>,
    /// Where the callback leaves its engine when it is dropped with the stream.
    returned: Receiver<Engine>,
}

/// What drives the callback.
enum Backend {
    Card { _stream: cpal::Stream },
    StandIn { _thread: StandIn },
}

impl AudioOutput {
    /// Why the stream failed, once it has, and should be opened again.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Stops the stream and takes back its engine, with its voices, knobs and pad as they were.
    pub fn close(self) -> Option<Engine> {
        // Dropping the stream joins its thread, which drops the callback.
        drop(self.backend);
        self.returned.try_recv().ok()
    }
}

/// What the callback measures about itself, read by the control thread.
#[derive(Debug, Default)]
pub struct CallbackStats {
    pub callbacks: AtomicU64,
    /// Callbacks that took longer than the sound they rendered lasts: each one is a dropout.
    pub overruns: AtomicU64,
    /// The longest callback so far, in nanoseconds.
    pub worst_ns: AtomicU64,
    /// What came of the callback's request for real-time scheduling: 0 not asked (yet), 1
    /// granted, else the error number negated. Read it with [`CallbackStats::real_time`].
    real_time: AtomicI32,
}

/// The SCHED_FIFO priority the audio thread asks for: above every ordinary thread (and every
/// other thread of the instrument, which stay at normal priority), as the original unit's 70.
pub const REAL_TIME_PRIORITY: i32 = 70;

/// Whether the audio thread runs at real-time priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealTime {
    /// The callback has not run yet, or does not ask (the stand-in).
    NotAsked,
    Granted,
    /// Refused, with the system's reason.
    Refused(String),
}

impl CallbackStats {
    pub fn real_time(&self) -> RealTime {
        match self.real_time.load(Ordering::Relaxed) {
            0 => RealTime::NotAsked,
            1 => RealTime::Granted,
            error => RealTime::Refused(std::io::Error::from_raw_os_error(-error).to_string()),
        }
    }
}

/// Puts the calling thread at SCHED_FIFO [`REAL_TIME_PRIORITY`]: 1 when granted, else the error
/// number negated. One system call; no allocation.
fn promote_this_thread() -> i32 {
    use nix::libc;
    let param = libc::sched_param {
        sched_priority: REAL_TIME_PRIORITY,
    };
    // SAFETY: pthread_self() is the calling thread, and `param` outlives the call.
    match unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) } {
        0 => 1,
        error => -error,
    }
}

/// The engine as the sound card calls it: everything preallocated.
pub struct Callback {
    /// Always there until the callback is dropped, which hands it back.
    engine: Option<Engine>,
    mono: Vec<f32>,
    channels: usize,
    /// Nanoseconds of sound per frame.
    frame_ns: f64,
    stats: Arc<CallbackStats>,
    /// Asks for real-time scheduling at the next call (a sound card's callback, once).
    ask_real_time: bool,
    /// Where the engine goes when the callback is dropped.
    hand_back: Option<SyncSender<Engine>>,
}

impl Drop for Callback {
    fn drop(&mut self) {
        if let (Some(engine), Some(hand_back)) = (self.engine.take(), self.hand_back.take()) {
            // The receiving output may be gone already; then the engine goes with it.
            let _ = hand_back.try_send(engine);
        }
    }
}

impl Callback {
    /// The callback of a card with `channels` channels at `rate` Hz; everything it needs is
    /// allocated here.
    pub fn new(engine: Engine, channels: usize, rate: u32) -> Callback {
        Callback {
            engine: Some(engine),
            mono: vec![0.0; SCRATCH_FRAMES],
            channels,
            frame_ns: 1e9 / f64::from(rate),
            stats: Arc::default(),
            ask_real_time: false,
            hand_back: None,
        }
    }

    /// Leaves the engine in the returned receiver when the callback is dropped.
    fn handing_back(mut self) -> (Callback, Receiver<Engine>) {
        let (hand_back, returned) = mpsc::sync_channel(1);
        self.hand_back = Some(hand_back);
        (self, returned)
    }

    /// Has the first call put its thread at real-time priority.
    pub fn asking_real_time(mut self) -> Callback {
        self.ask_real_time = true;
        self
    }

    /// What the callback has measured so far.
    pub fn stats(&self) -> &CallbackStats {
        &self.stats
    }

    /// Fills `data` (interleaved, `channels` per frame) with the engine's next frames.
    pub fn process(&mut self, data: &mut [f32]) {
        if self.ask_real_time {
            self.ask_real_time = false;
            self.stats
                .real_time
                .store(promote_this_thread(), Ordering::Relaxed);
        }
        let Some(engine) = self.engine.as_mut() else {
            return data.fill(0.0);
        };
        let started = Instant::now();
        for period in data.chunks_mut(SCRATCH_FRAMES * self.channels) {
            let frames = period.len() / self.channels;
            let mono = &mut self.mono[..frames];
            engine.process(mono);
            for (frame, &sample) in period.chunks_exact_mut(self.channels).zip(mono.iter()) {
                frame.fill(sample);
            }
        }
        let took = started.elapsed().as_nanos() as u64;
        let budget = (data.len() / self.channels) as f64 * self.frame_ns;
        self.stats.callbacks.fetch_add(1, Ordering::Relaxed);
        if took as f64 > budget {
            self.stats.overruns.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.worst_ns.fetch_max(took, Ordering::Relaxed);
    }
}

/// Names of the output devices, in the order `audio.deviceId` counts them.
pub fn output_device_names() -> anyhow::Result<Vec<String>> {
    let devices = cpal::default_host()
        .output_devices()
        .context("cannot list audio output devices")?;
    Ok(devices
        .map(|device| device.name().unwrap_or_else(|_| "unnamed device".into()))
        .collect())
}

/// The output device: `audio.deviceId` if set, else the board's sound card (looked up by the
/// ALSA card name), else the system default.
pub fn choose_device(settings: &AudioSettings, card: Option<&str>) -> anyhow::Result<cpal::Device> {
    let host = cpal::default_host();
    let default = || {
        host.default_output_device()
            .ok_or_else(|| anyhow!("no audio output device"))
    };
    let devices = || {
        host.output_devices()
            .context("cannot list audio output devices")
    };
    if let Some(index) = settings.device_id {
        return devices()?.nth(index).ok_or_else(|| {
            anyhow!("audio.deviceId {index}: there is no output device with that index")
        });
    }
    let Some(card) = card else {
        return default();
    };
    let found = devices()?.find(|device| device.name().is_ok_and(|name| card_matches(&name, card)));
    match found {
        Some(device) => Ok(device),
        None => {
            // Said once: the output is looked for again every 2 s while there is none.
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !SAID.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the board's sound card {card} is not there; using the default output (set \
                     audio.deviceId to choose another)"
                );
            }
            default()
        }
    }
}

/// Whether the device called `name` is the ALSA card `card` (the name in brackets in
/// `aplay -l`, which is how ALSA names a card's device).
pub fn card_matches(name: &str, card: &str) -> bool {
    name.eq_ignore_ascii_case(card) || name.contains(&format!("CARD={card}"))
}

/// Starts rendering `engine` into `device` (see [`choose_device`]) at the configured rate and
/// buffer size.
pub fn start(
    device: cpal::Device,
    engine: Engine,
    settings: &AudioSettings,
) -> anyhow::Result<AudioOutput> {
    let name = device.name().unwrap_or_else(|_| "unnamed device".into());
    let channels = device
        .default_output_config()
        .with_context(|| format!("audio device {name} has no output configuration"))?
        .channels()
        .max(1);
    let config = cpal::StreamConfig {
        channels,
        sample_rate: cpal::SampleRate(settings.sample_rate),
        buffer_size: cpal::BufferSize::Fixed(settings.buffer_size as u32),
    };
    let (mut callback, returned) =
        Callback::new(engine, usize::from(channels), settings.sample_rate)
            .asking_real_time()
            .handing_back();
    let stats = Arc::clone(&callback.stats);
    let callback = move |data: &mut [f32], _: &cpal::OutputCallbackInfo| callback.process(data);
    let failure = Arc::new(OnceLock::new());
    let report = Arc::clone(&failure);
    let stream = device
        .build_output_stream(
            &config,
            callback,
            // Kept for the control thread, which logs it: a failing stream may report again and
            // again, and the first error says why.
            move |error| {
                let _ = report.set(error.to_string());
            },
            None,
        )
        .with_context(|| {
            format!(
                "cannot open audio device {name} at {} Hz with {}-frame buffers (audio.sampleRate, audio.bufferSize)",
                settings.sample_rate, settings.buffer_size
            )
        })?;
    stream
        .play()
        .with_context(|| format!("cannot start audio device {name}"))?;
    Ok(AudioOutput {
        backend: Backend::Card { _stream: stream },
        device: name,
        failure,
        stats,
        returned,
    })
}

/// A thread that calls the callback as a stereo sound card would, one `audio.bufferSize` period
/// at a time at `audio.sampleRate`, and discards the sound.
struct StandIn {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `engine` on a stand-in sound card: a thread that calls the callback as a stereo card
/// would, one `audio.bufferSize` period at a time, and discards the sound.
pub fn start_stand_in(engine: Engine, settings: &AudioSettings) -> anyhow::Result<AudioOutput> {
    const CHANNELS: usize = 2;
    let (mut callback, returned) =
        Callback::new(engine, CHANNELS, settings.sample_rate).handing_back();
    let stats = Arc::clone(&callback.stats);
    let stop = Arc::new(AtomicBool::new(false));
    let period =
        Duration::from_secs_f64(settings.buffer_size as f64 / f64::from(settings.sample_rate));
    let mut buffer = vec![0.0f32; settings.buffer_size * CHANNELS];
    let stopped = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("audio-stand-in".into())
        .spawn(move || {
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                callback.process(&mut buffer);
                next += period;
                match next.checked_duration_since(Instant::now()) {
                    Some(rest) => std::thread::sleep(rest),
                    // Late: a card would have played silence; carry on from now.
                    None => next = Instant::now(),
                }
            }
        })
        .context("cannot start the stand-in sound card's thread")?;
    Ok(AudioOutput {
        backend: Backend::StandIn {
            _thread: StandIn {
                stop,
                thread: Some(thread),
            },
        },
        device: "stand-in (no sound card)".into(),
        failure: Arc::default(),
        stats,
        returned,
    })
}

#[cfg(test)]
mod tests {
    use super::card_matches;

    #[test]
    fn the_board_card_is_found_by_its_alsa_name() {
        assert!(card_matches("IQaudIODAC", "IQaudIODAC"));
        assert!(card_matches("iqaudiodac", "IQaudIODAC"));
        assert!(card_matches("sysdefault:CARD=IQaudIODAC", "IQaudIODAC"));
        assert!(!card_matches("bcm2835 Headphones", "IQaudIODAC"));
        assert!(!card_matches("default", "IQaudIODAC"));
    }
}
