//! The volume screen: eleven bars, those up to the volume drawn wide and taller. Owns the bars'
//! geometry; never reads the knob.

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{Point, Primitive};
use embedded_graphics::primitives::{Line, PrimitiveStyle};

use super::Framebuffer;

const BARS: i32 = 11;
const FIRST_X: i32 = 14;
const SPACING: i32 = 10;
/// Every bar spans these rows; a lit bar is 3 px wide there, with a 1 px spine one row longer
/// at each end.
const TOP: i32 = 26;
const BOTTOM: i32 = 38;

/// How many bars are lit at `volume` (0–1): `round(volume·11)`.
fn lit_bars(volume: f32) -> i32 {
    (volume.clamp(0.0, 1.0) * BARS as f32).round() as i32
}

pub(super) fn draw(volume: f32, frame: &mut Framebuffer) {
    let lit = lit_bars(volume);
    let thin = PrimitiveStyle::with_stroke(BinaryColor::On, 1);
    let wide = PrimitiveStyle::with_stroke(BinaryColor::On, 3);
    for bar in 0..BARS {
        let x = FIRST_X + SPACING * bar;
        let body = Line::new(Point::new(x, TOP), Point::new(x, BOTTOM));
        if bar < lit {
            frame.draw(&body.into_styled(wide));
            frame.draw(
                &Line::new(Point::new(x, TOP - 1), Point::new(x, BOTTOM + 1)).into_styled(thin),
            );
        } else {
            frame.draw(&body.into_styled(thin));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_lit_round_half_away_from_zero() {
        assert_eq!(lit_bars(0.0), 0);
        assert_eq!(lit_bars(0.5), 6);
        assert_eq!(lit_bars(0.04), 0);
        assert_eq!(lit_bars(0.05), 1);
        assert_eq!(lit_bars(1.0), 11);
        assert_eq!(lit_bars(7.0), 11);
        assert_eq!(lit_bars(f32::NAN), 0);
    }
}
