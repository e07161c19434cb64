//! Live playback of a MIDI file through the sound card: the same engine and controls as the
//! instrument, fed from a song in real time, with pads streamed by the loader thread. For trying
//! pads and settings on a desktop, and for checking the audio path of a device.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;

use crate::engine::{Action, Command, Engine, EngineConfig};
use crate::midi::Meaning;
use crate::pad::{LoadEvent, Loader, PadStreamer};
use crate::render::{read_song, SongControls, SongOptions};
use crate::settings::Settings;

/// Commands queued ahead of the engine.
const QUEUE: usize = 4096;
/// How far ahead of the sound card events are queued, and how long the first one waits. A pad
/// the song's controls select is asked for this much early, so it is usually resident in time.
const LEAD: Duration = Duration::from_millis(100);
/// How often the feeder wakes.
const TICK: Duration = Duration::from_millis(10);

/// Plays `midi` from where `options` start the instrument until its last note has faded.
/// `card` is the board's sound card (see [`crate::audio::start`]).
pub fn play(
    settings: &Settings,
    midi: &Path,
    options: &SongOptions,
    card: Option<&str>,
) -> anyhow::Result<String> {
    let rate = settings.audio.sample_rate;
    let song = read_song(midi, settings, options)?;
    let mut controls = SongControls::new(settings, options)?;
    let (mut engine, link) = Engine::new(EngineConfig::from_settings(settings), controls.knobs());
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
    streamer.request(controls.target());
    match streamer.wait_event(Duration::from_secs(30)) {
        Some(LoadEvent::Loaded { .. }) => {}
        Some(LoadEvent::Failed { error, .. }) => return Err(error.into()),
        None => bail!("the pad did not load within 30 s"),
    }
    let lead = (LEAD.as_secs_f64() * f64::from(rate)) as u64;
    let start = status.frame.load(Ordering::Relaxed) + lead;
    let last = start + song.cues.last().map_or(0, |cue| cue.frame);
    let tail = (options.tail_seconds.max(0.0) * rate as f32) as u64;
    let mut pending = song.cues.iter().peekable();
    // Actions due that the ring has no room for yet, in order.
    let mut owed: VecDeque<Command> = VecDeque::new();
    loop {
        let now = status.frame.load(Ordering::Relaxed);
        loop {
            while let Some(&command) = owed.front() {
                if commands.push(command).is_err() {
                    break;
                }
                owed.pop_front();
            }
            if !owed.is_empty() {
                break;
            }
            let Some(cue) = pending.next_if(|cue| start + cue.frame <= now + lead) else {
                break;
            };
            let command = |action: Action| Command {
                at: start + cue.frame,
                action,
            };
            match cue.meaning {
                Meaning::Play(action) => owed.push_back(command(action)),
                Meaning::Control(input) => {
                    let changes = controls.handle(input);
                    owed.extend(changes.actions.into_iter().map(command));
                    if let Some(target) = changes.pad {
                        streamer.request(target);
                    }
                }
                Meaning::Ignored => {}
            }
        }
        for event in streamer.events() {
            if let LoadEvent::Failed { error, .. } = event {
                tracing::warn!("{error}");
            }
        }
        let silent = status.voices.load(Ordering::Relaxed) == 0;
        if pending.peek().is_none()
            && owed.is_empty()
            && now > last
            && (silent || now > last + tail)
        {
            return Ok(output.device);
        }
        crate::stop::check()?;
        std::thread::sleep(TICK);
    }
}
