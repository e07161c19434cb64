//! The home ("particle") screen: 121 particles on an 11×11 grid that pinch in around the
//! selected touch cell, two vertical rules and the four corner labels. Owns the particles'
//! spring motion; never reads inputs or decides when the screen is shown.

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, Pixel, Point, Primitive};
use embedded_graphics::primitives::{Line, PrimitiveStyle};

use super::{draw_text, text_width, CornerView, Framebuffer, HEIGHT, LABEL_FONT, WIDTH};

/// Cells per side of the touch grid.
const GRID: usize = 11;
/// Where particle (0, 0) rests, and the spacing between neighbours.
const GRID_LEFT: f32 = 39.0;
const GRID_TOP: f32 = 7.0;
const GRID_STEP: f32 = 5.0;
/// The vertical rules framing the grid.
const RULES_X: [i32; 2] = [32, 97];
/// How far the pinch reaches from the selected cell, in cells.
const PINCH_REACH: i32 = 2;
/// Target offsets in pixels around the selection, indexed `[dy + 2][dx + 2]` with
/// `(dx, dy)` = particle cell − selected cell: neighbours lean in towards the selection.
const PINCH: [[(i8, i8); 5]; 5] = [
    [(0, 0), (2, 3), (0, 2), (-2, 3), (0, 0)],
    [(3, 2), (3, 3), (0, 2), (-3, 3), (-3, 2)],
    [(2, 0), (2, 0), (0, 0), (-2, 0), (-2, 0)],
    [(3, -2), (3, -3), (0, -2), (-3, -3), (-3, -2)],
    [(0, 0), (2, -3), (0, -2), (-2, -3), (0, 0)],
];
/// The spring: each frame `v ← DAMPING·v + STIFFNESS·(target − p)`, then `p ← p + v·dt`.
const DAMPING: f32 = 0.65;
const STIFFNESS: f32 = 10.0;
/// Baselines of the top and bottom corner labels.
const TOP_LABEL_BASELINE: i32 = 12;
const BOTTOM_LABEL_BASELINE: i32 = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Particle {
    position: [f32; 2],
    velocity: [f32; 2],
}

/// Every particle's position and velocity, in grid order (row by row).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Particles {
    particles: [Particle; GRID * GRID],
}

/// Grid cell of the particle stored at `index`.
fn cell(index: usize) -> (i32, i32) {
    ((index % GRID) as i32, (index / GRID) as i32)
}

fn rest_position((gx, gy): (i32, i32)) -> [f32; 2] {
    [
        GRID_LEFT + GRID_STEP * gx as f32,
        GRID_TOP + GRID_STEP * gy as f32,
    ]
}

/// Where the particle of `cell` heads while `cursor` is selected.
fn target((gx, gy): (i32, i32), cursor: (u8, u8)) -> [f32; 2] {
    let [x, y] = rest_position((gx, gy));
    let dx = gx - i32::from(cursor.0);
    let dy = gy - i32::from(cursor.1);
    if dx.abs() > PINCH_REACH || dy.abs() > PINCH_REACH {
        return [x, y];
    }
    let (ox, oy) = PINCH[(dy + PINCH_REACH) as usize][(dx + PINCH_REACH) as usize];
    [x + f32::from(ox), y + f32::from(oy)]
}

impl Particles {
    pub(super) fn at_rest() -> Self {
        Self {
            particles: core::array::from_fn(|index| Particle {
                position: rest_position(cell(index)),
                velocity: [0.0; 2],
            }),
        }
    }

    /// One spring step of `dt` seconds towards the targets around `cursor`.
    pub(super) fn advance(&mut self, cursor: (u8, u8), dt: f32) {
        for (index, particle) in self.particles.iter_mut().enumerate() {
            let goal = target(cell(index), cursor);
            let axes = particle.position.iter_mut().zip(&mut particle.velocity);
            for ((position, velocity), goal) in axes.zip(goal) {
                *velocity = DAMPING * *velocity + STIFFNESS * (goal - *position);
                *position += *velocity * dt;
            }
        }
    }

    /// The pixel each particle lights: the one nearest its position.
    fn pixels(&self) -> impl Iterator<Item = Pixel<BinaryColor>> + '_ {
        self.particles.iter().map(|particle| {
            let [x, y] = particle
                .position
                .map(|coordinate| (coordinate + 0.5).floor() as i32);
            Pixel(Point::new(x, y), BinaryColor::On)
        })
    }
}

/// Where corner `corner`'s label of `width` pixels starts: left corners at x = 0, right ones
/// flush with the right edge by their own width (the original used the top-right label's width
/// for both right corners, §15.20).
fn label_origin(corner: usize, width: i32) -> Point {
    let left = if corner % 2 == 1 {
        WIDTH as i32 - width
    } else {
        0
    };
    let baseline = if corner < 2 {
        TOP_LABEL_BASELINE
    } else {
        BOTTOM_LABEL_BASELINE
    };
    Point::new(left, baseline)
}

pub(super) fn draw(particles: &Particles, corners: &[CornerView; 4], frame: &mut Framebuffer) {
    let rule = PrimitiveStyle::with_stroke(BinaryColor::On, 1);
    for x in RULES_X {
        frame
            .draw(&Line::new(Point::new(x, 0), Point::new(x, HEIGHT as i32 - 1)).into_styled(rule));
    }
    for (corner, view) in corners.iter().enumerate() {
        let origin = label_origin(corner, text_width(&view.abbr, &LABEL_FONT));
        draw_text(frame, &view.abbr, &LABEL_FONT, origin.x, origin.y);
    }
    let Ok(()) = frame.draw_iter(particles.pixels());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_rests_between_39_7_and_89_57() {
        let particles = Particles::at_rest();
        let first = particles.particles[0].position;
        let last = particles.particles[GRID * GRID - 1].position;
        assert_eq!(first, [39.0, 7.0]);
        assert_eq!(last, [89.0, 57.0]);
        assert_eq!(particles.particles[GRID + 3].position, [54.0, 12.0]);
    }

    #[test]
    fn neighbours_of_the_selection_lean_towards_it() {
        let cursor = (5, 5);
        assert_eq!(target((5, 5), cursor), rest_position((5, 5)));
        assert_eq!(target((4, 4), cursor), [59.0 + 3.0, 27.0 + 3.0]);
        assert_eq!(target((7, 6), cursor), [74.0 - 3.0, 37.0 - 2.0]);
        assert_eq!(target((5, 3), cursor), [64.0, 22.0 + 2.0]);
        assert_eq!(target((3, 3), cursor), rest_position((3, 3)));
        assert_eq!(target((8, 5), cursor), rest_position((8, 5)));
    }

    #[test]
    fn particles_settle_on_their_targets() {
        let mut particles = Particles::at_rest();
        let cursor = (0, 10);
        for _ in 0..120 {
            particles.advance(cursor, 1.0 / 30.0);
        }
        for (index, particle) in particles.particles.iter().enumerate() {
            let goal = target(cell(index), cursor);
            for (coordinate, goal) in particle.position.iter().zip(goal) {
                assert!((coordinate - goal).abs() < 1e-3, "particle {index}");
            }
        }
    }

    #[test]
    fn a_still_frame_moves_nothing() {
        let mut particles = Particles::at_rest();
        particles.advance((5, 5), 0.0);
        for (moved, rest) in particles
            .particles
            .iter()
            .zip(Particles::at_rest().particles)
        {
            assert_eq!(moved.position, rest.position);
        }
    }

    #[test]
    fn each_right_label_is_aligned_by_its_own_width() {
        assert_eq!(label_origin(0, 14), Point::new(0, 12));
        assert_eq!(label_origin(1, 14), Point::new(114, 12));
        assert_eq!(label_origin(2, 21), Point::new(0, 64));
        assert_eq!(label_origin(3, 21), Point::new(107, 64));
    }
}
