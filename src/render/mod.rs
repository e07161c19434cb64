//! Offline rendering: a MIDI file through the engine to a WAV file, frame-exact and deterministic
//! (the same inputs give the same bytes), streamed to the file block by block so any length
//! renders in the same memory. The loader runs on the caller's thread here, so every row is
//! resident before the first frame. A stop request ([`crate::stop`]) abandons the render and
//! leaves no file.

pub mod midi_file;
mod song;
mod wav;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

pub use midi_file::{Cue, MidiFileError, Song};
pub use song::SongControls;
pub use wav::{WavFormat, WavOut};

pub use crate::midi::ChannelFilter;

use crate::engine::{Command, CommandSender, Engine, EngineConfig, Knobs};
use crate::midi::Meaning;
use crate::pad::{pad_file_name, Loader, PadFeed};
use crate::settings::Settings;

/// Frames handed to the engine per call, like an audio callback.
const BLOCK: usize = 128;
/// Commands queued ahead of the engine.
const QUEUE: usize = 8192;

/// How to play a song: where the instrument starts. Control and program changes in the song move
/// it from there.
#[derive(Debug, Clone, PartialEq)]
pub struct SongOptions {
    /// Position on the pad, fractions 0–1 (0,0 is the first corner's position).
    pub grid: (f32, f32),
    pub knobs: Knobs,
    pub channels: ChannelFilter,
    /// Seconds rendered after the last event at most, for release tails.
    pub tail_seconds: f32,
    /// Each corner's instrument by `name`; `None` starts with the first of every corner, as the
    /// device does.
    pub instruments: Option<[String; 4]>,
}

impl Default for SongOptions {
    fn default() -> Self {
        Self {
            grid: (0.5, 0.5),
            knobs: Knobs::default(),
            channels: ChannelFilter::Omni,
            tail_seconds: 10.0,
            instruments: None,
        }
    }
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderReport {
    /// The pad the song starts on.
    pub pad: PathBuf,
    pub frames: u64,
    pub notes: usize,
    /// Program changes above the last patch slot, which nothing acts on.
    pub ignored: usize,
    /// Largest absolute sample value (1.0 is full scale).
    pub peak: f32,
}

/// Renders `midi` into `out`, starting as `options` say.
pub fn render(
    settings: &Settings,
    midi: &Path,
    out: &Path,
    options: &SongOptions,
    format: WavFormat,
) -> anyhow::Result<RenderReport> {
    let controls = SongControls::new(settings, options)?;
    let pad = settings.pad.data_directory.join(&controls.target().pad);
    crate::atomic::check_output(out, &[midi, &settings.file, &pad])?;
    let song = read_song(midi, settings, options)?;
    let mut wav = WavOut::create(out, settings.audio.sample_rate, format)?;
    render_song(settings, &song, controls, options, |block| {
        crate::stop::check()?;
        wav.write(block)
    })?;
    let report = RenderReport {
        pad,
        frames: wav.frames(),
        notes: song.notes(),
        ignored: song.ignored,
        peak: wav.peak(),
    };
    wav.finish()?;
    Ok(report)
}

/// Reads a MIDI file into what it does at the settings' output rate, with the settings' MIDI
/// mapping on the options' channels.
pub fn read_song(midi: &Path, settings: &Settings, options: &SongOptions) -> anyhow::Result<Song> {
    let mapping = crate::midi::MidiMapping {
        channels: options.channels,
        ..crate::midi::MidiMapping::from_settings(&settings.midi)
    };
    let bytes = crate::limits::read_file(midi, crate::limits::MIDI_FILE_BYTES, "MIDI file")
        .with_context(|| format!("cannot read MIDI file {}", midi.display()))?;
    midi_file::read(&bytes, settings.audio.sample_rate, &mapping)
        .with_context(|| format!("MIDI file {}", midi.display()))
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

/// Plays `song` through a fresh engine from where `controls` stand, handing each block of mono
/// output to `sink`. Every cue acts at its exact frame: pads the controls select are loaded
/// before the frame renders.
pub fn render_song(
    settings: &Settings,
    song: &Song,
    mut controls: SongControls,
    options: &SongOptions,
    mut sink: impl FnMut(&[f32]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (engine, link) = Engine::new(EngineConfig::from_settings(settings), controls.knobs());
    let mut player = Player::new(engine);
    let mut pads = PadFeed::Direct {
        loader: Box::new(Loader::for_directory(
            settings.pad.layout.clone(),
            settings.engine.grid_interpolation,
            settings.pad.data_directory.clone(),
        )),
        link,
    };
    pads.request(controls.target())?;
    for cue in &song.cues {
        player.run_to(cue.frame, &mut sink)?;
        match cue.meaning {
            Meaning::Play(action) => player.queue(action, &mut sink)?,
            Meaning::Control(input) => {
                let changes = controls.handle(input);
                for action in changes.actions {
                    player.queue(action, &mut sink)?;
                }
                if let Some(target) = changes.pad {
                    if let Err(error) = pads.request(target) {
                        tracing::warn!("{error}");
                    }
                }
            }
            Meaning::Ignored => {}
        }
    }
    let last = song.cues.last().map_or(0, |cue| cue.frame);
    let tail = (options.tail_seconds.max(0.0) * settings.audio.sample_rate as f32) as u64;
    loop {
        player.run(BLOCK, &mut sink)?;
        let silent = player
            .engine
            .status()
            .voices
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0;
        if player.frame > last && (silent || player.frame > last + tail) {
            return Ok(());
        }
    }
}

/// An engine rendered block by block, with its command ring.
struct Player {
    engine: Engine,
    commands: CommandSender,
    block: [f32; BLOCK],
    /// Frames rendered so far.
    frame: u64,
}

impl Player {
    fn new(mut engine: Engine) -> Self {
        let commands = engine.command_sender(QUEUE);
        Self {
            engine,
            commands,
            block: [0.0; BLOCK],
            frame: 0,
        }
    }

    /// Renders `frames` frames (at most a block) into `sink`.
    fn run(
        &mut self,
        frames: usize,
        sink: &mut impl FnMut(&[f32]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let block = &mut self.block[..frames.min(BLOCK)];
        self.engine.process(block);
        self.frame += block.len() as u64;
        sink(block)
    }

    /// Renders up to `frame`.
    fn run_to(
        &mut self,
        frame: u64,
        sink: &mut impl FnMut(&[f32]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        while self.frame < frame {
            let frames = (frame - self.frame).min(BLOCK as u64) as usize;
            self.run(frames, sink)?;
        }
        Ok(())
    }

    /// Queues `action` for the current frame. With the ring full of actions due now, one frame
    /// is rendered first to apply them.
    fn queue(
        &mut self,
        action: crate::engine::Action,
        sink: &mut impl FnMut(&[f32]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if self.commands.is_full() {
            self.run(1, sink)?;
        }
        let at = self.frame;
        self.commands
            .push(Command { at, action })
            .map_err(|_| anyhow::anyhow!("the engine's command ring stayed full"))
    }
}
