//! Live playback of a MIDI file through the sound card: the same engine as the instrument, fed
//! from a song in real time, with pads streamed by the loader thread. For trying pads and
//! settings on a desktop, and for checking the audio path of a device.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;

use crate::engine::{Command, Engine, EngineConfig};
use crate::pad::{LoadEvent, Loader, PadStreamer};
use crate::render::{read_song, song_target, SongOptions};
use crate::settings::Settings;

/// Commands queued ahead of the engine.
const QUEUE: usize = 4096;
/// How far ahead of the sound card events are queued, and how long the first one waits.
const LEAD: Duration = Duration::from_millis(100);
/// How often the feeder wakes.
const TICK: Duration = Duration::from_millis(10);

/// Plays `midi` with the startup pad until its last note has faded.
/// `card` is the board's sound card (see [`crate::audio::start`]).
pub fn play(
    settings: &Settings,
    midi: &Path,
    options: &SongOptions,
    card: Option<&str>,
) -> anyhow::Result<String> {
    let rate = settings.audio.sample_rate;
    let actions = read_song(midi, settings, options)?;
    let (mut engine, link) = Engine::new(EngineConfig::from_settings(settings), options.knobs);
    let mut commands = engine.command_sender(QUEUE);
    let status = std::sync::Arc::clone(engine.status());
    let loader = Loader::for_directory(
        settings.pad.layout.clone(),
        settings.engine.grid_interpolation,
        settings.pad.data_directory.clone(),
    );
    let streamer = PadStreamer::spawn(loader, link)?;
    let output = crate::audio::start(
        crate::audio::choose_device(&settings.audio, card)?,
        engine,
        &settings.audio,
    )?;
    tracing::info!("playing on {}", output.device);
    streamer.request(song_target(settings, options));
    match streamer.wait_event(Duration::from_secs(30)) {
        Some(LoadEvent::Loaded { .. }) => {}
        Some(LoadEvent::Failed { error, .. }) => return Err(error.into()),
        None => bail!("the pad did not load within 30 s"),
    }
    let lead = (LEAD.as_secs_f64() * f64::from(rate)) as u64;
    let start = status.frame.load(Ordering::Relaxed) + lead;
    let last = start + actions.last().map_or(0, |a| a.frame);
    let tail = (options.tail_seconds.max(0.0) * rate as f32) as u64;
    let mut pending = actions.iter().peekable();
    loop {
        let now = status.frame.load(Ordering::Relaxed);
        while let Some(next) = pending.peek() {
            let at = start + next.frame;
            if at > now + lead || commands.is_full() {
                break;
            }
            let _ = commands.push(Command {
                at,
                action: next.action,
            });
            pending.next();
        }
        let silent = status.voices.load(Ordering::Relaxed) == 0;
        if pending.peek().is_none() && now > last && (silent || now > last + tail) {
            return Ok(output.device);
        }
        crate::stop::check()?;
        std::thread::sleep(TICK);
    }
}
