//! The envelope screen: attack, decay, sustain and release as four segments, the stage last
//! turned drawn wide with dots at its ends. Owns the envelope's geometry; never reads knobs.

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{Point, Primitive};
use embedded_graphics::primitives::{Circle, Line, PrimitiveStyle};

use super::Framebuffer;

const TOP: i32 = 16;
const BOTTOM: i32 = 48;
const LEFT: i32 = 16;
const RIGHT: i32 = 112;
/// Widest attack, decay or release, less one pixel.
const UNIT: f32 = 23.0;
const THIN: u32 = 1;
const WIDE: u32 = 3;
/// Dots at the ends of the highlighted stage: radius 1.
const DOT_DIAMETER: u32 = 3;

/// The five corners of the envelope for knob levels `[attack, decay, sustain, release]` (0–1).
fn corners(levels: [f32; 4]) -> [Point; 5] {
    let [attack, decay, sustain, release] = levels.map(|level| level.clamp(0.0, 1.0));
    let span = |level: f32| (level * UNIT).trunc() as i32 + 1;
    let attack_end = LEFT + span(attack);
    let decay_end = attack_end + span(decay);
    let sustain_row = BOTTOM - ((BOTTOM - TOP) as f32 * sustain).trunc() as i32;
    let release_start = RIGHT - span(release);
    [
        Point::new(LEFT, BOTTOM),
        Point::new(attack_end, TOP),
        Point::new(decay_end, sustain_row),
        Point::new(release_start, sustain_row),
        Point::new(RIGHT, BOTTOM),
    ]
}

/// Draws the envelope with `stage` (0 attack … 3 release) highlighted; any other stage value
/// highlights nothing.
pub(super) fn draw(levels: [f32; 4], stage: usize, frame: &mut Framebuffer) {
    let corners = corners(levels);
    let segments = corners.windows(2).map(|ends| Line::new(ends[0], ends[1]));
    for (index, segment) in segments.enumerate() {
        if index == stage {
            frame.draw(&segment.into_styled(PrimitiveStyle::with_stroke(BinaryColor::On, WIDE)));
            for end in [segment.start, segment.end] {
                frame.draw(
                    &Circle::with_center(end, DOT_DIAMETER)
                        .into_styled(PrimitiveStyle::with_fill(BinaryColor::On)),
                );
            }
        } else {
            frame.draw(&segment.into_styled(PrimitiveStyle::with_stroke(BinaryColor::On, THIN)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_follow_the_knobs() {
        assert_eq!(
            corners([0.0, 0.0, 0.0, 0.0]),
            [
                Point::new(16, 48),
                Point::new(17, 16),
                Point::new(18, 48),
                Point::new(111, 48),
                Point::new(112, 48),
            ]
        );
        assert_eq!(
            corners([1.0, 1.0, 1.0, 1.0]),
            [
                Point::new(16, 48),
                Point::new(40, 16),
                Point::new(64, 16),
                Point::new(88, 16),
                Point::new(112, 48),
            ]
        );
        // trunc(0.5·23) + 1 = 12; 48 − trunc(32·0.5) = 32.
        assert_eq!(corners([0.5; 4])[2], Point::new(40, 32));
        assert_eq!(corners([0.5; 4])[3], Point::new(100, 32));
    }

    #[test]
    fn out_of_range_levels_clamp() {
        assert_eq!(
            corners([-1.0, 2.0, f32::NAN, 9.0]),
            corners([0.0, 1.0, 0.0, 1.0])
        );
    }
}
