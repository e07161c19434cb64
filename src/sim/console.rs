//! The simulator's terminal: draws the OLED in half blocks with a status line, and turns key
//! presses, key releases and mouse moves into [`SimEvent`]s on a thread of its own. Restores the
//! terminal when dropped.

use std::io::{Stdout, Write};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crossterm::event::{
    self, Event, KeyCode, KeyEventKind, KeyModifiers, KeyboardEnhancementFlags, MouseEventKind,
    PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::{cursor, execute, queue, style, terminal};

use super::keys::{Key, Keyboard};
use super::terminal::half_blocks;
use super::SimEvent;
use crate::input::Input;
use crate::ui::Pages;

/// Without key-release reports a note key sounds for this long.
const NOTE_WITHOUT_RELEASE: Duration = Duration::from_millis(400);
/// Where the home screen's particle grid sits, in OLED pixels: cell (0,0) at (39, 7), 5 apart.
const GRID_ORIGIN: (f32, f32) = (39.0, 7.0);
const GRID_STEP: f32 = 5.0;

/// The terminal in raw mode on the alternate screen.
pub struct Console {
    out: Stdout,
    shown: Vec<String>,
    releases: bool,
}

impl Console {
    pub fn open() -> std::io::Result<Self> {
        terminal::enable_raw_mode()?;
        let mut out = std::io::stdout();
        execute!(
            out,
            terminal::EnterAlternateScreen,
            cursor::Hide,
            event::EnableMouseCapture
        )?;
        let releases = terminal::supports_keyboard_enhancement().unwrap_or(false);
        if releases {
            execute!(
                out,
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::REPORT_EVENT_TYPES)
            )?;
        }
        Ok(Self {
            out,
            shown: Vec::new(),
            releases,
        })
    }

    /// Whether the terminal reports key releases (otherwise notes last a fixed time and a patch
    /// key is a short press).
    pub fn reports_releases(&self) -> bool {
        self.releases
    }

    /// Draws the screen (only the lines that changed) and the status line under it.
    pub fn draw(&mut self, pages: &Pages, status: &str) -> std::io::Result<()> {
        let mut lines = half_blocks(pages);
        lines.push(format!("{status:<128}"));
        for (row, line) in lines.iter().enumerate() {
            if self.shown.get(row) != Some(line) {
                queue!(self.out, cursor::MoveTo(0, row as u16), style::Print(line))?;
            }
        }
        self.shown = lines;
        self.out.flush()
    }

    /// Reads the terminal on a thread of its own until Escape, sending events to `events`.
    pub fn spawn_input(
        &self,
        events: Sender<SimEvent>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let releases = self.releases;
        std::thread::Builder::new()
            .name("sim-keyboard".into())
            .spawn(move || read_input(events, releases))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if self.releases {
            let _ = execute!(self.out, PopKeyboardEnhancementFlags);
        }
        let _ = execute!(
            self.out,
            event::DisableMouseCapture,
            cursor::Show,
            terminal::LeaveAlternateScreen
        );
        let _ = terminal::disable_raw_mode();
    }
}

fn read_input(events: Sender<SimEvent>, releases: bool) {
    let mut keyboard = Keyboard::default();
    // Note-offs due when the terminal cannot report releases.
    let mut pending_offs: Vec<(Instant, SimEvent)> = Vec::new();
    loop {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            pending_offs.drain(..).partition(|(due, _)| *due <= now);
        pending_offs = later;
        for (_, off) in due {
            if events.send(off).is_err() {
                return;
            }
        }
        let wait = pending_offs
            .iter()
            .map(|(due, _)| due.saturating_duration_since(now))
            .min();
        match event::poll(wait.unwrap_or(Duration::from_millis(200))) {
            Ok(false) => continue,
            Err(_) => return,
            Ok(true) => {}
        }
        let Ok(event) = event::read() else { return };
        let mut out = Vec::new();
        match event {
            Event::Key(key_event) => {
                let Some(key) = map_key(key_event.code, key_event.modifiers) else {
                    continue;
                };
                match key_event.kind {
                    KeyEventKind::Repeat => continue,
                    KeyEventKind::Press => {
                        if let Some(sim) = keyboard.event(key, true) {
                            out.push(sim.clone());
                            if !releases {
                                if let Some(release) = keyboard.event(key, false) {
                                    match sim {
                                        SimEvent::Note { .. } => pending_offs
                                            .push((Instant::now() + NOTE_WITHOUT_RELEASE, release)),
                                        _ => out.push(release),
                                    }
                                }
                            }
                        }
                    }
                    KeyEventKind::Release => out.extend(keyboard.event(key, false)),
                }
            }
            Event::Mouse(mouse)
                if matches!(mouse.kind, MouseEventKind::Moved | MouseEventKind::Drag(_)) =>
            {
                // A terminal cell is one OLED pixel wide and two high.
                let (px, py) = (f32::from(mouse.column), f32::from(mouse.row) * 2.0 + 0.5);
                let cell = |p: f32, origin: f32| ((p - origin) / GRID_STEP).round();
                let (x, y) = (cell(px, GRID_ORIGIN.0), cell(py, GRID_ORIGIN.1));
                if (0.0..=10.0).contains(&x) && (0.0..=10.0).contains(&y) {
                    out.push(SimEvent::Input(Input::Touch {
                        x: x as u8,
                        y: y as u8,
                    }));
                }
            }
            _ => {}
        }
        for sim in out {
            let quit = sim == SimEvent::Quit;
            if events.send(sim).is_err() || quit {
                return;
            }
        }
    }
}

/// The simulator's key for a terminal key; Ctrl-C quits like Esc (raw mode turns it into a key).
fn map_key(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
    match code {
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => Some(Key::Escape),
        KeyCode::Char(c) => Some(Key::Char(c.to_ascii_lowercase())),
        KeyCode::F(n) => Some(Key::F(n)),
        KeyCode::Esc => Some(Key::Escape),
        _ => None,
    }
}
