//! The screens of the 128×64 OLED, drawn with embedded-graphics from a [`ScreenModel`].
//! [`Ui`] owns the animation state (the particles' springs, the scrollers' positions) and draws
//! one frame at a time into a [`Framebuffer`]. It never does I/O, reads a clock or decides which
//! screen is up: the controller owns the model and the frame's `dt`.

mod envelope;
mod framebuffer;
mod home;
mod model;
mod patch;
mod position;
mod scroller;
mod volume;

pub use framebuffer::{Framebuffer, Pages, HEIGHT, PAGES, WIDTH};
pub use model::{CornerView, PatchPhase, PatchView, Screen, ScreenModel};

use embedded_graphics::mono_font::ascii::{FONT_7X13, FONT_9X15};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, Point, Size};
use embedded_graphics::primitives::Rectangle;
use embedded_graphics::text::renderer::TextRenderer;
use embedded_graphics::text::{Baseline, Text};

use crate::input::ENCODERS;

/// Stand-in for the original's "Thin" TrueType face (home-screen corner labels), which cannot
/// be shipped: a light bitmap face a little smaller than its 16 px em.
const LABEL_FONT: MonoFont<'static> = FONT_7X13;
/// Stand-in for the original's "Medium" face (scroller, patch screen) at a 16 px em.
const TEXT_FONT: MonoFont<'static> = FONT_9X15;

/// Above a third of a second per frame the particles' discrete spring update diverges, so a
/// stalled frame (a slow card read, a suspended desktop) would fling them off the screen.
/// At the nominal 30 fps this never binds.
const MAX_FRAME_SECONDS: f32 = 0.25;

/// The white band behind the scroller's current item and the patch label: rows 22–41.
fn band(width: u32) -> Rectangle {
    Rectangle::new(Point::new(0, 22), Size::new(width, 20))
}

/// Width of `text`'s bounding box in `font`.
fn text_width(text: &str, font: &MonoFont<'static>) -> i32 {
    let style = MonoTextStyle::new(font, BinaryColor::On);
    let metrics = style.measure_string(text, Point::zero(), Baseline::Alphabetic);
    i32::try_from(metrics.bounding_box.size.width).unwrap_or(i32::MAX)
}

/// Draws `text` from `left` on the original's TrueType baseline `baseline`, which lies just
/// below the ink; embedded-graphics puts its alphabetic baseline on the last ink row, hence −1.
fn draw_text(
    frame: &mut Framebuffer,
    text: &str,
    font: &MonoFont<'static>,
    left: i32,
    baseline: i32,
) {
    let style = MonoTextStyle::new(font, BinaryColor::On);
    frame.draw(&Text::with_baseline(
        text,
        Point::new(left, baseline - 1),
        style,
        Baseline::Alphabetic,
    ));
}

/// Draws `text` centred as the original does: left edge at `(128 − width) div 2`.
fn draw_centred(frame: &mut Framebuffer, text: &str, font: &MonoFont<'static>, baseline: i32) {
    let left = (WIDTH as i32 - text_width(text, font)) / 2;
    draw_text(frame, text, font, left, baseline);
}

/// The screens' animation state; call [`Ui::frame`] once per displayed frame.
#[derive(Debug, Clone)]
pub struct Ui {
    particles: home::Particles,
    scrollers: [scroller::Scroller; ENCODERS],
    wave: position::Wave,
}

impl Ui {
    /// Particles at rest on the grid, every scroller at the top of its list.
    pub fn new() -> Self {
        Self {
            particles: home::Particles::at_rest(),
            scrollers: [scroller::Scroller::at_top(); ENCODERS],
            wave: position::Wave::new(),
        }
    }

    /// Advances the animations by `dt` seconds and draws `model`'s screen into `frame`.
    /// The particles move on every frame, whatever the screen; a scroller moves only while it
    /// is shown, so it resumes where it was when its screen comes back. A corner beyond the
    /// fourth draws a blank frame.
    pub fn frame(&mut self, model: &ScreenModel, dt: f32, frame: &mut Framebuffer) {
        let dt = if dt.is_nan() {
            0.0
        } else {
            dt.clamp(0.0, MAX_FRAME_SECONDS)
        };
        self.particles.advance(model.cursor, dt);
        let Ok(()) = frame.clear(BinaryColor::Off);
        let [position, attack, decay, sustain, release, volume] = model.knobs;
        match model.screen {
            Screen::Home => home::draw(&self.particles, &model.corners, frame),
            Screen::Instrument(corner) => {
                if let (Some(scroller), Some(view)) =
                    (self.scrollers.get_mut(corner), model.corners.get(corner))
                {
                    scroller.advance(view, dt);
                    scroller.draw(view, frame);
                }
            }
            Screen::Position => self.wave.draw(position, frame),
            Screen::Envelope => {
                envelope::draw([attack, decay, sustain, release], model.stage, frame)
            }
            Screen::Volume => volume::draw(volume, frame),
            Screen::Patch => patch::draw(&model.patch, frame),
        }
    }
}

impl Default for Ui {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ink_rows(frame: &Framebuffer) -> Option<(i32, i32)> {
        let rows: Vec<i32> = (0..HEIGHT as i32)
            .filter(|&y| (0..WIDTH as i32).any(|x| frame.is_on(Point::new(x, y))))
            .collect();
        Some((*rows.first()?, *rows.last()?))
    }

    #[test]
    fn capitals_sit_on_the_row_above_the_baseline() {
        for font in [&LABEL_FONT, &TEXT_FONT] {
            let mut frame = Framebuffer::new();
            draw_text(&mut frame, "HE", font, 0, 37);
            let (_, bottom) = ink_rows(&frame).expect("text drew nothing");
            assert_eq!(bottom, 36);
        }
    }

    fn home(cursor: (u8, u8)) -> ScreenModel {
        let corner = CornerView {
            abbr: "AB".into(),
            names: vec!["One".into()],
            selected: 0,
            direction: 0,
        };
        ScreenModel {
            screen: Screen::Home,
            cursor,
            corners: [corner.clone(), corner.clone(), corner.clone(), corner],
            knobs: [0.5; 6],
            stage: 0,
            patch: PatchView {
                slot: 0,
                phase: PatchPhase::Idle,
                elapsed: 0.0,
            },
        }
    }

    fn frame_after(dt: f32) -> Framebuffer {
        let mut frame = Framebuffer::new();
        Ui::new().frame(&home((0, 0)), dt, &mut frame);
        frame
    }

    #[test]
    fn a_stalled_frame_moves_the_particles_no_further_than_a_quarter_second() {
        assert_eq!(frame_after(10.0), frame_after(MAX_FRAME_SECONDS));
        assert_ne!(frame_after(MAX_FRAME_SECONDS), frame_after(0.0));
    }

    #[test]
    fn an_unusable_frame_time_counts_as_no_time() {
        assert_eq!(frame_after(f32::NAN), frame_after(0.0));
        assert_eq!(frame_after(-1.0), frame_after(0.0));
    }

    #[test]
    fn centred_text_uses_the_bounding_box_width() {
        assert_eq!(text_width("PATCH 1", &TEXT_FONT), 63);
        let mut frame = Framebuffer::new();
        draw_centred(&mut frame, "PATCH 1", &TEXT_FONT, 37);
        let mut reference = Framebuffer::new();
        draw_text(&mut reference, "PATCH 1", &TEXT_FONT, 32, 37);
        assert_eq!(frame, reference);
    }
}
