//! A 128×64 one-bit frame, held in the SSD1306's page layout so that sending it to the panel is
//! a copy, and drawn on through embedded-graphics. It owns pixels only: it never talks to the
//! display and never decides what a screen shows.

use core::convert::Infallible;

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{
    Dimensions, DrawTarget, Drawable, OriginDimensions, Pixel, Point, Size,
};
use embedded_graphics::primitives::Rectangle;

/// Columns of the panel.
pub const WIDTH: usize = 128;
/// Rows of the panel.
pub const HEIGHT: usize = 64;
/// Eight-row strips the SSD1306 stores one byte per column of.
pub const PAGES: usize = HEIGHT / 8;
/// A frame as the panel's controller stores it: in page `p`, byte `x` holds pixels `(x, 8p + k)`
/// in bit `k`, least significant bit at the top.
pub type Pages = [[u8; WIDTH]; PAGES];

/// One frame of the OLED: pixel `(x, y)` is bit `y % 8` of byte `x` of page `y / 8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framebuffer {
    pages: Pages,
}

impl Framebuffer {
    /// An all-dark frame.
    pub const fn new() -> Self {
        Self {
            pages: [[0; WIDTH]; PAGES],
        }
    }

    /// The frame as the panel takes it (§7): page `p`, byte `x`, bit `k` is pixel `(x, 8p + k)`,
    /// least significant bit at the top.
    pub fn pages(&self) -> Pages {
        self.pages
    }

    /// Whether the pixel at `point` is lit; points off the panel are dark.
    pub fn is_on(&self, point: Point) -> bool {
        match locate(point) {
            Some((page, column, mask)) => self.pages[page][column] & mask != 0,
            None => false,
        }
    }

    /// Flips every pixel of `area` (clipped to the panel): the screens' white bands with dark
    /// text are drawn as white text and then inverted, as the original does.
    pub fn invert(&mut self, area: Rectangle) {
        let visible = area.intersection(&self.bounding_box());
        let Some(bottom_right) = visible.bottom_right() else {
            return;
        };
        for y in visible.top_left.y..=bottom_right.y {
            for x in visible.top_left.x..=bottom_right.x {
                if let Some((page, column, mask)) = locate(Point::new(x, y)) {
                    self.pages[page][column] ^= mask;
                }
            }
        }
    }

    /// Draws an item whose drawing cannot fail on this target.
    pub fn draw<D: Drawable<Color = BinaryColor>>(&mut self, item: &D) {
        let Ok(_) = item.draw(self);
    }
}

impl Default for Framebuffer {
    fn default() -> Self {
        Self::new()
    }
}

/// The page, column and bit mask holding `point`, or `None` off the panel.
fn locate(point: Point) -> Option<(usize, usize, u8)> {
    let column = usize::try_from(point.x).ok().filter(|&x| x < WIDTH)?;
    let row = usize::try_from(point.y).ok().filter(|&y| y < HEIGHT)?;
    Some((row / 8, column, 1 << (row % 8)))
}

impl OriginDimensions for Framebuffer {
    fn size(&self) -> Size {
        Size::new(WIDTH as u32, HEIGHT as u32)
    }
}

impl DrawTarget for Framebuffer {
    type Color = BinaryColor;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<BinaryColor>>,
    {
        for Pixel(point, color) in pixels {
            if let Some((page, column, mask)) = locate(point) {
                let byte = &mut self.pages[page][column];
                if color.is_on() {
                    *byte |= mask;
                } else {
                    *byte &= !mask;
                }
            }
        }
        Ok(())
    }

    fn clear(&mut self, color: BinaryColor) -> Result<(), Infallible> {
        let fill = if color.is_on() { 0xFF } else { 0x00 };
        self.pages = [[fill; WIDTH]; PAGES];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(points: &[(i32, i32)]) -> Framebuffer {
        let mut frame = Framebuffer::new();
        let Ok(()) = frame.draw_iter(
            points
                .iter()
                .map(|&(x, y)| Pixel(Point::new(x, y), BinaryColor::On)),
        );
        frame
    }

    #[test]
    fn pages_put_row_8p_plus_k_in_bit_k_of_page_p() {
        let pages = lit(&[(0, 0), (5, 7), (5, 8), (127, 63), (64, 19)]).pages();
        assert_eq!(pages[0][0], 0b0000_0001);
        assert_eq!(pages[0][5], 0b1000_0000);
        assert_eq!(pages[1][5], 0b0000_0001);
        assert_eq!(pages[7][127], 0b1000_0000);
        assert_eq!(pages[2][64], 0b0000_1000);
        let lit_bits: u32 = pages.iter().flatten().map(|byte| byte.count_ones()).sum();
        assert_eq!(lit_bits, 5);
    }

    #[test]
    fn pixels_off_the_panel_are_ignored_and_read_dark() {
        let frame = lit(&[(-1, 0), (128, 0), (0, 64), (0, -1), (i32::MAX, i32::MIN)]);
        assert_eq!(frame, Framebuffer::new());
        assert!(!frame.is_on(Point::new(128, 0)));
        assert!(!frame.is_on(Point::new(-1, -1)));
    }

    #[test]
    fn drawing_off_clears_a_pixel() {
        let mut frame = lit(&[(3, 3), (3, 4)]);
        let Ok(()) = frame.draw_iter([Pixel(Point::new(3, 3), BinaryColor::Off)]);
        assert!(!frame.is_on(Point::new(3, 3)));
        assert!(frame.is_on(Point::new(3, 4)));
    }

    #[test]
    fn invert_flips_exactly_the_clipped_area() {
        let mut frame = lit(&[(10, 22), (10, 21)]);
        frame.invert(Rectangle::new(Point::new(-5, 22), Size::new(20, 20)));
        for y in 0..HEIGHT as i32 {
            for x in 0..WIDTH as i32 {
                let inside = (0..15).contains(&x) && (22..42).contains(&y);
                let was_lit = (x, y) == (10, 22) || (x, y) == (10, 21);
                assert_eq!(
                    frame.is_on(Point::new(x, y)),
                    inside != was_lit,
                    "({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn inverting_an_empty_or_offscreen_area_changes_nothing() {
        let mut frame = lit(&[(1, 1)]);
        frame.invert(Rectangle::new(Point::new(4, 4), Size::zero()));
        frame.invert(Rectangle::new(Point::new(200, 4), Size::new(10, 10)));
        assert_eq!(frame, lit(&[(1, 1)]));
    }

    #[test]
    fn clear_fills_every_pixel() {
        let mut frame = lit(&[(9, 9)]);
        let Ok(()) = frame.clear(BinaryColor::On);
        assert!(frame.pages().iter().flatten().all(|&byte| byte == 0xFF));
        let Ok(()) = frame.clear(BinaryColor::Off);
        assert_eq!(frame, Framebuffer::new());
    }
}
