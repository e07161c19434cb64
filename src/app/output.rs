//! Where the sound goes: the sound card (with the engine in the audio callback, pads streamed by
//! the loader thread, and the device opened again after a failure), or a WAV file rendered frame
//! by frame on the control thread when there is no sound card.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Hubs;
use crate::audio::{self, AudioOutput};
use crate::control::Controller;
use crate::engine::{Engine, EngineStatus};
use crate::outage::Outage;
use crate::pad::PadFeed;
use crate::pad::{LoadEvent, Loader, PadStreamer, Target};
use crate::render::{WavFormat, WavOut};
use crate::settings::Settings;

/// How long to wait before opening a failed audio device again: short, since at boot the sound
/// card usually appears after the instrument started, and each wait delays the first sound.
const AUDIO_RETRY: Duration = Duration::from_millis(500);
/// How long a sound card opened after failures must keep playing before it counts as working
/// again (a card that opens and underruns over and over is one outage in the log).
const AUDIO_PROVEN: Duration = Duration::from_secs(5);

pub enum Output {
    Live(Box<Live>),
    Wav(Box<Wav>),
}

/// What a live output plays on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// A sound card: the board's, by ALSA name, else the default output.
    Card(Option<String>),
    /// The stand-in sound card ([`audio::start_stand_in`]).
    StandIn,
}

pub struct Live {
    device: Device,
    audio: Option<AudioOutput>,
    pads: Option<PadFeed>,
    status: Option<Arc<EngineStatus>>,
    target: Target,
    /// Failures to open the sound card, and when to try again.
    outage: Outage,
    /// When the stream now open was opened (see [`reopens_at_once`]).
    opened: Instant,
    /// Whether the stream now open has reported its audio thread's priority, and the priority
    /// last logged (a stream opened again logs it only when it differs).
    priority_known: bool,
    priority_said: Option<audio::RealTime>,
}

pub struct Wav {
    engine: Engine,
    pads: PadFeed,
    writer: WavOut,
    path: PathBuf,
    rate: f64,
    /// Fraction of a frame carried to the next step.
    owed: f64,
    block: Vec<f32>,
}

fn loader(settings: &Settings) -> Loader {
    Loader::for_directory(
        settings.pad.layout.clone(),
        settings.engine.grid_interpolation,
        settings.pad.data_directory.clone(),
    )
}

impl Output {
    /// The sound card (or the stand-in); if it cannot be opened now, it is tried again every 0.5 s.
    pub fn live(
        settings: &Settings,
        hubs: &Hubs,
        controller: &Controller,
        device: Device,
    ) -> Output {
        let mut live = Live {
            device,
            audio: None,
            pads: None,
            status: None,
            target: controller.pad_target(),
            outage: Outage::new("audio output", AUDIO_RETRY).proven_after(AUDIO_PROVEN),
            opened: Instant::now(),
            priority_known: false,
            priority_said: None,
        };
        live.open(None, settings, hubs, controller);
        Output::Live(Box::new(live))
    }

    /// A WAV file at the settings' output rate, written atomically: it takes its name when the
    /// session ends.
    pub fn wav(
        settings: &Settings,
        hubs: &Hubs,
        controller: &Controller,
        path: &Path,
    ) -> anyhow::Result<Output> {
        let (engine, link) = hubs.engine(settings, controller.knobs());
        let mut pads = PadFeed::Direct {
            loader: Box::new(loader(settings)),
            link,
        };
        if let Err(error) = pads.request(controller.pad_target()) {
            tracing::warn!("{error}");
        }
        let writer = WavOut::create(path, settings.audio.sample_rate, WavFormat::Int16)?;
        Ok(Output::Wav(Box::new(Wav {
            engine,
            pads,
            writer,
            path: path.to_path_buf(),
            rate: f64::from(settings.audio.sample_rate),
            owed: 0.0,
            block: vec![0.0; settings.audio.buffer_size],
        })))
    }

    pub fn request_pad(&mut self, target: Target) {
        let pads = match self {
            Output::Live(live) => {
                live.target = target.clone();
                live.pads.as_mut()
            }
            Output::Wav(wav) => Some(&mut wav.pads),
        };
        if let Some(Err(error)) = pads.map(|pads| pads.request(target)) {
            tracing::warn!("{error}");
        }
    }

    /// Advances by `dt` seconds: renders that much to the WAV, or watches the sound card.
    pub fn advance(
        &mut self,
        dt: f64,
        settings: &Settings,
        hubs: &Hubs,
        controller: &Controller,
    ) -> anyhow::Result<()> {
        match self {
            Output::Live(live) => {
                if let Some(pads) = &live.pads {
                    log_load_events(pads.events());
                }
                if let Some(failure) = live.audio.as_ref().and_then(AudioOutput::failure) {
                    let error = anyhow::anyhow!("the audio device failed: {failure}");
                    let engine = live.audio.take().and_then(AudioOutput::close);
                    live.failed(&error);
                    if reopens_at_once(live.opened.elapsed()) {
                        live.open(engine, settings, hubs, controller);
                    }
                }
                if let Some(audio) = &live.audio {
                    if live.outage.holding() {
                        tracing::info!("audio on {}", audio.device);
                    }
                    if !live.priority_known {
                        let real_time = audio.stats.real_time();
                        live.priority_known = real_time != audio::RealTime::NotAsked;
                        if live.priority_known && live.priority_said.as_ref() != Some(&real_time) {
                            say_priority(&real_time);
                            live.priority_said = Some(real_time);
                        }
                    }
                }
                if live.audio.is_none() && live.outage.due() {
                    live.open(None, settings, hubs, controller);
                }
                Ok(())
            }
            Output::Wav(wav) => wav.render(dt),
        }
    }

    pub fn status(&self) -> Option<Arc<EngineStatus>> {
        match self {
            Output::Live(live) => live.status.clone(),
            Output::Wav(wav) => Some(Arc::clone(wav.engine.status())),
        }
    }

    /// What the sound card's callback measured, while one is running.
    pub fn callback_stats(&self) -> Option<&audio::CallbackStats> {
        match self {
            Output::Live(live) => live.audio.as_ref().map(|audio| &*audio.stats),
            Output::Wav(_) => None,
        }
    }

    /// Whether the sound goes somewhere: a sound card (or the stand-in) is playing, or the
    /// recording is written.
    pub fn sounding(&self) -> bool {
        match self {
            Output::Live(live) => live.audio.is_some(),
            Output::Wav(_) => true,
        }
    }

    /// One line about the output, for the simulator's status line.
    pub fn describe(&self) -> String {
        match self {
            Output::Live(live) => match &live.audio {
                Some(audio) => format!("audio: {}", audio.device),
                None => "audio: no device (retrying)".into(),
            },
            Output::Wav(wav) => format!("recording {}", wav.path.display()),
        }
    }

    /// Finishes the WAV file (nothing to do for the sound card).
    pub fn finish(self) -> anyhow::Result<()> {
        if let Output::Wav(wav) = self {
            wav.writer
                .finish()
                .with_context(|| format!("cannot finish {}", wav.path.display()))?;
        }
        Ok(())
    }
}

impl Live {
    /// Opens the sound card with `kept`, the engine of the stream that just stopped (which the
    /// loader thread still feeds), or else a fresh engine and loader thread for the current pad.
    /// While there is no device at all, nothing is built, so the retries cost no pad reads.
    fn open(
        &mut self,
        kept: Option<Engine>,
        settings: &Settings,
        hubs: &Hubs,
        controller: &Controller,
    ) {
        let card = match &self.device {
            Device::StandIn => None,
            Device::Card(card) => match audio::choose_device(&settings.audio, card.as_deref()) {
                Ok(card) => Some(card),
                Err(error) => return self.failed(&error),
            },
        };
        let engine = match kept {
            Some(engine) => engine,
            None => match self.fresh_engine(settings, hubs, controller) {
                Ok(engine) => engine,
                Err(error) => return self.failed(&error),
            },
        };
        let started = match card {
            Some(card) => audio::start(card, engine, &settings.audio),
            None => audio::start_stand_in(engine, &settings.audio),
        };
        match started {
            Ok(audio) => {
                // After failures, it is said once the card has kept playing (see `advance`).
                if !self.outage.failing() {
                    tracing::info!("audio on {}", audio.device);
                }
                self.outage.succeeded();
                self.opened = Instant::now();
                self.priority_known = false;
                self.audio = Some(audio);
            }
            Err(error) => self.failed(&error),
        }
    }

    /// A new engine for the current pad, wired to the hubs, and a new loader thread feeding it.
    fn fresh_engine(
        &mut self,
        settings: &Settings,
        hubs: &Hubs,
        controller: &Controller,
    ) -> anyhow::Result<Engine> {
        let (engine, link) = hubs.engine(settings, controller.knobs());
        let status = Arc::clone(engine.status());
        let streamer = PadStreamer::spawn(loader(settings), link)
            .context("cannot start the pad loader thread")?;
        streamer.request(self.target.clone());
        self.pads = Some(PadFeed::Streaming(streamer));
        self.status = Some(status);
        Ok(engine)
    }

    /// Counts a failed try; only the first of a run is logged.
    fn failed(&mut self, error: &anyhow::Error) {
        self.outage.failed(&format_args!("no sound: {error:#}"));
    }
}

/// Whether a stream that failed after playing for `played` is opened again at once, with the same
/// engine, rather than after [`AUDIO_RETRY`]. cpal ends an ALSA stream at an underrun it cannot
/// recover from (ALSA reports POLLERR until the stream is prepared again), so a card that had
/// been playing gets a gap in the sound, its notes playing on, not the retry's half second of
/// silence and a new engine; one that fails as soon as it opens waits like a card that cannot be
/// opened, so a failing card is not opened at every frame.
fn reopens_at_once(played: Duration) -> bool {
    played >= AUDIO_RETRY
}

/// Logs the audio thread's priority, once its callback has asked.
fn say_priority(real_time: &audio::RealTime) {
    match real_time {
        audio::RealTime::NotAsked => {}
        audio::RealTime::Granted => tracing::info!(
            "the audio thread runs at real-time priority (SCHED_FIFO {})",
            audio::REAL_TIME_PRIORITY
        ),
        audio::RealTime::Refused(why) => tracing::warn!(
            "the audio thread runs at normal priority: SCHED_FIFO {} was refused ({why}); a busy \
             system may interrupt the sound (the service's unit allows it with LimitRTPRIO)",
            audio::REAL_TIME_PRIORITY
        ),
    }
}

impl Wav {
    fn render(&mut self, dt: f64) -> anyhow::Result<()> {
        self.owed += dt * self.rate;
        let mut frames = self.owed.floor() as usize;
        self.owed -= frames as f64;
        while frames > 0 {
            let n = frames.min(self.block.len());
            self.engine.process(&mut self.block[..n]);
            self.writer.write(&self.block[..n])?;
            frames -= n;
        }
        Ok(())
    }
}

fn log_load_events(events: Vec<LoadEvent>) {
    for event in events {
        match event {
            LoadEvent::Loaded { pad } => tracing::debug!("playing {pad}"),
            LoadEvent::Failed { error, .. } => tracing::warn!("{error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_that_played_is_opened_again_at_once_one_that_failed_at_once_waits() {
        assert!(reopens_at_once(AUDIO_RETRY));
        assert!(reopens_at_once(Duration::from_secs(3600)));
        assert!(!reopens_at_once(Duration::from_millis(20)));
    }
}
