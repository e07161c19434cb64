//! Offline rendering: a MIDI file through the engine to a WAV file, frame-exact and deterministic
//! (the same inputs give the same bytes). The loader runs on the caller's thread here, so every
//! row is resident before the first frame.

pub mod midi_file;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

pub use midi_file::{MidiFileError, TimedAction};

pub use crate::midi::ChannelFilter;

use crate::engine::{Command, Engine, EngineConfig, Knobs};
use crate::pad::{pad_file_name, Loader, Target};
use crate::settings::Settings;

/// Frames handed to the engine per call, like an audio callback.
const BLOCK: usize = 128;
/// Commands queued ahead of the engine.
const QUEUE: usize = 8192;

/// Sample format of the written WAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WavFormat {
    /// 16-bit signed integers, clipped at full scale.
    Int16,
    /// 32-bit floats, unclipped, exactly what the engine produced.
    Float32,
}

/// How to play a song.
#[derive(Debug, Clone, PartialEq)]
pub struct SongOptions {
    /// Position on the pad, fractions 0–1 (0,0 is the first corner's position).
    pub grid: (f32, f32),
    pub knobs: Knobs,
    pub channels: ChannelFilter,
    /// Seconds rendered after the last event at most, for release tails.
    pub tail_seconds: f32,
}

impl Default for SongOptions {
    fn default() -> Self {
        Self {
            grid: (0.5, 0.5),
            knobs: Knobs::default(),
            channels: ChannelFilter::Omni,
            tail_seconds: 10.0,
        }
    }
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderReport {
    pub pad: PathBuf,
    pub frames: u64,
    pub notes: usize,
    /// Largest absolute sample value (1.0 is full scale).
    pub peak: f32,
}

/// Renders `midi` with the settings' first instrument of every corner into `out`.
pub fn render(
    settings: &Settings,
    midi: &Path,
    out: &Path,
    options: &SongOptions,
    format: WavFormat,
) -> anyhow::Result<RenderReport> {
    let actions = read_song(midi, settings.audio.sample_rate, options.channels)?;
    let samples = render_actions(settings, &actions, options)?;
    let notes = actions
        .iter()
        .filter(|a| matches!(a.action, crate::engine::Action::NoteOn { .. }))
        .count();
    write_wav(out, &samples, settings.audio.sample_rate, format)?;
    Ok(RenderReport {
        pad: settings.pad.data_directory.join(startup_pad(settings)),
        frames: samples.len() as u64,
        notes,
        peak: samples.iter().fold(0.0, |peak, s| peak.max(s.abs())),
    })
}

/// Reads a MIDI file into actions timed at `rate` frames per second.
pub fn read_song(
    midi: &Path,
    rate: u32,
    channels: ChannelFilter,
) -> anyhow::Result<Vec<TimedAction>> {
    let bytes =
        std::fs::read(midi).with_context(|| format!("cannot read MIDI file {}", midi.display()))?;
    midi_file::read(&bytes, rate, channels).with_context(|| format!("MIDI file {}", midi.display()))
}

/// Where the song plays on the pad: the startup pad at the options' grid position.
pub fn song_target(settings: &Settings, options: &SongOptions) -> Target {
    Target {
        pad: startup_pad(settings),
        x: options.grid.0,
        y: options.grid.1,
    }
}

/// The pad the device starts with: the first instrument of every corner.
pub fn startup_pad(settings: &Settings) -> String {
    pad_file_name(
        &settings
            .corners
            .each_ref()
            .map(|corner| corner[0].name.as_str()),
    )
}

/// Plays `actions` through a fresh engine and returns the mono output.
pub fn render_actions(
    settings: &Settings,
    actions: &[TimedAction],
    options: &SongOptions,
) -> anyhow::Result<Vec<f32>> {
    let mut loader = Loader::for_directory(
        settings.pad.layout.clone(),
        settings.engine.grid_interpolation,
        settings.pad.data_directory.clone(),
    );
    let bank = loader.prepare(&song_target(settings, options))?;
    let (mut engine, mut link) = Engine::new(EngineConfig::from_settings(settings), options.knobs);
    let mut commands = engine.command_sender(QUEUE);
    if link.banks.push(bank).is_err() {
        bail!("the engine refused its first bank");
    }
    let last = actions.last().map_or(0, |a| a.frame);
    let tail = (options.tail_seconds.max(0.0) * settings.audio.sample_rate as f32) as u64;
    let mut out = Vec::new();
    let mut block = [0.0f32; BLOCK];
    let mut pending = actions.iter().peekable();
    let mut frame = 0u64;
    loop {
        while let Some(next) = pending.peek() {
            if next.frame >= frame + BLOCK as u64 || commands.is_full() {
                break;
            }
            let _ = commands.push(Command {
                at: next.frame,
                action: next.action,
            });
            pending.next();
        }
        // With the queue full, stop where the first unqueued event is due.
        let frames = match pending.peek() {
            Some(next) if commands.is_full() => {
                (next.frame.saturating_sub(frame) as usize).clamp(1, BLOCK)
            }
            _ => BLOCK,
        };
        engine.process(&mut block[..frames]);
        out.extend_from_slice(&block[..frames]);
        frame += frames as u64;
        let silent = engine
            .status()
            .voices
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0;
        if pending.peek().is_none() && frame > last && (silent || frame > last + tail) {
            break;
        }
    }
    Ok(out)
}

/// Writes mono `samples` as a stereo WAV (both channels equal, as the device plays them),
/// through a temporary file so a failed render never leaves a WAV that looks complete.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32, format: WavFormat) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: match format {
            WavFormat::Int16 => 16,
            WavFormat::Float32 => 32,
        },
        sample_format: match format {
            WavFormat::Int16 => hound::SampleFormat::Int,
            WavFormat::Float32 => hound::SampleFormat::Float,
        },
    };
    let partial = path.with_extension("wav.partial");
    let write = || -> Result<(), hound::Error> {
        let mut writer = hound::WavWriter::create(&partial, spec)?;
        for &sample in samples {
            for _ in 0..2 {
                match format {
                    WavFormat::Int16 => writer.write_sample(to_i16(sample))?,
                    WavFormat::Float32 => writer.write_sample(sample)?,
                }
            }
        }
        writer.finalize()
    };
    write().with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move the render to {}", path.display()))
}

fn to_i16(sample: f32) -> i16 {
    (sample * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}
