//! The command line: subcommands, their flags and help, and what each prints. Parsing and
//! reporting only; the work happens in the library modules.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::engine::Knobs;
use crate::render::{ChannelFilter, SongOptions, WavFormat};
use crate::settings::Settings;

/// Open NSynth Super: plays NSynth pads from MIDI, on the instrument or on a desktop.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play a Standard MIDI File through the engine into a WAV file.
    ///
    /// Plays the pad made of the first instrument of every corner, at one grid position with
    /// fixed knobs, and ends when the last note has faded (or --tail seconds after the last event).
    Render(RenderArgs),
    /// Play a Standard MIDI File through the sound card, as `render` would render it.
    #[cfg(feature = "device")]
    Play(SongArgs),
    /// Run the instrument on a desktop: the screen in the terminal, the original's keys, USB MIDI,
    /// OSC, and sound on the default output (or into a WAV file).
    ///
    /// Keys: g h j k l ; raise the six knobs (position attack decay sustain release volume) and
    /// b n m , . / lower them; a s d f / z x c v turn the four encoders; q–p play notes (- and =
    /// change octave); F1–F4 are the patch buttons (hold to save); [ ] ' # move the loop points;
    /// the mouse over the grid touches the pad; Esc quits. With no settings file, it plays the
    /// built-in demo pad.
    #[cfg(feature = "device")]
    Simulate(SimulateArgs),
    /// Write a synthetic demo pad set, its settings.json and a short song (demo.mid).
    ///
    /// Then: open-nsynth render --settings DIR/settings.json --midi DIR/demo.mid --out demo.wav
    Demo {
        /// Folder to write into (created if needed).
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// Samples per pad row at 16 kHz (the real pads have 60000; the demo is shorter).
        #[arg(long, default_value_t = 16000)]
        length: usize,
    },
}

#[cfg(feature = "device")]
#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// Settings file [default: localSettings.json, then settings.json, in the current folder;
    /// without either, the built-in demo].
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Do not draw the screen or read the keyboard (for services and tests).
    #[arg(long)]
    headless: bool,
    /// Record the sound into this WAV file instead of playing it (for machines without a sound
    /// card). With --headless and --script it renders as fast as it can.
    #[arg(long)]
    wav: Option<PathBuf>,
    /// Play timed input events from this file (see the README for the format).
    #[arg(long)]
    script: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct SongArgs {
    /// Settings file [default: localSettings.json, then settings.json, in the current folder].
    #[arg(long)]
    settings: Option<PathBuf>,
    /// The song: a Standard MIDI File, format 0 or 1.
    #[arg(long)]
    midi: PathBuf,
    /// Grid position X,Y as fractions 0–1 across the pad; 0,0 is the top-left corner's instrument.
    #[arg(long, value_parser = parse_grid, default_value = "0.5,0.5")]
    grid: (f32, f32),
    /// Position knob 0–1: where in the sound notes start [default: 127/255, as at power-on].
    #[arg(long)]
    position: Option<f32>,
    /// Attack knob 0–1.
    #[arg(long)]
    attack: Option<f32>,
    /// Decay knob 0–1.
    #[arg(long)]
    decay: Option<f32>,
    /// Sustain knob 0–1.
    #[arg(long)]
    sustain: Option<f32>,
    /// Release knob 0–1.
    #[arg(long)]
    release: Option<f32>,
    /// Volume knob 0–1 (a linear gain).
    #[arg(long)]
    volume: Option<f32>,
    /// Play only this MIDI channel (1–16) [default: all channels].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
    channel: Option<u8>,
    /// At most this many seconds after the last event, for release tails.
    #[arg(long, default_value_t = 10.0)]
    tail: f32,
}

impl SongArgs {
    fn options(&self) -> anyhow::Result<SongOptions> {
        let start = Knobs::default();
        Ok(SongOptions {
            grid: self.grid,
            knobs: Knobs {
                position: knob("position", self.position, start.position)?,
                attack: knob("attack", self.attack, start.attack)?,
                decay: knob("decay", self.decay, start.decay)?,
                sustain: knob("sustain", self.sustain, start.sustain)?,
                release: knob("release", self.release, start.release)?,
                volume: knob("volume", self.volume, start.volume)?,
            },
            channels: self
                .channel
                .map_or(ChannelFilter::Omni, ChannelFilter::Only),
            tail_seconds: self.tail,
        })
    }
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    #[command(flatten)]
    song: SongArgs,
    /// The WAV file to write (stereo, at audio.sampleRate).
    #[arg(long)]
    out: PathBuf,
    /// Sample format of the WAV.
    #[arg(long, value_enum, default_value_t = WavFormat::Int16)]
    format: WavFormat,
}

fn parse_grid(text: &str) -> Result<(f32, f32), String> {
    let (x, y) = text
        .split_once(',')
        .ok_or("expected X,Y, for example 0.5,0.5")?;
    let fraction = |v: &str| match v.trim().parse::<f32>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("`{v}` is not a fraction 0–1")),
    };
    Ok((fraction(x)?, fraction(y)?))
}

fn knob(name: &str, value: Option<f32>, default: f32) -> anyhow::Result<f32> {
    match value {
        None => Ok(default),
        Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Some(v) => anyhow::bail!("--{name} {v} is outside 0–1"),
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Render(args) => render(args),
        #[cfg(feature = "device")]
        Command::Play(args) => {
            let settings = load_settings(args.settings.as_deref())?;
            let device = crate::play::play(&settings, &args.midi, &args.options()?)
                .with_context(|| format!("playing {}", args.midi.display()))?;
            println!("played {} on {device}", args.midi.display());
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "device")]
        Command::Simulate(args) => simulate(args),
        Command::Demo { dir, length } => {
            let files = crate::demo::write_demo(&dir, length)?;
            println!("wrote {}", files.pad.display());
            println!("wrote {}", files.settings.display());
            println!("wrote {}", files.song.display());
            println!(
                "play it: open-nsynth render --settings {} --midi {} --out demo.wav",
                files.settings.display(),
                files.song.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads the named settings file, or finds one the original's way, and logs its warnings.
pub fn load_settings(explicit: Option<&Path>) -> anyhow::Result<Settings> {
    let settings = Settings::find(explicit, Path::new("."))?;
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    Ok(settings)
}

fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.song.settings.as_deref())?;
    let options = args.song.options()?;
    let midi = &args.song.midi;
    let report = crate::render::render(&settings, midi, &args.out, &options, args.format)
        .with_context(|| format!("rendering {}", midi.display()))?;
    let seconds = report.frames as f64 / f64::from(settings.audio.sample_rate);
    println!(
        "wrote {}: {seconds:.2} s, {} notes, peak {:.1} dBFS, pad {}",
        args.out.display(),
        report.notes,
        20.0 * report.peak.max(1e-9).log10(),
        report.pad.display()
    );
    if report.peak > 1.0 && args.format == WavFormat::Int16 {
        tracing::warn!("the output clipped; lower --volume, or set engine.limiter in the settings");
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the simulator keeps the demo when there are no settings: the user's data folder.
#[cfg(feature = "device")]
fn demo_folder() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data.join("open-nsynth").join("demo")
}

/// The named or found settings, or the built-in demo's when there are none.
#[cfg(feature = "device")]
fn settings_or_demo(explicit: Option<&Path>) -> anyhow::Result<Settings> {
    match Settings::find(explicit, Path::new(".")) {
        Err(crate::settings::SettingsError::NotFound { .. }) => {
            let folder = demo_folder();
            let settings = folder.join("settings.json");
            if !settings.exists() {
                crate::demo::write_demo(&folder, 16000)?;
            }
            tracing::info!(
                "no settings file here: playing the demo pad in {}",
                folder.display()
            );
            load_settings(Some(&settings))
        }
        found => {
            let settings = found?;
            for warning in &settings.warnings {
                tracing::warn!("{warning}");
            }
            Ok(settings)
        }
    }
}

#[cfg(feature = "device")]
fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    use crate::app::{remotes, Display, NoDisplay, Pace, Session};
    let started = std::time::Instant::now();
    let settings = settings_or_demo(args.settings.as_deref())?;
    let script = match &args.script {
        Some(path) => crate::sim::script::read(path)?,
        None => Vec::new(),
    };
    let fast = args.headless && args.wav.is_some() && args.script.is_some();
    let (display, keyboard): (Box<dyn Display>, _) = if args.headless {
        (Box::new(NoDisplay), None)
    } else {
        let console = crate::sim::console::Console::open()
            .context("cannot use this terminal; try --headless")?;
        let (events, keys) = std::sync::mpsc::channel();
        console.spawn_input(events)?;
        (Box::new(console), Some(keys))
    };
    let mut session = Session::new(settings, display, args.wav, Pace { fast })?.with_script(script);
    if let Some(keys) = keyboard {
        session = session.with_keyboard(keys);
    }
    let _remotes = remotes::start(&session, None);
    session.run(started)?;
    Ok(ExitCode::SUCCESS)
}
