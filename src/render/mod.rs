//! Offline rendering: a MIDI file through the engine to a WAV file, frame-exact and deterministic
//! (the same inputs give the same bytes), streamed to the file block by block so any length
//! renders in the same memory. The loader runs on the caller's thread here, so every row is
//! resident before the first frame. A stop request ([`crate::stop`]) abandons the render and
//! leaves no file.

pub mod midi_file;
mod wav;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

pub use midi_file::{MidiFileError, TimedAction};
pub use wav::{WavFormat, WavOut};

pub use crate::midi::ChannelFilter;

use crate::engine::{Command, Engine, EngineConfig, Knobs};
use crate::pad::{pad_file_name, Loader, Target};
use crate::settings::Settings;

/// Frames handed to the engine per call, like an audio callback.
const BLOCK: usize = 128;
/// Commands queued ahead of the engine.
const QUEUE: usize = 8192;

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
    let pad = settings.pad.data_directory.join(startup_pad(settings));
    crate::atomic::check_output(out, &[midi, &settings.file, &pad])?;
    let actions = read_song(midi, settings, options)?;
    let notes = actions
        .iter()
        .filter(|a| matches!(a.action, crate::engine::Action::NoteOn { .. }))
        .count();
    let mut wav = WavOut::create(out, settings.audio.sample_rate, format)?;
    render_actions(settings, &actions, options, |block| {
        crate::stop::check()?;
        wav.write(block)
    })?;
    let report = RenderReport {
        pad,
        frames: wav.frames(),
        notes,
        peak: wav.peak(),
    };
    wav.finish()?;
    Ok(report)
}

/// Reads a MIDI file into actions timed at the settings' output rate, with the settings' MIDI
/// mapping on the options' channels.
pub fn read_song(
    midi: &Path,
    settings: &Settings,
    options: &SongOptions,
) -> anyhow::Result<Vec<TimedAction>> {
    let mapping = crate::midi::MidiMapping {
        channels: options.channels,
        ..crate::midi::MidiMapping::from_settings(&settings.midi)
    };
    let bytes = crate::limits::read_file(midi, crate::limits::MIDI_FILE_BYTES, "MIDI file")
        .with_context(|| format!("cannot read MIDI file {}", midi.display()))?;
    midi_file::read(&bytes, settings.audio.sample_rate, &mapping)
        .with_context(|| format!("MIDI file {}", midi.display()))
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

/// Plays `actions` through a fresh engine, handing each block of mono output to `sink`.
pub fn render_actions(
    settings: &Settings,
    actions: &[TimedAction],
    options: &SongOptions,
    mut sink: impl FnMut(&[f32]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
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
        sink(&block[..frames])?;
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
    Ok(())
}
