//! [`DropReport`]: the warning about input thrown away because a queue had no room for it. The
//! side that drops only counts (a counter it keeps anyway); whoever looks at the count (the control
//! loop, every frame) gets a warning with the drops since the last one, at most once a second per
//! source, so a flood of input gives a line a second rather than one per message. It never counts
//! or drops anything itself, and takes the time from its caller.

use std::time::{Duration, Instant};

use crate::outage::Span;

/// The shortest time between two warnings about one source.
pub const REPORT_EVERY: Duration = Duration::from_secs(1);

/// One source's drops: what was reported so far, and when.
#[derive(Debug)]
pub struct DropReport {
    /// What one dropped thing is ("OSC message"); an `s` makes it plural.
    noun: &'static str,
    /// Why they are dropped, as a clause ("the engine's queue was full").
    why: &'static str,
    /// The source's total at the last warning.
    reported: u64,
    /// When the last warning was logged.
    warned: Option<Instant>,
    /// The drops not reported yet all happened after this: the last warning, or the last look
    /// that found no new drops.
    since: Instant,
}

impl DropReport {
    pub fn new(noun: &'static str, why: &'static str, now: Instant) -> Self {
        Self {
            noun,
            why,
            reported: 0,
            warned: None,
            since: now,
        }
    }

    /// Looks at the source's `total` (everything it has dropped so far) at `now`: logs a warning
    /// with the drops since the last one, unless there are none or the last was less than
    /// [`REPORT_EVERY`] ago (then they wait for a later look).
    pub fn observe(&mut self, total: u64, now: Instant) {
        let fresh = total.saturating_sub(self.reported);
        if fresh == 0 {
            self.since = now;
            return;
        }
        if self
            .warned
            .is_some_and(|warned| now.saturating_duration_since(warned) < REPORT_EVERY)
        {
            return;
        }
        tracing::warn!(
            "dropped {fresh} {}{} in the last {}: {}",
            self.noun,
            if fresh == 1 { "" } else { "s" },
            Span(now.saturating_duration_since(self.since)),
            self.why
        );
        self.reported = total;
        self.warned = Some(now);
        self.since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::capture;

    const WHY: &str = "the engine's queue was full";

    fn millis(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_flood_gives_one_warning_a_second_with_the_count_since_the_last() {
        let start = Instant::now();
        let mut report = DropReport::new("OSC message", WHY, start);
        let ((), lines) = capture(|| {
            // 12 drops a frame for three seconds of frames.
            for frame in 1..=90 {
                report.observe(12 * frame, millis(start, frame * 100 / 3));
            }
        });
        assert_eq!(
            lines,
            [
                format!("WARN dropped 12 OSC messages in the last 33 ms: {WHY}"),
                format!("WARN dropped 360 OSC messages in the last 1 s: {WHY}"),
                format!("WARN dropped 360 OSC messages in the last 1 s: {WHY}"),
            ]
        );
    }

    #[test]
    fn drops_after_a_quiet_spell_are_reported_at_the_next_look() {
        let start = Instant::now();
        let mut report = DropReport::new("serial MIDI message", WHY, start);
        let ((), lines) = capture(|| {
            report.observe(0, millis(start, 5_000));
            report.observe(1, millis(start, 5_040));
            // Within a second of that warning: held back, then reported with the next.
            report.observe(3, millis(start, 5_500));
            report.observe(3, millis(start, 5_900));
            report.observe(4, millis(start, 6_100));
        });
        assert_eq!(
            lines,
            [
                format!("WARN dropped 1 serial MIDI message in the last 40 ms: {WHY}"),
                format!("WARN dropped 3 serial MIDI messages in the last 1.1 s: {WHY}"),
            ]
        );
    }

    #[test]
    fn nothing_dropped_says_nothing() {
        let start = Instant::now();
        let mut report = DropReport::new("USB MIDI message", WHY, start);
        let ((), lines) = capture(|| {
            for second in 0..10 {
                report.observe(0, millis(start, second * 1000));
            }
        });
        assert!(lines.is_empty(), "{lines:?}");
    }
}
