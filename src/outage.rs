//! [`Outage`]: the log of something that fails and is tried again (the sound card, the ALSA
//! sequencer, a MIDI port, the OLED, the input microcontroller, the OSC socket). A run of
//! failures is logged twice: a warning with the first cause and how often it is retried, and a
//! line when it works again with how many attempts and how long it took; attempts in between say
//! nothing, so a missing device does not fill the journal; with `proven_after`, a success ends the
//! run only once it has lasted, so a device that opens and fails again at once is one run. It
//! only remembers and logs: the
//! caller makes the attempts, and decides when (`due` just says whether the interval has passed).

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

/// One retried thing's failures, logged once when they start and once when they end.
#[derive(Debug)]
pub struct Outage {
    /// What works again, for the line that says so ("audio output").
    what: Cow<'static, str>,
    /// How long the caller waits between attempts.
    every: Duration,
    /// How long a success must last to end a run (zero: at once).
    proven: Duration,
    run: Option<Run>,
}

/// The failures since the last success.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: Instant,
    last: Instant,
    failures: u32,
    /// When the thing worked again, while that has not lasted [`Outage::proven`] yet.
    recovered: Option<Instant>,
}

impl Outage {
    /// `what` names the thing in the line that reports it working again; `every` is how long the
    /// caller waits between attempts, for the warning.
    pub fn new(what: impl Into<Cow<'static, str>>, every: Duration) -> Self {
        Self {
            what: what.into(),
            every,
            proven: Duration::ZERO,
            run: None,
        }
    }

    /// A success ends a run only once it has lasted `proven` ([`holding`](Self::holding) says
    /// when): for things that can work and fail again at once (a sound card that underruns), so
    /// that flapping is one outage in the log rather than two lines per attempt.
    pub fn proven_after(mut self, proven: Duration) -> Self {
        self.proven = proven;
        self
    }

    /// An attempt failed with `cause` (a whole sentence: it is logged as it is). The first
    /// failure of a run is logged as a warning; the rest are only counted.
    pub fn failed(&mut self, cause: &dyn fmt::Display) {
        let now = Instant::now();
        match &mut self.run {
            Some(run) => {
                run.failures = run.failures.saturating_add(1);
                run.last = now;
                run.recovered = None;
            }
            None => {
                tracing::warn!("{cause}; trying again every {}", Span(self.every));
                self.run = Some(Run {
                    first: now,
                    last: now,
                    failures: 1,
                    recovered: None,
                });
            }
        }
    }

    /// An attempt worked. If it ends a run of failures, that is logged (with `proven_after`, once
    /// it has lasted that long: see [`holding`](Self::holding)).
    pub fn succeeded(&mut self) {
        match &mut self.run {
            Some(run) if !self.proven.is_zero() => {
                run.recovered.get_or_insert_with(Instant::now);
            }
            _ => self.end(),
        }
    }

    /// The thing still works: ends the run (logged) once its success has lasted `proven`.
    /// Returns whether it ended now.
    pub fn holding(&mut self) -> bool {
        let lasted = self
            .run
            .and_then(|run| run.recovered)
            .is_some_and(|since| since.elapsed() >= self.proven);
        if lasted {
            self.end();
        }
        lasted
    }

    /// Whether a run of failures is under way (no lasting success since the last failure).
    pub fn failing(&self) -> bool {
        self.run.is_some()
    }

    fn end(&mut self) {
        if let Some(run) = self.run.take() {
            let attempts = match run.failures {
                1 => "1 failed attempt".to_owned(),
                n => format!("{n} failed attempts"),
            };
            tracing::info!(
                "{} works now, after {attempts} over {}",
                self.what,
                Span(run.first.elapsed())
            );
        }
    }

    /// Whether it is time to try: always after a success, else once `every` has passed since the
    /// last failure.
    pub fn due(&self) -> bool {
        self.run.is_none_or(|run| run.last.elapsed() >= self.every)
    }
}

/// A duration as people read it: "10 ms", "2 s", "6.5 s".
pub(crate) struct Span(pub(crate) Duration);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs_f64();
        if seconds < 1.0 {
            write!(f, "{} ms", self.0.as_millis())
        } else if self.0.subsec_millis() == 0 {
            write!(f, "{} s", self.0.as_secs())
        } else {
            write!(f, "{seconds:.1} s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::capture;

    #[test]
    fn a_run_of_failures_is_logged_when_it_starts_and_when_it_ends() {
        let mut outage = Outage::new("the screen", Duration::from_secs(2));
        let ((), lines) = capture(|| {
            for _ in 0..5 {
                outage.failed(&"cannot write to the screen");
            }
        });
        assert_eq!(
            lines,
            ["WARN cannot write to the screen; trying again every 2 s"]
        );
        let ((), lines) = capture(|| {
            outage.succeeded();
            outage.succeeded();
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("INFO the screen works now, after 5 failed attempts over "),
            "{lines:?}"
        );
    }

    #[test]
    fn each_run_is_logged_and_counted_on_its_own() {
        let mut outage = Outage::new("USB MIDI", Duration::from_millis(10));
        let ((), lines) = capture(|| {
            outage.failed(&"no sequencer");
            outage.succeeded();
            outage.failed(&"no sequencer again");
            outage.succeeded();
        });
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], "WARN no sequencer; trying again every 10 ms");
        assert_eq!(
            lines[2],
            "WARN no sequencer again; trying again every 10 ms"
        );
        for line in [&lines[1], &lines[3]] {
            assert!(
                line.starts_with("INFO USB MIDI works now, after 1 failed attempt over "),
                "{line}"
            );
        }
    }

    #[test]
    fn with_proving_a_flapping_thing_is_one_outage() {
        let mut outage =
            Outage::new("audio output", Duration::ZERO).proven_after(Duration::from_millis(50));
        let ((), lines) = capture(|| {
            outage.failed(&"no sound");
            outage.succeeded();
            outage.failed(&"no sound again");
            outage.succeeded();
            assert!(!outage.holding(), "not lasted yet");
        });
        assert_eq!(lines, ["WARN no sound; trying again every 0 ms"]);
        assert!(outage.failing());
        std::thread::sleep(Duration::from_millis(60));
        let ((), lines) = capture(|| assert!(outage.holding()));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("INFO audio output works now, after 2 failed attempts over "),
            "{lines:?}"
        );
        assert!(!outage.failing());
    }

    #[test]
    fn success_without_failures_says_nothing() {
        let mut outage = Outage::new("OSC", Duration::from_secs(1));
        let ((), lines) = capture(|| outage.succeeded());
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn a_try_is_due_at_once_after_success_and_a_period_after_a_failure() {
        let mut slow = Outage::new("audio output", Duration::from_secs(3600));
        assert!(slow.due());
        capture(|| slow.failed(&"no device"));
        assert!(!slow.due());
        capture(|| slow.succeeded());
        assert!(slow.due());

        let mut eager = Outage::new("audio output", Duration::ZERO);
        capture(|| eager.failed(&"no device"));
        assert!(eager.due());
    }

    #[test]
    fn spans_read_naturally() {
        let cases = [
            (Duration::from_millis(10), "10 ms"),
            (Duration::from_secs(2), "2 s"),
            (Duration::from_millis(6540), "6.5 s"),
        ];
        for (span, text) in cases {
            assert_eq!(Span(span).to_string(), text);
        }
    }
}
