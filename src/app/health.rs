//! The instrument's health line, logged at a fixed interval when asked for (`--stats`): memory,
//! the sound card callback's timing, and everything dropped on the way in; and the warnings, at
//! most once a second per source, about input the engine had no room for. For soak tests and for
//! watching a device in the journal; it only reads counters the other parts keep.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::output::Output;
use super::remotes::Remotes;
use super::Hubs;
use crate::drops::DropReport;

/// Why a hub drops an action: the ring into the engine is full, or there is no engine to take it.
const NO_ROOM: &str = "the engine's queue was full or no sound output is open";

/// The drop warnings of every source of engine commands.
pub struct DropWarnings {
    controls: DropReport,
    serial: DropReport,
    usb: DropReport,
    osc: DropReport,
}

impl DropWarnings {
    pub fn new(now: Instant) -> Self {
        let report = |noun| DropReport::new(noun, NO_ROOM, now);
        Self {
            controls: report("control command"),
            serial: report("serial MIDI message"),
            usb: report("USB MIDI message"),
            osc: report("OSC message"),
        }
    }

    /// Warns about what each source has dropped since its last warning, where that is due.
    pub fn tick(&mut self, hubs: &Hubs, remotes: Option<&Remotes>, now: Instant) {
        self.controls.observe(hubs.ui.dropped(), now);
        self.serial.observe(hubs.serial.dropped(), now);
        self.usb.observe(hubs.usb.dropped(), now);
        // OSC's own count: the actions its hub refused and the controls that found the
        // controller's channel closed.
        if let Some(osc) = remotes.and_then(|remotes| remotes.osc.as_ref()) {
            self.osc.observe(osc.counts().undelivered, now);
        }
    }
}

/// When the next line is due.
pub struct Health {
    every: Duration,
    started: Instant,
    next: Instant,
}

impl Health {
    pub fn every(every: Duration) -> Health {
        let now = Instant::now();
        Health {
            every,
            started: now,
            next: now + every,
        }
    }

    /// Logs the line if it is due.
    pub fn tick(&mut self, output: &Output, remotes: Option<&Remotes>) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + self.every;
        let mut line = format!("health at {} s:", (now - self.started).as_secs());
        if let Some((resident, peak)) = memory_kb("self") {
            line += &format!(" memory {} MB (peak {} MB);", resident / 1024, peak / 1024);
        }
        if let Some(stats) = output.callback_stats() {
            line += &format!(
                " {} callbacks, {} overruns, worst {:.2} ms;",
                stats.callbacks.load(Ordering::Relaxed),
                stats.overruns.load(Ordering::Relaxed),
                stats.worst_ns.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
        if let Some(status) = output.status() {
            line += &format!(
                " {} notes dropped;",
                status.dropped_notes.load(Ordering::Relaxed)
            );
        }
        if let Some(remotes) = remotes {
            line += &remotes.dropped_summary();
        }
        tracing::info!("{}", line.trim_end_matches(';'));
    }
}

/// Resident and peak resident memory of process `pid` (a number, or `self`), in kB, where the
/// system says (Linux's `/proc`).
pub fn memory_kb(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
