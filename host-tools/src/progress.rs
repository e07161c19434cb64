//! Progress of the long steps, for people and for logs. On a terminal, an `indicatif` bar on
//! stderr; elsewhere (batch jobs' logs, `nohup`), a log line as soon as the first work is
//! measured, one every 30 s after, and one when the step ends. Both give done and total, the
//! rate in plain units (`1,105 samples/s`) and the time left, estimated from the first steps
//! and refined as the step goes on; before anything is measured they use a rate measured
//! beforehand if the step was given one, else say "estimating". It never affects what the
//! steps compute.

use std::io::IsTerminal;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{HumanCount, ProgressBar, ProgressStyle};

/// Time between two log lines of a step.
const LINE_EVERY: Duration = Duration::from_secs(30);

/// How often a step's log thread looks whether a line is due (the work may report progress
/// only every minute or two).
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Bars,
    Lines,
    Hidden,
}

/// How steps show their progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    view: View,
}

impl Progress {
    /// Bars on stderr when it is a terminal; log lines otherwise.
    pub fn stderr() -> Self {
        let view = if std::io::stderr().is_terminal() {
            View::Bars
        } else {
            View::Lines
        };
        Self { view }
    }

    /// Nothing at all (tests, library use).
    pub fn hidden() -> Self {
        Self { view: View::Hidden }
    }

    /// The progress of step `step`: `len` units of `unit` (a plural, e.g. `samples`).
    pub(crate) fn bar(&self, step: &str, len: u64, unit: &str) -> Bar {
        let shared = Arc::new(Shared {
            step: step.to_string(),
            unit: unit.to_string(),
            meter: Mutex::new(Meter::new(len, Instant::now())),
        });
        let (drawn, log_thread) = match self.view {
            View::Bars => (Some(drawn_bar(&shared, len)), None),
            View::Lines => (None, Some(start_log_thread(&shared))),
            View::Hidden => (None, None),
        };
        Bar {
            shared,
            drawn,
            log_thread,
        }
    }
}

/// One step's progress, updated from any thread.
pub struct Bar {
    shared: Arc<Shared>,
    /// The terminal's bar.
    drawn: Option<ProgressBar>,
    /// Keeps the log thread going; it ends when this is dropped.
    log_thread: Option<Sender<()>>,
}

impl Bar {
    /// `units` more are done.
    pub fn inc(&self, units: u64) {
        let now = Instant::now();
        {
            let mut meter = self.shared.meter();
            let done = meter.done + units;
            meter.set_done(done, now);
        }
        if let Some(bar) = &self.drawn {
            bar.inc(units);
        }
        self.log_if_due(now);
    }

    /// `done` are done.
    pub fn set_position(&self, done: u64) {
        let now = Instant::now();
        self.shared.meter().set_done(done, now);
        if let Some(bar) = &self.drawn {
            bar.set_position(done);
        }
        self.log_if_due(now);
    }

    fn log_if_due(&self, now: Instant) {
        if self.log_thread.is_some() {
            self.shared.log_if_due(now);
        }
    }

    /// Until the step's own progress is measured, its rate is taken to be `per_second` (one
    /// measured on a few units beforehand).
    pub fn expect_rate(&self, per_second: f64) {
        self.shared.meter().expected = Some(per_second).filter(|rate| *rate > 0.0);
    }

    /// The step turned out to have `total` units.
    pub fn set_length(&self, total: u64) {
        self.shared.meter().total = total;
        if let Some(bar) = &self.drawn {
            bar.set_length(total);
        }
    }

    /// The step is over: the bar goes, a log gets its summary.
    pub fn finish_and_clear(&self) {
        if let Some(bar) = &self.drawn {
            bar.finish_and_clear();
        } else if self.log_thread.is_some() {
            let summary = self
                .shared
                .meter()
                .finish(Instant::now(), &self.shared.unit);
            if let Some(summary) = summary {
                tracing::info!("{}: {summary}", self.shared.step);
            }
        }
    }
}

/// What the bar, the log thread and the updating threads share.
struct Shared {
    step: String,
    unit: String,
    meter: Mutex<Meter>,
}

impl Shared {
    fn meter(&self) -> MutexGuard<'_, Meter> {
        self.meter.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Logs the step's line if one is due at `now`.
    fn log_if_due(&self, now: Instant) {
        let line = self.meter().line_due(now, &self.unit);
        if let Some(line) = line {
            tracing::info!("{}: {line}", self.step);
        }
    }
}

/// The terminal's bar, its estimate read from the meter.
fn drawn_bar(shared: &Arc<Shared>, len: u64) -> ProgressBar {
    let template = format!(
        "{{prefix:>10}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {} \
         ({{estimate}})",
        shared.unit
    );
    let estimate = {
        let shared = Arc::clone(shared);
        move |_: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
            let estimate = shared.meter().estimate(Instant::now(), &shared.unit);
            let _ = out.write_str(&estimate);
        }
    };
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("estimate", estimate);
    let bar = ProgressBar::new(len)
        .with_style(style)
        .with_prefix(shared.step.clone());
    // Redrawn every second, so the time left counts down between reports of the work.
    bar.enable_steady_tick(LOOK_EVERY);
    bar
}

/// A thread that logs the step's line whenever one is due, until the returned sender is
/// dropped.
fn start_log_thread(shared: &Arc<Shared>) -> Sender<()> {
    let (keep, kept) = mpsc::channel::<()>();
    let shared = Arc::clone(shared);
    let looking = move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = kept.recv_timeout(LOOK_EVERY) {
            shared.log_if_due(Instant::now());
        }
    };
    if let Err(error) = std::thread::Builder::new()
        .name("progress".into())
        .spawn(looking)
    {
        tracing::warn!("progress lines only as the work reports: {error}");
    }
    keep
}

/// How far a step is, when that was measured, and when it was last logged. Every method takes
/// the time, so the estimates and the log's cadence can be tested with any clock.
#[derive(Debug)]
struct Meter {
    started: Instant,
    total: u64,
    done: u64,
    /// The first progress: when, and how much was done then (work resumed from an earlier run
    /// counts only here).
    first: Option<(Instant, u64)>,
    /// The latest progress.
    latest: Instant,
    /// When the last log line was written.
    logged: Option<Instant>,
    /// Whether a log line has given an estimate yet.
    estimated: bool,
    /// The rate until one is measured.
    expected: Option<f64>,
    finished: bool,
}

impl Meter {
    fn new(total: u64, now: Instant) -> Self {
        Self {
            started: now,
            total,
            done: 0,
            first: None,
            latest: now,
            logged: None,
            estimated: false,
            expected: None,
            finished: false,
        }
    }

    fn set_done(&mut self, done: u64, now: Instant) {
        if done > 0 && self.first.is_none() {
            self.first = Some((now, done));
        }
        self.done = done;
        self.latest = now;
    }

    /// Units per second: between the first progress and the latest, or before there is a
    /// second, over the first steps from the start. Until something is done, the expected
    /// rate, if any.
    fn rate(&self) -> Option<f64> {
        let Some((at, then)) = self.first else {
            return self.expected;
        };
        let (units, time) = if self.done > then {
            (self.done - then, self.latest - at)
        } else {
            (then, at - self.started)
        };
        let seconds = time.as_secs_f64();
        (seconds > 0.0).then(|| units as f64 / seconds)
    }

    /// The rate and the time left at `now`, or "estimating".
    fn estimate(&self, now: Instant, unit: &str) -> String {
        let Some(rate) = self.rate() else {
            return "estimating".into();
        };
        let left = self.total.saturating_sub(self.done) as f64 / rate;
        let since = now.saturating_duration_since(self.latest);
        let left = Duration::from_secs_f64(left.min(1e9)).saturating_sub(since);
        format!("{}, ETA {}", rate_text(rate, unit), duration_text(left))
    }

    /// The log line due at `now`, if any: at the first progress (the first estimate), then
    /// every [`LINE_EVERY`] (saying "estimating" while nothing is done); none once the step is
    /// complete or finished.
    fn line_due(&mut self, now: Instant, unit: &str) -> Option<String> {
        let complete = self.total > 0 && self.done >= self.total;
        if self.finished || complete {
            return None;
        }
        let since = now.saturating_duration_since(self.logged.unwrap_or(self.started));
        let can_estimate = self.rate().is_some();
        if since < LINE_EVERY && (self.estimated || !can_estimate) {
            return None;
        }
        self.logged = Some(now);
        self.estimated = can_estimate;
        Some(format!(
            "{}/{} {unit} ({})",
            HumanCount(self.done),
            HumanCount(self.total),
            self.estimate(now, unit)
        ))
    }

    /// The summary of a step that did something: how much, in how long, at what rate overall.
    fn finish(&mut self, now: Instant, unit: &str) -> Option<String> {
        self.finished = true;
        if self.done == 0 {
            return None;
        }
        let took = now.saturating_duration_since(self.started);
        let rate = self.done as f64 / took.as_secs_f64().max(1e-3);
        Some(format!(
            "{} {unit} in {} ({})",
            HumanCount(self.done),
            duration_text(took),
            rate_text(rate, unit)
        ))
    }
}

/// A rate as people read it: three significant digits, whole numbers grouped by thousands.
pub(crate) fn rate_text(per_second: f64, unit: &str) -> String {
    let number = if per_second >= 99.95 {
        HumanCount(per_second.round() as u64).to_string()
    } else if per_second > 0.0 {
        let decimals = (2 - per_second.log10().floor() as i32).max(0) as usize;
        format!("{per_second:.decimals$}")
    } else {
        "0".into()
    };
    format!("{number} {unit}/s")
}

/// A count and its noun: `1 note`, `3 notes`, `2 batches`, `1,232 notes`.
pub(crate) fn counted(count: usize, noun: &str) -> String {
    let ending = match (count, noun.ends_with("ch")) {
        (1, _) => "",
        (_, true) => "es",
        _ => "s",
    };
    format!("{} {noun}{ending}", HumanCount(count as u64))
}

/// A time to the second, in its two largest units: `42s`, `17m 05s`, `3h 20m`, `2d 04h`.
pub(crate) fn duration_text(duration: Duration) -> String {
    let seconds = duration.as_secs_f64().round() as u64;
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{minutes}m {:02}s", seconds % 60),
        3600..86_400 => format!("{}h {minutes:02}m", seconds / 3600),
        _ => format!("{days}d {hours:02}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_measured_beforehand_stands_until_the_step_measures_its_own() {
        let start = Instant::now();
        let mut meter = Meter::new(1000, start);
        assert_eq!(meter.estimate(start, "samples"), "estimating");
        meter.expected = Some(10.0);
        assert_eq!(
            meter.estimate(start, "samples"),
            "10.0 samples/s, ETA 1m 40s"
        );
        meter.set_done(100, start + Duration::from_secs(5));
        meter.set_done(300, start + Duration::from_secs(15));
        assert_eq!(
            meter.estimate(start + Duration::from_secs(15), "samples"),
            "20.0 samples/s, ETA 35s"
        );
    }

    #[test]
    fn rates_read_in_plain_units() {
        for (rate, text) in [
            (240_028.976_8, "240,029 samples/s"),
            (1105.4, "1,105 samples/s"),
            (100.2, "100 samples/s"),
            (45.23, "45.2 samples/s"),
            (4.523, "4.52 samples/s"),
            (0.4523, "0.452 samples/s"),
            (0.0, "0 samples/s"),
        ] {
            assert_eq!(rate_text(rate, "samples"), text);
        }
    }

    #[test]
    fn times_left_read_in_their_two_largest_units() {
        for (seconds, text) in [
            (0, "0s"),
            (42, "42s"),
            (1025, "17m 05s"),
            (12_000, "3h 20m"),
            (187_200, "2d 04h"),
        ] {
            assert_eq!(duration_text(Duration::from_secs(seconds)), text);
        }
    }

    #[test]
    fn a_log_gets_the_first_estimate_then_a_line_every_30_s_and_a_summary() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut meter = Meter::new(1_152_000, start);
        assert_eq!(meter.estimate(at(5), "samples"), "estimating");
        assert_eq!(meter.line_due(at(29), "samples"), None);
        assert_eq!(
            meter.line_due(at(30), "samples").unwrap(),
            "0/1,152,000 samples (estimating)"
        );

        // The first steps: 2,048 samples in 32 s, so 64 samples/s.
        meter.set_done(2048, at(32));
        assert_eq!(
            meter.line_due(at(32), "samples").unwrap(),
            "2,048/1,152,000 samples (64.0 samples/s, ETA 4h 59m)"
        );
        // Refined from the first progress on: 10,240 more in 10 s.
        meter.set_done(12_288, at(42));
        assert_eq!(meter.line_due(at(61), "samples"), None);
        assert_eq!(
            meter.line_due(at(62), "samples").unwrap(),
            "12,288/1,152,000 samples (1,024 samples/s, ETA 18m 13s)"
        );
        assert_eq!(meter.line_due(at(91), "samples"), None);
        assert!(meter.line_due(at(92), "samples").is_some());

        meter.set_done(1_152_000, at(1200));
        assert_eq!(meter.line_due(at(1300), "samples"), None, "complete");
        assert_eq!(
            meter.finish(at(1200), "samples").unwrap(),
            "1,152,000 samples in 20m 00s (960 samples/s)"
        );
        assert_eq!(meter.line_due(at(1400), "samples"), None);
    }

    #[test]
    fn work_resumed_from_an_earlier_run_counts_only_in_the_first_estimate() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut meter = Meter::new(64_000, start);
        // The first report holds the 60,000 samples saved by the run before.
        meter.set_done(60_000, at(1));
        assert_eq!(meter.rate(), Some(60_000.0));
        meter.set_done(62_048, at(11));
        assert_eq!(meter.estimate(at(11), "samples"), "205 samples/s, ETA 10s");
    }

    #[test]
    fn steps_counted_from_many_threads_all_count() {
        let bar = Progress::hidden().bar("pads", 800, "pads");
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| (0..100).for_each(|_| bar.inc(1)));
            }
        });
        assert_eq!(bar.shared.meter().done, 800);
    }

    #[test]
    fn a_step_that_did_nothing_logs_no_summary() {
        let mut meter = Meter::new(0, Instant::now());
        assert_eq!(meter.finish(Instant::now(), "pads"), None);
    }
}
