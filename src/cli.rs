//! The command line: subcommands, their flags and help, and what each prints. Parsing and
//! reporting only; the work happens in the library modules.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[cfg(feature = "device")]
use crate::app::{Ending, NoDisplay, Pace, Session, Sound};
use crate::board::Board;
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
    /// Starts with the first instrument of every corner (or --instruments), at the --grid position
    /// with the knob flags' values; control and program changes, pitch bend and the sustain pedal
    /// in the song then act as they do live (see `midi.cc` in the README). Ends when the last note
    /// has faded (or --tail seconds after the last event).
    Render(RenderArgs),
    /// Play a Standard MIDI File through the sound card, as `render` would render it.
    #[cfg(feature = "device")]
    Play(PlayArgs),
    /// Run the instrument on the board: touch pad, encoders, knobs, patch buttons, the OLED,
    /// serial and USB MIDI, OSC and the board's sound card. On the desktop board it runs as
    /// `simulate` does. With --check it reports what it finds and exits.
    #[cfg(feature = "device")]
    Run(RunArgs),
    /// Run the instrument on a desktop: the screen in the terminal, the original's keys, USB MIDI,
    /// OSC, and sound on the default output (or into a WAV file).
    ///
    /// Keys: g h j k l ; raise the six knobs (position attack decay sustain release volume) and
    /// b n m , . / lower them; a s d f / z x c v turn the four encoders; q–p play notes (- and =
    /// change octave); F1–F4 are the patch buttons (hold to save); F5 starts MIDI learn (each
    /// press for the next control: position … corner4); [ ] ' # move the loop points; the mouse
    /// over the grid touches the pad; Esc quits. With no settings file, it plays the built-in demo
    /// pad.
    #[cfg(feature = "device")]
    Simulate(SimulateArgs),
    /// Set up a Raspberry Pi OS SD card to start the instrument at boot.
    ///
    /// Copies the program and settings to /opt/open-nsynth, adds a systemd service, loads the
    /// I2C driver, frees the MIDI UART from the serial console and writes the board's lines into
    /// config.txt in a marked block. Running it again changes nothing; the card's own settings
    /// and patches are never replaced.
    #[cfg(unix)]
    Install(InstallArgs),
    /// Make a ready SD-card image from Raspberry Pi OS Lite, with the instrument and its pads.
    ///
    /// Offline and without root: the program, the service, the board's boot lines, the settings,
    /// the service's user and the pads (from --pads, else the built-in demo), in the read-only
    /// layout (root read-only under a RAM overlay, pads and data partitions after it). Flash the
    /// result with Raspberry Pi Imager, Etcher or dd. The same inputs give the same bytes.
    #[cfg(unix)]
    Image(ImageArgs),
    /// Write a synthetic demo pad set, its settings.json and a short song (demo.mid).
    ///
    /// Then: open-nsynth render --settings DIR/settings.json --midi DIR/demo.mid --out demo.wav
    Demo {
        /// Folder to write into (created if needed).
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// Samples per pad row at 16 kHz, from 1024 to 103563 (the largest a pad of the demo's
        /// 81 points and 16 pitches can have in the 256 MiB the device keeps for pads). The real
        /// pads have 60000; the demo is shorter.
        #[arg(long, default_value_t = 16000)]
        length: usize,
    },
}

impl Command {
    /// Whether the command's work stops cleanly on SIGINT and SIGTERM (see [`crate::stop`]); the
    /// others are short, and a signal ends them as usual.
    fn polls_stop(&self) -> bool {
        match self {
            Command::Render(_) => true,
            #[cfg(feature = "device")]
            Command::Play(_) | Command::Run(_) | Command::Simulate(_) => true,
            #[cfg(unix)]
            Command::Install(_) => false,
            // It removes its partial output itself on a signal (see `image`).
            #[cfg(unix)]
            Command::Image(_) => false,
            Command::Demo { .. } => false,
        }
    }
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
    /// Stop after this many seconds (of the recording, with --wav) [default: a script without
    /// `quit` ends when its last event's notes have faded, at most 10 s after it; otherwise the
    /// session runs until Esc, `quit`, SIGINT or SIGTERM]. At most 86400.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<f64>,
    /// Play on a stand-in sound card that discards the sound: the engine runs in the same
    /// callback on a thread paced like a card (for soak tests and machines without sound).
    #[arg(long, conflicts_with = "wav")]
    no_sound: bool,
    /// Log a health line (memory, callback overruns, dropped input) every SECONDS.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    stats: Option<u64>,
}

/// The board flag, shared by the commands that use the hardware.
#[derive(Debug, clap::Args)]
struct BoardArg {
    /// Board: rpi3 (the original), rpi3bplus, rpi4, rpizero2w, rpi5, desktop, or the path of a
    /// board file [default: the settings' "board", else rpi3].
    #[arg(long)]
    board: Option<String>,
}

#[cfg(feature = "device")]
#[derive(Debug, clap::Args)]
struct PlayArgs {
    #[command(flatten)]
    song: SongArgs,
    #[command(flatten)]
    board: BoardArg,
}

#[cfg(feature = "device")]
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Settings file [default: localSettings.json, then settings.json, in the current folder;
    /// without either, the built-in demo].
    #[arg(long)]
    settings: Option<PathBuf>,
    #[command(flatten)]
    board: BoardArg,
    /// Report the settings' problems, the hardware that answers, the MIDI ports, the sound
    /// devices and every pad the corners can select, then exit (1 if something is missing).
    #[arg(long)]
    check: bool,
}

#[cfg(unix)]
#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// The SD card's root file system as mounted here (`/` on the Pi itself).
    #[arg(long)]
    sd: PathBuf,
    #[command(flatten)]
    board: BoardArg,
    /// The card's boot partition [default: boot/firmware or boot under --sd, then bootfs or
    /// boot beside it].
    #[arg(long)]
    boot: Option<PathBuf>,
    /// The program to install [default: the aarch64, else the armv7, release build under
    /// target/].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Settings to install when the card has none yet [default: localSettings.json, then
    /// settings.json, in the current folder].
    #[arg(long)]
    settings: Option<PathBuf>,
    /// The account the service runs as.
    #[arg(long, default_value = crate::install::DEFAULT_USER)]
    user: String,
    /// A folder of pads (`.bin` files, like a pipeline's output folder) to copy into the
    /// settings' data directory on the card; each is checked first.
    #[arg(long, value_name = "DIR")]
    pads: Option<PathBuf>,
    /// The read-only layout: the root under a RAM overlay, the pads on a partition of their own
    /// (remade from --pads), patches on a data partition, both after the root partition.
    #[arg(long)]
    read_only: bool,
    /// With --read-only: the card's disk (a device like /dev/sdb, or an image file) [default:
    /// the disk whose partition is mounted at --sd].
    #[arg(long, requires = "read_only")]
    disk: Option<PathBuf>,
}

#[cfg(unix)]
#[derive(Debug, clap::Args)]
struct ImageArgs {
    /// Raspberry Pi OS Lite as downloaded: .img or .img.xz (arm64; armhf for 32-bit boards).
    #[arg(long)]
    base: PathBuf,
    /// Board: rpi3 (the original), rpi3bplus, rpi4, rpizero2w, rpi5, or the path of a board file.
    #[arg(long)]
    board: String,
    /// The image to write (under a temporary name until it is complete).
    #[arg(long)]
    out: PathBuf,
    /// A folder of pads (like a pipeline's output folder) [default: the built-in demo pads].
    #[arg(long, value_name = "DIR")]
    pads: Option<PathBuf>,
    /// Settings for the pads [default: settings.json in --pads, else the demo's].
    #[arg(long)]
    settings: Option<PathBuf>,
    /// The program for the Pi [default: the aarch64, else the armv7, release build under
    /// target/].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// The account the service runs as, made in the image with a locked password.
    #[arg(long, default_value = crate::install::DEFAULT_USER)]
    user: String,
    /// The Pi's host name on the network.
    #[arg(long)]
    hostname: Option<String>,
    /// A public key file (like ~/.ssh/id_ed25519.pub): SSH is switched on for --user with it.
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<PathBuf>,
    /// Wi-Fi country code (like GB or US); with --wifi-ssid and --wifi-psk.
    #[arg(long, requires_all = ["wifi_ssid", "wifi_psk"])]
    wifi_country: Option<String>,
    /// Wi-Fi network name.
    #[arg(long, requires_all = ["wifi_country", "wifi_psk"])]
    wifi_ssid: Option<String>,
    /// Wi-Fi passphrase.
    #[arg(long, requires_all = ["wifi_country", "wifi_ssid"])]
    wifi_psk: Option<String>,
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
    /// Each corner's starting instrument by name, A,B,C,D in corner order (the `name`s of the
    /// settings' corners) [default: the first of every corner].
    #[arg(long, value_parser = parse_instruments)]
    instruments: Option<[String; 4]>,
    /// At most this many seconds after the last event, for release tails (0–60).
    #[arg(long, default_value_t = 10.0, value_parser = parse_tail)]
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
            instruments: self.instruments.clone(),
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

/// Four instrument names separated by commas.
fn parse_instruments(text: &str) -> Result<[String; 4], String> {
    let names: Vec<String> = text.split(',').map(|name| name.trim().to_owned()).collect();
    match <[String; 4]>::try_from(names) {
        Ok(names) if names.iter().all(|name| !name.is_empty()) => Ok(names),
        _ => Err(format!(
            "`{text}` is not four instrument names A,B,C,D, one per corner"
        )),
    }
}

/// A number of seconds from 0 to `limit`, for the flags that ask for a length of time.
fn parse_seconds(text: &str, limit: f64) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.0..=limit).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0 to {limit}"
        )),
    }
}

fn parse_tail(text: &str) -> Result<f32, String> {
    parse_seconds(text, f64::from(crate::limits::TAIL_SECONDS)).map(|seconds| seconds as f32)
}

#[cfg(feature = "device")]
fn parse_duration(text: &str) -> Result<f64, String> {
    parse_seconds(text, crate::limits::SONG_SECONDS)
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
    if cli.command.polls_stop() {
        crate::stop::install().context("cannot handle SIGINT and SIGTERM")?;
    }
    match cli.command {
        Command::Render(args) => render(args),
        #[cfg(feature = "device")]
        Command::Play(args) => {
            let settings = load_settings(args.song.settings.as_deref())?;
            let board = board(&settings, &args.board)?;
            let midi = &args.song.midi;
            let options = args.song.options()?;
            let device = crate::play::play(&settings, midi, &options, board.audio_card.as_deref())
                .with_context(|| format!("playing {}", midi.display()))?;
            println!("played {} on {device}", midi.display());
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "device")]
        Command::Run(args) => run_instrument(args),
        #[cfg(feature = "device")]
        Command::Simulate(args) => simulate(args),
        #[cfg(unix)]
        Command::Install(args) => install(args),
        #[cfg(unix)]
        Command::Image(args) => image(args),
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

/// The board `--board` names (relative paths from the current folder), else the settings'
/// (relative paths from the settings file's folder).
fn board(settings: &Settings, flag: &BoardArg) -> anyhow::Result<Board> {
    let board = match &flag.board {
        Some(spec) => Board::select(spec, Path::new("."))?,
        None => {
            let base = settings.file.parent().unwrap_or(Path::new("."));
            Board::select(&settings.board, base)
                .with_context(|| format!("the \"board\" of {}", settings.file.display()))?
        }
    };
    Ok(board)
}

fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.song.settings.as_deref())?;
    let options = args.song.options()?;
    let midi = &args.song.midi;
    let report = crate::render::render(&settings, midi, &args.out, &options, args.format)
        .with_context(|| format!("rendering {}", midi.display()))?;
    let seconds = report.frames as f64 / f64::from(settings.audio.sample_rate);
    println!(
        "wrote {}: {seconds:.2} s, {} notes, peak {:.1} dBFS, starting on pad {}",
        args.out.display(),
        report.notes,
        20.0 * report.peak.max(1e-9).log10(),
        report.pad.display()
    );
    if report.ignored > 0 {
        tracing::warn!(
            "{} program changes above 3 were ignored: programs 0–3 load patches 1–4",
            report.ignored
        );
    }
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
    let started = std::time::Instant::now();
    let settings = settings_or_demo(args.settings.as_deref())?;
    let script = match &args.script {
        Some(path) => crate::sim::script::read(path)?,
        None => Vec::new(),
    };
    let fast = args.headless && args.wav.is_some() && args.script.is_some();
    let quits = script
        .iter()
        .any(|event| event.event == crate::sim::SimEvent::Quit);
    let ending = match args.duration {
        Some(seconds) => Ending::After(seconds),
        None if args.headless && !script.is_empty() && !quits => Ending::ScriptFaded,
        None => Ending::Never,
    };
    let sound = match args.wav {
        Some(path) => {
            let inputs: Vec<&Path> = [Some(settings.file.as_path()), args.script.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            crate::atomic::check_output(&path, &inputs)?;
            Sound::Wav(path)
        }
        None if args.no_sound => Sound::StandIn,
        None => Sound::Card { card: None },
    };
    let serial = settings.midi.device.clone();
    let mut session = Session::new(settings, sound, Pace { fast })?
        .with_script(script)
        .with_ending(ending);
    if let Some(seconds) = args.stats {
        session = session.with_health(std::time::Duration::from_secs(seconds));
    }
    desktop(session, args.headless, serial.as_deref(), started)
}

/// The instrument with the desktop's stand-ins: the screen and keys in the terminal (unless
/// `headless`), USB MIDI and OSC.
#[cfg(feature = "device")]
fn desktop(
    mut session: Session,
    headless: bool,
    serial: Option<&Path>,
    started: std::time::Instant,
) -> anyhow::Result<ExitCode> {
    if !headless {
        let console = crate::sim::console::Console::open()
            .context("cannot use this terminal; try --headless")?;
        let (events, keys) = std::sync::mpsc::channel();
        console.spawn_input(events)?;
        session = session.with_display(Box::new(console)).with_keyboard(keys);
    }
    session.with_remotes(serial).run(started)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "device")]
fn run_instrument(args: RunArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;

    let started = std::time::Instant::now();
    let settings = settings_or_demo(args.settings.as_deref())?;
    let board = board(&settings, &args.board)?;
    if args.check {
        let report = crate::check::check(&settings, &board);
        println!("{report}");
        return Ok(if report.problems() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    tracing::info!("board {}: {}", board.name, board.description);
    let sound = Sound::Card {
        card: board.audio_card.clone(),
    };
    let serial = crate::check::serial_port(&settings, &board).map(Path::to_path_buf);
    let session = Session::new(settings, sound, Pace { fast: false })?;
    if board.i2c.is_none() && board.gpio.is_none() {
        let headless = !std::io::stdin().is_terminal();
        return desktop(session, headless, serial.as_deref(), started);
    }
    let display = crate::app::oled_display(&board).unwrap_or_else(|| Box::new(NoDisplay));
    let session = session.with_display(display);
    let _inputs = crate::app::start_inputs(&board, session.input_sender.clone());
    session.with_remotes(serial.as_deref()).run(started)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.settings.as_deref())?;
    let board = board(&settings, &args.board)?;
    let binary = match args.binary {
        Some(binary) => binary,
        None => arm_build()?,
    };
    let report = crate::install::install(&crate::install::InstallOptions {
        root: &args.sd,
        boot: args.boot.as_deref(),
        board: &board,
        binary: &binary,
        settings: &settings.file,
        user: &args.user,
        pads: args.pads.as_deref(),
        read_only: args.read_only.then_some(crate::install::ReadOnly {
            disk: args.disk.as_deref(),
            scratch: None,
            stamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
        }),
    })?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn image(args: ImageArgs) -> anyhow::Result<ExitCode> {
    let board = Board::select(&args.board, Path::new("."))?;
    let binary = match args.binary {
        Some(binary) => binary,
        None => arm_build()?,
    };
    let mut inputs = vec![args.base.as_path(), binary.as_path()];
    inputs.extend(args.pads.as_deref());
    inputs.extend(args.settings.as_deref());
    crate::atomic::check_output(&args.out, &inputs)?;
    let folder = match args.out.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let scratch = tempfile::Builder::new()
        .prefix(".open-nsynth-image-")
        .tempdir_in(folder)
        .with_context(|| format!("cannot create a temporary folder in {}", folder.display()))?;
    let scratch_path = scratch.path().to_path_buf();
    crate::stop::exit_on_signal(move || {
        crate::atomic::remove_unfinished();
        let _ = std::fs::remove_dir_all(&scratch_path);
        eprintln!("open-nsynth image: stopped; nothing was written under the output's name");
    })?;
    let (pads, settings) = match (&args.pads, &args.settings) {
        (Some(pads), Some(settings)) => (pads.clone(), settings.clone()),
        (Some(pads), None) => {
            let settings = pads.join("settings.json");
            if !settings.is_file() {
                anyhow::bail!(
                    "{} has no settings.json; pass the pads' settings with --settings",
                    pads.display()
                );
            }
            (pads.clone(), settings)
        }
        (None, settings) => {
            let demo = crate::demo::write_demo(&scratch.path().join("demo"), 16000)?;
            let folder = demo
                .pad
                .parent()
                .expect("the demo pad is in a folder")
                .to_path_buf();
            (folder, settings.clone().unwrap_or(demo.settings))
        }
    };
    let wifi = match (&args.wifi_country, &args.wifi_ssid, &args.wifi_psk) {
        (Some(country), Some(ssid), Some(psk)) => Some(crate::image::Wifi { country, ssid, psk }),
        _ => None,
    };
    eprintln!(
        "making {} from {} (unpacking a download takes a minute or two)",
        args.out.display(),
        args.base.display()
    );
    let report = crate::image::make(&crate::image::ImageOptions {
        base: &args.base,
        board: &board,
        out: &args.out,
        binary: &binary,
        settings: &settings,
        pads: &pads,
        user: &args.user,
        system: crate::image::System {
            hostname: args.hostname.as_deref(),
            ssh_key: args.ssh_key.as_deref(),
            wifi,
        },
        scratch: scratch.path(),
    })?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// The release build for the Pi: 64-bit first (every supported board runs it), then 32-bit.
#[cfg(unix)]
fn arm_build() -> anyhow::Result<PathBuf> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let triples = ["aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"];
    triples
        .iter()
        .map(|triple| target.join(triple).join("release").join("open-nsynth"))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no ARM build of open-nsynth under {}; build one with `scripts/setup.sh --cross && \
                 cargo build --release --target aarch64-unknown-linux-gnu`, or pass --binary",
                target.display()
            )
        })
}
