//! The position screen: a sine wave standing for the sound, thin over the part that the
//! position knob skips and wide over the part that plays. Owns the wave's fixed geometry;
//! never reads the knob itself.

use core::f32::consts::PI;

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{Point, Primitive};
use embedded_graphics::primitives::{Polyline, PrimitiveStyle};

use super::Framebuffer;

/// Vertices of the polyline, one per column from x = 16.
const VERTICES: usize = 97;
const LEFT: i32 = 16;
/// The wave's centre row, amplitude, phase and angular step per column.
const MIDDLE: i32 = 32;
const AMPLITUDE: f32 = 16.0;
const PHASE: f32 = 7.0 * PI / 8.0;
const STEP: f32 = 0.246;
const THIN: u32 = 1;
const WIDE: u32 = 3;

/// Row of vertex `i`: `32 − trunc(16·sin((i + 7π/8)·0.246))`.
fn wave_row(i: usize) -> i32 {
    MIDDLE - (AMPLITUDE * ((i as f32 + PHASE) * STEP).sin()).trunc() as i32
}

/// The wave's vertices and, for each, the running sum of the squared segment lengths up to it,
/// which is what the original measures the position along.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Wave {
    vertices: [Point; VERTICES],
    travelled: [u32; VERTICES],
}

impl Wave {
    pub(super) fn new() -> Self {
        let vertices: [Point; VERTICES] =
            core::array::from_fn(|i| Point::new(LEFT + i as i32, wave_row(i)));
        let mut travelled = [0; VERTICES];
        for i in 1..VERTICES {
            let rise = (vertices[i].y - vertices[i - 1].y).unsigned_abs();
            travelled[i] = travelled[i - 1] + rise * rise + 1;
        }
        Self {
            vertices,
            travelled,
        }
    }

    /// Index of the last vertex drawn thin: the last one whose running sum is at most
    /// `position` of the total.
    fn last_thin_vertex(&self, position: f32) -> usize {
        let reached = position * self.travelled[VERTICES - 1] as f32;
        self.travelled
            .iter()
            .rposition(|&sum| sum as f32 <= reached)
            .unwrap_or(0)
    }

    pub(super) fn draw(&self, position: f32, frame: &mut Framebuffer) {
        let split = self.last_thin_vertex(position);
        for (vertices, width) in [
            (&self.vertices[..=split], THIN),
            (&self.vertices[split..], WIDE),
        ] {
            frame.draw(
                &Polyline::new(vertices)
                    .into_styled(PrimitiveStyle::with_stroke(BinaryColor::On, width)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows the original draws, as listed in the specification.
    const ORIGINAL_ROWS: [i32; VERTICES] = [
        22, 20, 18, 17, 17, 17, 19, 22, 25, 29, 32, 35, 39, 42, 45, 47, 47, 47, 46, 44, 42, 38, 35,
        32, 28, 24, 21, 19, 17, 17, 17, 18, 20, 23, 26, 30, 33, 37, 41, 43, 46, 47, 47, 47, 46, 43,
        40, 37, 33, 30, 26, 23, 20, 18, 17, 17, 17, 19, 21, 25, 28, 32, 35, 39, 42, 45, 46, 47, 47,
        46, 45, 42, 39, 35, 32, 28, 25, 21, 19, 17, 17, 17, 18, 20, 23, 26, 30, 33, 37, 40, 43, 46,
        47, 47, 47, 46, 43,
    ];

    #[test]
    fn the_wave_has_the_original_rows() {
        let wave = Wave::new();
        let rows: Vec<i32> = wave.vertices.iter().map(|vertex| vertex.y).collect();
        assert_eq!(rows, ORIGINAL_ROWS);
        assert_eq!(wave.vertices[0].x, 16);
        assert_eq!(wave.vertices[VERTICES - 1].x, 112);
    }

    #[test]
    fn the_squared_lengths_total_767() {
        assert_eq!(Wave::new().travelled[VERTICES - 1], 767);
    }

    #[test]
    fn the_thin_part_grows_with_the_position() {
        let wave = Wave::new();
        assert_eq!(wave.last_thin_vertex(0.0), 0);
        assert_eq!(wave.last_thin_vertex(1.0), VERTICES - 1);
        let half = wave.last_thin_vertex(0.5);
        assert!(wave.travelled[half] as f32 <= 383.5);
        assert!(wave.travelled[half + 1] as f32 > 383.5);
        let mut previous = 0;
        for step in 0..=100 {
            let split = wave.last_thin_vertex(step as f32 / 100.0);
            assert!(split >= previous);
            previous = split;
        }
    }

    #[test]
    fn out_of_range_positions_clamp_to_the_ends() {
        let wave = Wave::new();
        assert_eq!(wave.last_thin_vertex(-0.5), 0);
        assert_eq!(wave.last_thin_vertex(f32::NAN), 0);
        assert_eq!(wave.last_thin_vertex(2.0), VERTICES - 1);
    }
}
