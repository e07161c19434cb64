//! [`Outage`]: the log of something that fails and is tried again (the sound card, the ALSA
//! sequencer, a MIDI port, the OLED, the input microcontroller, the OSC socket). A run of
//! failures is logged twice: a warning with the first cause and how often it is retried, and a
//! line when it works again with how many attempts and how long it took; attempts in between say
//! nothing, so a missing device does not fill the journal. It only remembers and logs: the
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
    run: Option<Run>,
}

/// The failures since the last success.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: Instant,
    last: Instant,
    failures: u32,
}

impl Outage {
    /// `what` names the thing in the line that reports it working again; `every` is how long the
    /// caller waits between attempts, for the warning.
    pub fn new(what: impl Into<Cow<'static, str>>, every: Duration) -> Self {
        Self {
            what: what.into(),
            every,
            run: None,
        }
    }

    /// An attempt failed with `cause` (a whole sentence: it is logged as it is). The first
    /// failure of a run is logged as a warning; the rest are only counted.
    pub fn failed(&mut self, cause: &dyn fmt::Display) {
        let now = Instant::now();
        match &mut self.run {
            Some(run) => {
                run.failures = run.failures.saturating_add(1);
                run.last = now;
            }
            None => {
                tracing::warn!("{cause}; trying again every {}", Span(self.every));
                self.run = Some(Run {
                    first: now,
                    last: now,
                    failures: 1,
                });
            }
        }
    }

    /// An attempt worked. If it ends a run of failures, that is logged.
    pub fn succeeded(&mut self) {
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
