//! Where the sound goes: the sound card (with the engine in the audio callback, pads streamed by
//! the loader thread, and the device opened again after a failure), or a WAV file rendered frame
//! by frame on the control thread when there is no sound card.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::pads::PadFeed;
use super::Hubs;
use crate::audio::{self, AudioOutput};
use crate::control::Controller;
use crate::engine::{Engine, EngineStatus};
use crate::outage::Outage;
use crate::pad::{LoadEvent, Loader, PadStreamer, Target};
use crate::settings::Settings;

/// How long to wait before opening a failed audio device again.
const AUDIO_RETRY: Duration = Duration::from_secs(2);

pub enum Output {
    Live(Box<Live>),
    Wav(Box<Wav>),
}

pub struct Live {
    /// The board's sound card, by ALSA name.
    card: Option<String>,
    audio: Option<AudioOutput>,
    pads: Option<PadFeed>,
    status: Option<Arc<EngineStatus>>,
    target: Target,
    /// Failures to open the sound card, and when to try again.
    outage: Outage,
}

pub struct Wav {
    engine: Engine,
    pads: PadFeed,
    writer: hound::WavWriter<BufWriter<File>>,
    path: PathBuf,
    partial: PathBuf,
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
    /// The sound card (`card`, or the default output); if it cannot be opened now, it is tried
    /// again every 2 s.
    pub fn live(
        settings: &Settings,
        hubs: &Hubs,
        controller: &Controller,
        card: Option<String>,
    ) -> Output {
        let mut live = Live {
            card,
            audio: None,
            pads: None,
            status: None,
            target: controller.pad_target(),
            outage: Outage::new("audio output", AUDIO_RETRY),
        };
        live.open(settings, hubs, controller);
        Output::Live(Box::new(live))
    }

    /// A WAV file at the settings' output rate, written through a temporary name.
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
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: settings.audio.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let partial = path.with_extension("wav.partial");
        let writer = hound::WavWriter::create(&partial, spec)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        Ok(Output::Wav(Box::new(Wav {
            engine,
            pads,
            writer,
            path: path.to_path_buf(),
            partial,
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
                    live.audio = None;
                    live.failed(&error);
                }
                if live.audio.is_none() && live.outage.due() {
                    live.open(settings, hubs, controller);
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
                .finalize()
                .with_context(|| format!("cannot finish {}", wav.partial.display()))?;
            std::fs::rename(&wav.partial, &wav.path)
                .with_context(|| format!("cannot write {}", wav.path.display()))?;
        }
        Ok(())
    }
}

impl Live {
    /// Opens the sound card with a fresh engine and loader thread for the current pad. While
    /// there is no device at all, nothing is built, so the retries cost no pad reads.
    fn open(&mut self, settings: &Settings, hubs: &Hubs, controller: &Controller) {
        let device = match audio::choose_device(&settings.audio, self.card.as_deref()) {
            Ok(device) => device,
            Err(error) => return self.failed(&error),
        };
        let (engine, link) = hubs.engine(settings, controller.knobs());
        let status = Arc::clone(engine.status());
        let streamer = match PadStreamer::spawn(loader(settings), link) {
            Ok(streamer) => streamer,
            Err(error) => {
                return self.failed(
                    &anyhow::Error::from(error).context("cannot start the pad loader thread"),
                )
            }
        };
        streamer.request(self.target.clone());
        match audio::start(device, engine, &settings.audio) {
            Ok(audio) => {
                self.outage.succeeded();
                tracing::info!("audio on {}", audio.device);
                self.audio = Some(audio);
            }
            Err(error) => self.failed(&error),
        }
        self.pads = Some(PadFeed::Streaming(streamer));
        self.status = Some(status);
    }

    /// Counts a failed try; only the first of a run is logged.
    fn failed(&mut self, error: &anyhow::Error) {
        self.outage.failed(&format_args!("no sound: {error:#}"));
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
            for &sample in &self.block[..n] {
                let value = (sample * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
                self.writer.write_sample(value)?;
                self.writer.write_sample(value)?;
            }
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
