//! A bank: the part of one pad that is resident in memory, handed from the loader to the engine.
//! A bank is immutable once built; it is shared by `Arc`, built and dropped off the audio thread.

use std::sync::Arc;

/// All pitch rows of one grid point, copied out of the pad file so reading them never faults.
#[derive(Debug)]
pub struct PointRows {
    /// `pitches × length` samples, pitch-major, as in the file.
    pub samples: Box<[i16]>,
}

/// One grid point new notes read from, and its weight in the blend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tap {
    pub point: u32,
    pub weight: f32,
}

/// Where new notes play: one grid point, or up to four blended (grid interpolation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    pub taps: [Tap; 4],
    pub count: usize,
}

impl Selection {
    /// Nothing to play (no pad loaded).
    pub const NONE: Selection = Selection {
        taps: [Tap {
            point: 0,
            weight: 0.0,
        }; 4],
        count: 0,
    };

    /// A single grid point at full weight.
    pub fn point(point: usize) -> Self {
        let mut selection = Self::NONE;
        selection.taps[0] = Tap {
            point: point as u32,
            weight: 1.0,
        };
        selection.count = 1;
        selection
    }

    /// Up to four (grid point, weight) pairs; points of weight 0 are left out.
    pub fn blend(points: &[(usize, f32)]) -> Self {
        let mut selection = Self::NONE;
        for &(point, weight) in points.iter().filter(|(_, w)| *w > 0.0).take(4) {
            selection.taps[selection.count] = Tap {
                point: point as u32,
                weight,
            };
            selection.count += 1;
        }
        selection
    }

    pub fn taps(&self) -> &[Tap] {
        &self.taps[..self.count]
    }
}

/// The resident grid points of one pad and where new notes play.
#[derive(Debug)]
pub struct Bank {
    /// Identity of the pad file this came from; banks of one generation hold the same samples.
    pub generation: u64,
    /// One entry per grid point: its rows if resident.
    pub points: Box<[Option<Arc<PointRows>>]>,
    pub selection: Selection,
}

impl Bank {
    /// Whether every tap of `taps` is resident here.
    pub fn holds(&self, taps: &[Tap]) -> bool {
        taps.iter()
            .all(|tap| matches!(self.points.get(tap.point as usize), Some(Some(_))))
    }
}
