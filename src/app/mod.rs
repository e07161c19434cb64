//! The instrument: wires settings, controls, screens, pads, the engine, MIDI, OSC and the sound
//! output together and runs the 30 fps control loop. `run` uses the board's hardware;
//! `simulate` the desktop stand-ins. Every device is optional: what is missing is logged once and
//! the rest keeps working; the audio device is opened again when it comes back.

mod hardware;
mod health;
mod hub;
mod output;
pub mod remotes;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub use hardware::{oled_display, start_inputs};
pub use health::memory_kb;
use health::{DropWarnings, Health};
pub use hub::CommandHub;
use output::{Device, Output};
use remotes::Remotes;

use crate::control::{Controller, Effect};
use crate::engine::{Action, Engine, EngineConfig, EngineStatus};
use crate::input::Input;
use crate::midi::{Meaning, MidiMapping};
use crate::osc::{OscHandler, StateReport, Undelivered};
use crate::patch::{PatchError, PatchStore};
use crate::settings::Settings;
use crate::sim::script::TimedEvent;
use crate::sim::SimEvent;
use crate::ui::{Framebuffer, Pages, Ui};

/// Control loop rate: the original's frame rate.
pub const FRAME_RATE: f64 = 30.0;
/// Longest real-time step one frame takes: after a stall (a suspended process, a slow card) the
/// session does not jump ahead by the whole gap.
const MAX_FRAME_STEP: f64 = 0.25;
/// Command ring size of each producer.
const RING: usize = 1024;

/// Where the screen goes.
pub trait Display {
    /// Shows one frame; `status` is a line of text for displays that have room for it.
    fn show(&mut self, pages: &Pages, status: &str) -> Result<(), String>;
}

/// No screen (headless services and tests).
pub struct NoDisplay;

impl Display for NoDisplay {
    fn show(&mut self, _: &Pages, _: &str) -> Result<(), String> {
        Ok(())
    }
}

impl Display for crate::sim::console::Console {
    fn show(&mut self, pages: &Pages, status: &str) -> Result<(), String> {
        self.draw(pages, status).map_err(|error| error.to_string())
    }
}

/// Where the sound goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sound {
    /// The sound card: the board's card (ALSA name) if it names one, else the default output.
    Card { card: Option<String> },
    /// A WAV file rendered on the control thread.
    Wav(PathBuf),
    /// No sound card: the engine runs in the same callback on a thread paced like one, and the
    /// sound is discarded (for soak tests and machines without a card).
    StandIn,
}

/// How the session ends and how it keeps time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pace {
    /// Run as fast as the machine can (offline render of a script), not in real time.
    pub fast: bool,
}

/// When a session ends by itself. Esc, a scripted `quit`, SIGINT and SIGTERM end any session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ending {
    /// Never: an instrument plays until it is switched off.
    Never,
    /// After this many seconds of session time.
    After(f64),
    /// Once the script has played its last event and the notes have faded, at most
    /// [`SCRIPT_TAIL`] seconds after that event.
    ScriptFaded,
}

/// Longest release tail a script without `quit` is given after its last event.
pub const SCRIPT_TAIL: f64 = 10.0;

/// The producers' hubs, one per thread that sends commands to the engine.
#[derive(Clone, Default)]
pub struct Hubs {
    pub ui: CommandHub,
    pub serial: CommandHub,
    pub usb: CommandHub,
    pub osc: CommandHub,
}

impl Hubs {
    /// A new engine for `settings` with every hub plugged into it.
    pub fn engine(
        &self,
        settings: &Settings,
        knobs: crate::engine::Knobs,
    ) -> (Engine, crate::engine::BankLink) {
        let (mut engine, link) = Engine::new(EngineConfig::from_settings(settings), knobs);
        for hub in [&self.ui, &self.serial, &self.usb, &self.osc] {
            hub.connect(engine.command_sender(RING));
        }
        (engine, link)
    }
}

/// What OSC `/state` answers, refreshed every frame (and published to OSC subscribers when it
/// changes).
pub type SharedState = Arc<Mutex<StateReport>>;

/// OSC requests routed into the app: notes to the engine, controls to the control loop.
pub struct OscRoutes {
    pub hub: CommandHub,
    pub controls: Sender<Input>,
    pub state: SharedState,
}

impl OscHandler for OscRoutes {
    fn note(&mut self, action: Action) -> Result<(), Undelivered> {
        self.hub.send(action).then_some(()).ok_or(Undelivered)
    }

    fn control(&mut self, input: Input) -> Result<(), Undelivered> {
        self.controls.send(input).map_err(|_| Undelivered)
    }

    fn state(&self) -> StateReport {
        self.state
            .lock()
            .map(|state| state.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

/// The running instrument.
pub struct Session {
    pub settings: Settings,
    /// What scripted MIDI means.
    midi: MidiMapping,
    controller: Controller,
    ui: Ui,
    frame: Framebuffer,
    display: Box<dyn Display>,
    inputs: Receiver<Input>,
    /// Keep a sender so the channel stays open even with no input thread.
    pub input_sender: Sender<Input>,
    sim_events: Option<Receiver<SimEvent>>,
    script: std::vec::IntoIter<TimedEvent>,
    next_scripted: Option<TimedEvent>,
    pub hubs: Hubs,
    pub state: SharedState,
    output: Output,
    pace: Pace,
    ending: Ending,
    /// MIDI and OSC, owned so they stop with the session and report what they dropped.
    remotes: Option<Remotes>,
    health: Option<Health>,
    drops: DropWarnings,
    /// Time of the script's last event.
    script_end: f64,
    /// Simulated seconds since the start, at the start of the frame being stepped: events due by
    /// then act before the frame's sound is rendered.
    elapsed: f64,
    loop_points: (f32, f32),
    effects: Vec<Effect>,
}

impl Session {
    /// Builds the instrument: controller from the settings and patches, engine, pads, sound; no
    /// screen until [`with_display`](Session::with_display).
    pub fn new(settings: Settings, sound: Sound, pace: Pace) -> anyhow::Result<Self> {
        let (patches, problems) = PatchStore::open(settings.patch_file.clone());
        for problem in problems {
            match problem {
                PatchError::Missing { .. } => tracing::info!("{problem}"),
                _ => tracing::warn!("{problem}"),
            }
        }
        let (cc_map, problem) = crate::midi::cc_map_in_force(&settings);
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
        let controller = Controller::new(&settings, patches, cc_map);
        let hubs = Hubs::default();
        let output = match sound {
            Sound::Wav(path) => Output::wav(&settings, &hubs, &controller, &path)?,
            Sound::Card { card } => Output::live(&settings, &hubs, &controller, Device::Card(card)),
            Sound::StandIn => Output::live(&settings, &hubs, &controller, Device::StandIn),
        };
        let (input_sender, inputs) = mpsc::channel();
        let state = Arc::new(Mutex::new(StateReport {
            grid: [0.5, 0.5],
            knobs: controller.knobs(),
            ..Default::default()
        }));
        Ok(Self {
            loop_points: (settings.pad.loop_start, settings.pad.loop_end),
            midi: MidiMapping::from_settings(&settings.midi),
            settings,
            controller,
            ui: Ui::new(),
            frame: Framebuffer::new(),
            display: Box::new(NoDisplay),
            inputs,
            input_sender,
            sim_events: None,
            script: Vec::new().into_iter(),
            next_scripted: None,
            hubs,
            state,
            output,
            pace,
            ending: Ending::Never,
            remotes: None,
            health: None,
            drops: DropWarnings::new(Instant::now()),
            script_end: 0.0,
            elapsed: 0.0,
            effects: Vec::new(),
        })
    }

    /// Where the screen goes.
    pub fn with_display(mut self, display: Box<dyn Display>) -> Self {
        self.display = display;
        self
    }

    /// Events from the simulator's keyboard.
    pub fn with_keyboard(mut self, events: Receiver<SimEvent>) -> Self {
        self.sim_events = Some(events);
        self
    }

    /// A scripted session: events played at their times.
    pub fn with_script(mut self, events: Vec<TimedEvent>) -> Self {
        self.script_end = events.last().map_or(0.0, |event| event.at);
        self.script = events.into_iter();
        self.next_scripted = self.script.next();
        self
    }

    /// Starts MIDI (serial from `serial`, and USB) and OSC for the session.
    pub fn with_remotes(mut self, serial: Option<&std::path::Path>) -> Self {
        self.remotes = Some(remotes::start(&self, serial));
        self
    }

    /// Logs a health line (memory, callback timing, dropped input) every `every`.
    pub fn with_health(mut self, every: Duration) -> Self {
        self.health = Some(Health::every(every));
        self
    }

    /// How the session ends by itself.
    pub fn with_ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }

    pub fn status(&self) -> Option<Arc<EngineStatus>> {
        self.output.status()
    }

    /// Runs the control loop until the keyboard or the script quits, its [`Ending`] comes, or a
    /// stop is requested ([`crate::stop`]); a recording is finished in every case.
    pub fn run(mut self, started: Instant) -> anyhow::Result<()> {
        let period = Duration::from_secs_f64(1.0 / FRAME_RATE);
        let mut next = Instant::now();
        let mut previous: Option<Instant> = None;
        let mut ready = false;
        let mut said_silent = false;
        while !crate::stop::requested() {
            // In real time a frame advances by the time that really passed, so hold times and
            // screen timeouts keep their length when frames run late; offline, by exactly one
            // frame, so renders are the same every time.
            let now = Instant::now();
            let dt = match previous {
                Some(before) if !self.pace.fast => (now - before).as_secs_f64().min(MAX_FRAME_STEP),
                _ => 1.0 / FRAME_RATE,
            };
            previous = Some(now);
            if !self.step(dt as f32)? {
                break;
            }
            // Ready to play once a frame has run with the sound going out; said once, with the
            // time since power-on (the kernel's start) for boot-to-sound measurements.
            if !ready && (self.output.sounding() || !said_silent) {
                let since_boot = std::fs::read_to_string("/proc/uptime")
                    .ok()
                    .and_then(|uptime| seconds_since_boot(&uptime))
                    .map(|seconds| format!(", {seconds:.2} s after the kernel started"))
                    .unwrap_or_default();
                let took = started.elapsed().as_millis();
                if self.output.sounding() {
                    ready = true;
                    tracing::info!("ready to play in {took} ms{since_boot}");
                } else {
                    said_silent = true;
                    tracing::warn!(
                        "running in {took} ms{since_boot}, but without sound yet; \"ready to play\" \
                         follows when the sound card opens"
                    );
                }
            }
            if !self.pace.fast {
                next += period;
                match next.checked_duration_since(Instant::now()) {
                    Some(rest) => std::thread::sleep(rest),
                    None => next = Instant::now(),
                }
            }
        }
        self.output.finish()
    }

    /// One frame of the control loop; false once the session should end.
    pub fn step(&mut self, dt: f32) -> anyhow::Result<bool> {
        let mut quit = false;
        while let Ok(input) = self.inputs.try_recv() {
            self.controller.handle(input, &mut self.effects);
        }
        let mut events = Vec::new();
        if let Some(keyboard) = &self.sim_events {
            events.extend(keyboard.try_iter());
        }
        while let Some(scripted) = self.next_scripted.take() {
            if scripted.at > self.elapsed {
                self.next_scripted = Some(scripted);
                break;
            }
            events.push(scripted.event);
            self.next_scripted = self.script.next();
        }
        for event in events {
            quit |= self.sim_event(event)?;
        }
        if quit {
            // A quit due at this frame's start ends the session before the frame sounds.
            return Ok(false);
        }
        self.controller.tick(dt, &mut self.effects);
        self.apply_effects();
        self.ui.frame(self.controller.model(), dt, &mut self.frame);
        let status = self.status_line();
        if let Err(error) = self.display.show(&self.frame.pages(), &status) {
            tracing::debug!("display: {error}");
        }
        self.output
            .advance(f64::from(dt), &self.settings, &self.hubs, &self.controller)?;
        self.publish_state();
        if let Some(health) = &mut self.health {
            health.tick(&self.output, self.remotes.as_ref());
        }
        self.drops
            .tick(&self.hubs, self.remotes.as_ref(), Instant::now());
        self.elapsed += f64::from(dt);
        Ok(!self.ended())
    }

    /// Whether the session's [`Ending`] has come.
    fn ended(&self) -> bool {
        match self.ending {
            Ending::Never => false,
            Ending::After(seconds) => self.elapsed >= seconds,
            Ending::ScriptFaded => {
                self.next_scripted.is_none()
                    && self.elapsed >= self.script_end
                    && (self.voices() == 0 || self.elapsed >= self.script_end + SCRIPT_TAIL)
            }
        }
    }

    fn voices(&self) -> u32 {
        self.output
            .status()
            .map_or(0, |s| s.voices.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn sim_event(&mut self, event: SimEvent) -> anyhow::Result<bool> {
        match event {
            SimEvent::Input(input) => self.controller.handle(input, &mut self.effects),
            SimEvent::Note { note, velocity } => {
                self.hubs.ui.send(Action::NoteOn { note, velocity });
            }
            SimEvent::Midi(event) => match self.midi.meaning_on_any_channel(&event) {
                Some(Meaning::Play(action)) => {
                    self.hubs.ui.send(action);
                }
                Some(Meaning::Control(input)) => self.controller.handle(input, &mut self.effects),
                Some(Meaning::Ignored) => tracing::info!("{event:?} ignored"),
                None => {}
            },
            SimEvent::LoopStart(delta) | SimEvent::LoopEnd(delta) => {
                let (mut start, mut end) = self.loop_points;
                match event {
                    SimEvent::LoopStart(_) => start = (start + delta).clamp(0.0, 1.0),
                    _ => end = (end + delta).clamp(0.0, 1.0),
                }
                if start > end {
                    std::mem::swap(&mut start, &mut end);
                }
                self.loop_points = (start, end);
                tracing::info!("loop start {start:.2}, end {end:.2}");
                self.hubs.ui.send(Action::Loop { start, end });
            }
            SimEvent::Screenshot(path) => {
                let image = crate::sim::terminal::pbm(&self.frame.pages());
                crate::atomic::write_bytes(&path, image.as_bytes(), Default::default())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            SimEvent::Quit => return Ok(true),
        }
        Ok(false)
    }

    fn apply_effects(&mut self) {
        for effect in std::mem::take(&mut self.effects) {
            match effect {
                Effect::Engine(action) => {
                    self.hubs.ui.send(action);
                }
                Effect::Pad(target) => self.output.request_pad(target),
                Effect::Warning(warning) => tracing::warn!("{warning}"),
                Effect::Notice(notice) => tracing::info!("{notice}"),
            }
        }
    }

    fn status_line(&self) -> String {
        let target = self.controller.pad_target();
        let voices = self.voices();
        let learning = match self.controller.learning() {
            Some(control) => format!("MIDI learn: move a control for {} | ", control.name()),
            None => String::new(),
        };
        format!(
            "{learning}{} | voices {voices} | {} | Esc quits; keys: g-; knobs up, b-/ down, asdf/zxcv encoders, q-p notes, -= octave, F1-F4 patches, F5 MIDI learn",
            target.pad,
            self.output.describe()
        )
    }

    fn publish_state(&self) {
        let target = self.controller.pad_target();
        let model = self.controller.model();
        let corners = std::array::from_fn(|c| {
            self.settings.corners[c]
                .get(model.corners[c].selected)
                .map(|i| i.name.clone())
                .unwrap_or_default()
        });
        let tuning = self.controller.tuning();
        let report = StateReport {
            grid: [target.x, target.y],
            knobs: self.controller.knobs(),
            corners,
            voices: self.voices(),
            patch: self.controller.last_patch(),
            transpose: tuning.transpose,
            fine_tune: tuning.fine_tune,
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *state == report {
            return;
        }
        *state = report.clone();
        // Stored before it is published: a subscriber the feedback thread misses with this change
        // subscribed after it was stored, and got it in its first state.
        drop(state);
        if let Some(osc) = self.remotes.as_ref().and_then(|r| r.osc.as_ref()) {
            osc.publish(report);
        }
    }
}

/// The seconds since the kernel started, from the text of `/proc/uptime` ("12.34 5.67").
fn seconds_since_boot(uptime: &str) -> Option<f64> {
    uptime.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_time_since_boot_is_the_first_number_of_proc_uptime() {
        assert_eq!(super::seconds_since_boot("17.93 30.12\n"), Some(17.93));
        assert_eq!(super::seconds_since_boot(""), None);
        assert_eq!(super::seconds_since_boot("soon 1"), None);
    }
}
