//! The loop region of a looping voice: the original's loop points, crossfade length and trigger
//! points with all of their adjustments, and the corrected forward-only variant.

use crate::settings::LoopMode;

/// The crossfade length the original starts with, in output frames.
pub const INITIAL_CROSSFADE: u32 = 4000;

/// Where looping voices turn and how long their crossfades last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopRegion {
    pub mode: LoopMode,
    /// Loop start `LS` and end `LE`, in source samples.
    pub start: f64,
    pub end: f64,
    /// Backward-pass trigger `XS` and forward-pass trigger `XE` (original mode).
    pub back_at: f64,
    pub forward_at: f64,
    /// Crossfade length `CD` in output frames (original mode). It only ever shrinks, as in the
    /// original, where it is engine state that outlives loop changes.
    pub crossfade: u32,
    /// Crossfade length in source samples (forward mode).
    pub forward_crossfade: f64,
}

impl LoopRegion {
    /// The region for loop fractions `loop_start`/`loop_end` of rows of `length` samples.
    pub fn new(
        mode: LoopMode,
        loop_start: f32,
        loop_end: f32,
        length: usize,
        rate_ratio: f64,
    ) -> Self {
        let mut region = Self {
            mode,
            start: 0.0,
            end: 0.0,
            back_at: 0.0,
            forward_at: 0.0,
            crossfade: INITIAL_CROSSFADE,
            forward_crossfade: 0.0,
        };
        region.adjust(loop_start, loop_end, length, rate_ratio);
        region
    }

    /// Recomputes the points from the loop fractions, in the original's order of adjustments.
    /// `rate_ratio` is source rate / output rate, for the forward mode's crossfade in source samples.
    pub fn adjust(&mut self, loop_start: f32, loop_end: f32, length: usize, rate_ratio: f64) {
        let length = length as i64;
        let mut start = (loop_start * length as f32).floor() as i64;
        let mut end = (loop_end * length as f32).floor() as i64;
        if end < start {
            std::mem::swap(&mut start, &mut end);
        }
        let mut crossfade = i64::from(self.crossfade);
        if end - start < 2 * crossfade {
            if end - start < 100 {
                end = start + 100;
            }
            crossfade = (end - start) / 2;
        }
        start = start.max(2);
        end = end.min(length - 3).max(start + 1);
        let mut back_at = start + crossfade;
        let mut forward_at = end - crossfade;
        if forward_at < back_at + 2 * crossfade {
            if back_at > 2 * crossfade {
                back_at -= 2 * crossfade;
            } else {
                forward_at += 2 * crossfade;
            }
        }
        let tail = (length - 1 - end) as f64;
        let nominal = f64::from(INITIAL_CROSSFADE) * rate_ratio;
        *self = Self {
            start: start as f64,
            end: end as f64,
            back_at: back_at as f64,
            forward_at: forward_at as f64,
            crossfade: crossfade as u32,
            forward_crossfade: nominal.min((end - start) as f64 / 2.0).min(tail).max(1.0),
            ..*self
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_loop_points_give_the_measured_cycle() {
        // §4.3 and §16: LS 12000, LE 24600, XS 8000 (before LS), XE 20600, CD 4000.
        let region = LoopRegion::new(LoopMode::Original, 0.2, 0.41, 60000, 1.0 / 3.0);
        assert_eq!((region.start, region.end), (12000.0, 24600.0));
        assert_eq!((region.back_at, region.forward_at), (8000.0, 20600.0));
        assert_eq!(region.crossfade, 4000);
    }

    #[test]
    fn short_loops_shrink_the_crossfade_for_good() {
        let mut region = LoopRegion::new(LoopMode::Original, 0.2, 0.21, 60000, 1.0 / 3.0);
        assert_eq!(region.crossfade, 300);
        region.adjust(0.2, 0.41, 60000, 1.0 / 3.0);
        assert_eq!(region.crossfade, 300);
    }

    #[test]
    fn tiny_loops_are_widened_to_100_samples() {
        let region = LoopRegion::new(LoopMode::Original, 0.5, 0.5, 60000, 1.0 / 3.0);
        assert_eq!(region.end - region.start, 100.0);
        assert_eq!(region.crossfade, 50);
    }

    #[test]
    fn loop_points_stay_inside_the_row() {
        let region = LoopRegion::new(LoopMode::Original, 0.0, 1.0, 60000, 1.0 / 3.0);
        assert_eq!((region.start, region.end), (2.0, 59997.0));
    }

    #[test]
    fn forward_crossfade_is_in_source_samples_and_fits_the_loop() {
        let region = LoopRegion::new(LoopMode::Forward, 0.2, 0.41, 60000, 1.0 / 3.0);
        assert!((region.forward_crossfade - 4000.0 / 3.0).abs() < 1e-9);
        let short = LoopRegion::new(LoopMode::Forward, 0.2, 0.21, 60000, 1.0 / 3.0);
        assert_eq!(short.forward_crossfade, 300.0);
    }
}
