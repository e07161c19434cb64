//! The instrument scroller of one corner: the corner's names on a wheel that scrolls to the
//! selected one, which sits on the white band. Owns the wheel's position and velocity; never
//! changes the selection.

use super::{band, draw_centred, CornerView, Framebuffer, TEXT_FONT, WIDTH};

/// Pixels between consecutive names.
const LINE_HEIGHT: f32 = 21.0;
/// Baseline of the selected name when the wheel is still.
const SELECTED_BASELINE: f32 = 37.0;
/// Name slots drawn per frame: the one above, the selected one, the one below, and one more
/// that scrolls in from below mid-animation.
const SLOTS: i32 = 4;
/// The wheel's spring: `vel ← DAMPING·vel + STIFFNESS·(target − y)`.
const DAMPING: f32 = 0.45;
const STIFFNESS: f32 = 5.0;
/// Below this speed (pixels per second) the wheel snaps onto its target.
const SNAP_SPEED: f32 = 1.0;

/// Scroll position in list pixels, kept in `[0, 21·n)`, and its velocity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Scroller {
    y: f32,
    velocity: f32,
}

/// `index` modulo `count`, for negative indices too (the original's unsigned modulo picked the
/// wrong name for lists whose length is not a power of two, §15.19).
fn wrap(index: i64, count: usize) -> usize {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    usize::try_from(index.rem_euclid(count)).unwrap_or(0)
}

impl Scroller {
    pub(super) const fn at_top() -> Self {
        Self {
            y: 0.0,
            velocity: 0.0,
        }
    }

    /// One step of `dt` seconds towards the selected name, travelling the way the last change
    /// went so that stepping past the end wraps round instead of rewinding the whole list.
    pub(super) fn advance(&mut self, view: &CornerView, dt: f32) {
        let count = view.names.len();
        if count == 0 {
            return;
        }
        let span = LINE_HEIGHT * count as f32;
        let mut target = LINE_HEIGHT * (view.selected % count) as f32;
        let direction = view.direction.signum();
        if direction > 0 && target < self.y {
            target += span;
        } else if direction < 0 && self.y < target {
            target -= span;
        }
        self.velocity = DAMPING * self.velocity + STIFFNESS * (target - self.y);
        if self.velocity.abs() < SNAP_SPEED {
            self.y = target;
            self.velocity = 0.0;
        } else {
            let stepped = self.y + self.velocity * dt;
            self.y = match direction {
                1 => stepped.min(target),
                -1 => stepped.max(target),
                _ => stepped,
            };
        }
        self.y = self.y.rem_euclid(span);
        // rem_euclid rounds a tiny negative position up to `span` itself.
        if self.y >= span {
            self.y = 0.0;
        }
    }

    pub(super) fn draw(&self, view: &CornerView, frame: &mut Framebuffer) {
        if !view.names.is_empty() {
            for slot in 1..=SLOTS {
                let slot_top = LINE_HEIGHT * slot as f32;
                let list_y = self.y - SELECTED_BASELINE + slot_top;
                let line = (list_y / LINE_HEIGHT).floor();
                let offset = (list_y - LINE_HEIGHT * line).trunc();
                let name = &view.names[wrap(line as i64, view.names.len())];
                draw_centred(frame, name, &TEXT_FONT, (slot_top - offset) as i32);
            }
        }
        frame.invert(band(WIDTH as u32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corner(count: usize, selected: usize, direction: i8) -> CornerView {
        CornerView {
            abbr: "AB".into(),
            names: (0..count).map(|index| format!("N{index}")).collect(),
            selected,
            direction,
        }
    }

    fn settle(scroller: &mut Scroller, view: &CornerView) -> usize {
        for frame in 1..=300 {
            scroller.advance(view, 1.0 / 30.0);
            if scroller.velocity == 0.0 {
                return frame;
            }
        }
        panic!("the scroller never settled: {scroller:?}");
    }

    #[test]
    fn negative_indices_wrap_for_any_list_length() {
        assert_eq!(wrap(-1, 3), 2);
        assert_eq!(wrap(-4, 3), 2);
        assert_eq!(wrap(-1, 5), 4);
        assert_eq!(wrap(-1, 2), 1);
        assert_eq!(wrap(7, 3), 1);
        assert_eq!(wrap(0, 1), 0);
    }

    #[test]
    fn settles_exactly_on_the_selected_line() {
        let mut scroller = Scroller::at_top();
        let frames = settle(&mut scroller, &corner(3, 1, 1));
        assert!(frames > 5, "settled after {frames} frames: no animation");
        assert_eq!(scroller.y, 21.0);
    }

    #[test]
    fn stepping_forward_past_the_end_scrolls_forward_through_the_wrap() {
        let mut scroller = Scroller {
            y: 42.0,
            velocity: 0.0,
        };
        let view = corner(3, 0, 1);
        scroller.advance(&view, 1.0 / 30.0);
        assert!(scroller.y > 42.0, "moved backwards to {}", scroller.y);
        settle(&mut scroller, &view);
        assert_eq!(scroller.y, 0.0);
    }

    #[test]
    fn stepping_back_from_the_first_name_scrolls_backward_through_the_wrap() {
        let mut scroller = Scroller::at_top();
        let view = corner(3, 2, -1);
        scroller.advance(&view, 1.0 / 30.0);
        assert!(scroller.y > 42.0, "went forward to {}", scroller.y);
        let mut previous = scroller.y;
        while scroller.velocity != 0.0 {
            scroller.advance(&view, 1.0 / 30.0);
            assert!(scroller.y <= previous, "overshot to {}", scroller.y);
            previous = scroller.y;
        }
        assert_eq!(scroller.y, 42.0);
    }

    #[test]
    fn an_empty_list_stays_still_and_draws_only_the_band() {
        let mut scroller = Scroller::at_top();
        let view = corner(0, 0, 1);
        scroller.advance(&view, 1.0 / 30.0);
        assert_eq!(scroller, Scroller::at_top());
        let mut frame = Framebuffer::new();
        scroller.draw(&view, &mut frame);
        let mut band_only = Framebuffer::new();
        band_only.invert(band(WIDTH as u32));
        assert_eq!(frame, band_only);
    }

    #[test]
    fn a_selection_beyond_the_list_is_taken_modulo_its_length() {
        let mut scroller = Scroller::at_top();
        settle(&mut scroller, &corner(3, 4, 1));
        assert_eq!(scroller.y, 21.0);
    }
}
