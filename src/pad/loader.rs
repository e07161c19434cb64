//! The loader: opens the selected pad, copies the grid points that can sound into memory, and
//! builds banks that only ever name resident points. It runs on the loader thread (or, offline,
//! on the caller's thread); it is the only code that reads pad files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::file::{PadError, PadFile, PadSource};
use super::{Bank, PadLayout, PointRows, Selection};

/// Grid points kept resident per pad (about 46 MB with the shipped layout); the farthest from
/// the selection go first.
const MAX_RESIDENT_POINTS: usize = 24;

/// Where new notes should play: a pad file name and a position, fractions 0–1 across the grid
/// (0,0 is the first corner's point, as the original addresses rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub pad: String,
    pub x: f32,
    pub y: f32,
}

/// Opens a pad by file name.
pub type Opener = Box<dyn FnMut(&str) -> Result<Box<dyn PadSource>, PadError> + Send>;

struct OpenPad {
    name: String,
    /// `None` when the pad could not be opened: nothing plays until another pad loads.
    source: Option<Box<dyn PadSource>>,
    generation: u64,
    resident: HashMap<usize, Arc<PointRows>>,
}

pub struct Loader {
    layout: PadLayout,
    interpolate: bool,
    opener: Opener,
    pad: Option<OpenPad>,
    selection: Selection,
    next_generation: u64,
}

impl Loader {
    /// A loader that opens pads with `opener`; `interpolate` blends the nearest grid points.
    pub fn new(layout: PadLayout, interpolate: bool, opener: Opener) -> Self {
        Self {
            layout,
            interpolate,
            opener,
            pad: None,
            selection: Selection::NONE,
            next_generation: 1,
        }
    }

    /// A loader for pad files in `directory`.
    pub fn for_directory(layout: PadLayout, interpolate: bool, directory: PathBuf) -> Self {
        let file_layout = layout.clone();
        let opener: Opener = Box::new(move |name| {
            let pad = PadFile::open(&directory.join(name), &file_layout)?;
            Ok(Box::new(pad) as Box<dyn PadSource>)
        });
        Self::new(layout, interpolate, opener)
    }

    /// The pad file currently open (or that failed to open).
    pub fn pad(&self) -> Option<&str> {
        self.pad.as_ref().map(|pad| pad.name.as_str())
    }

    /// The grid points a position plays from: the nearest one as the original does, or with
    /// interpolation the surrounding ones weighted by distance.
    pub fn selection_at(&self, x: f32, y: f32) -> Selection {
        let layout = &self.layout;
        if !self.interpolate {
            return Selection::point(
                layout.point(layout.nearest_index(x), layout.nearest_index(y)),
            );
        }
        let (x0, x1, wx) = layout.bracket(x);
        let (y0, y1, wy) = layout.bracket(y);
        Selection::blend(&[
            (layout.point(x0, y0), (1.0 - wx) * (1.0 - wy)),
            (layout.point(x1, y0), wx * (1.0 - wy)),
            (layout.point(x0, y1), (1.0 - wx) * wy),
            (layout.point(x1, y1), wx * wy),
        ])
    }

    /// Opens the target's pad if it is not the open one, makes the target's points resident and
    /// returns a bank that plays there. On error the bank to send is [`Loader::bank`]: silent.
    pub fn prepare(&mut self, target: &Target) -> Result<Arc<Bank>, PadError> {
        if self.pad() != Some(target.pad.as_str()) {
            let generation = self.next_generation;
            self.next_generation += 1;
            self.selection = Selection::NONE;
            let opened = (self.opener)(&target.pad);
            let (source, error) = match opened {
                Ok(source) => (Some(source), None),
                Err(error) => (None, Some(error)),
            };
            self.pad = Some(OpenPad {
                name: target.pad.clone(),
                source,
                generation,
                resident: HashMap::new(),
            });
            if let Some(error) = error {
                return Err(error);
            }
        }
        let selection = self.selection_at(target.x, target.y);
        for tap in selection.taps() {
            self.load_point(tap.point as usize)?;
        }
        self.selection = selection;
        Ok(self.bank())
    }

    /// A bank of everything resident now, playing at the current selection (silent if none).
    pub fn bank(&self) -> Arc<Bank> {
        let mut points: Vec<Option<Arc<PointRows>>> = vec![None; self.layout.points()];
        let mut generation = 0;
        if let Some(pad) = &self.pad {
            generation = pad.generation;
            for (&point, rows) in &pad.resident {
                points[point] = Some(Arc::clone(rows));
            }
        }
        Arc::new(Bank {
            generation,
            points: points.into_boxed_slice(),
            selection: self.selection,
        })
    }

    /// Copies one grid point of the open pad into memory, if it is not resident yet.
    pub fn load_point(&mut self, point: usize) -> Result<(), PadError> {
        let samples = self.layout.point_samples();
        let Some(pad) = &mut self.pad else {
            return Ok(());
        };
        let Some(source) = &pad.source else {
            return Ok(());
        };
        if point >= self.layout.points() || pad.resident.contains_key(&point) {
            return Ok(());
        }
        let mut rows = vec![0i16; samples];
        source.read_point(point, &mut rows)?;
        pad.resident.insert(
            point,
            Arc::new(PointRows {
                samples: rows.into(),
            }),
        );
        Ok(())
    }

    /// The grid points around the selection, nearest first: where the finger goes next.
    pub fn neighbours(&self) -> Vec<usize> {
        let r = self.layout.resolution as isize;
        let mut around = Vec::new();
        for tap in self.selection.taps() {
            let (x, y) = (tap.point as isize % r, tap.point as isize / r);
            for (dx, dy) in [
                (-1, 0),
                (1, 0),
                (0, -1),
                (0, 1),
                (-1, -1),
                (1, -1),
                (-1, 1),
                (1, 1),
            ] {
                let (nx, ny) = (x + dx, y + dy);
                let point = (ny * r + nx) as usize;
                if (0..r).contains(&nx) && (0..r).contains(&ny) && !around.contains(&point) {
                    around.push(point);
                }
            }
        }
        around
    }

    /// Drops resident points beyond the budget, farthest from the selection first, never one
    /// listed in `keep`. Banks already handed out keep their own references.
    pub fn evict(&mut self, keep: &[usize]) {
        let r = self.layout.resolution as isize;
        let distance = |point: usize, selection: &Selection| {
            selection
                .taps()
                .iter()
                .map(|tap| {
                    let (a, b) = (point as isize, tap.point as isize);
                    (a % r - b % r).abs().max((a / r - b / r).abs())
                })
                .min()
                .unwrap_or(0)
        };
        let selection = self.selection;
        let Some(pad) = &mut self.pad else { return };
        while pad.resident.len() > MAX_RESIDENT_POINTS {
            let farthest = pad
                .resident
                .keys()
                .copied()
                .filter(|p| {
                    !keep.contains(p) && !selection.taps().iter().any(|t| t.point as usize == *p)
                })
                .max_by_key(|&p| (distance(p, &selection), p));
            match farthest {
                Some(point) => pad.resident.remove(&point),
                None => break,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pad source whose every sample is its grid point number.
    struct Numbered;

    impl PadSource for Numbered {
        fn read_point(&self, point: usize, dst: &mut [i16]) -> Result<(), PadError> {
            dst.fill(point as i16);
            Ok(())
        }
    }

    fn layout() -> PadLayout {
        PadLayout {
            resolution: 9,
            pitches: vec![60, 64],
            length: 8,
        }
    }

    fn loader(interpolate: bool) -> Loader {
        let source_layout = layout();
        Loader::new(
            layout(),
            interpolate,
            Box::new(move |name| {
                if name == "missing.bin" {
                    PadFile::open(std::path::Path::new("/nowhere/missing.bin"), &source_layout)
                        .map(|f| Box::new(f) as Box<dyn PadSource>)
                } else {
                    Ok(Box::new(Numbered) as Box<dyn PadSource>)
                }
            }),
        )
    }

    fn target(pad: &str, x: f32, y: f32) -> Target {
        Target {
            pad: pad.into(),
            x,
            y,
        }
    }

    #[test]
    fn a_bank_names_only_resident_points_and_plays_the_nearest() {
        let mut loader = loader(false);
        let bank = loader.prepare(&target("a.bin", 0.5, 0.5)).unwrap();
        assert_eq!(bank.selection, Selection::point(40));
        assert!(bank.holds(bank.selection.taps()));
        assert_eq!(bank.points.iter().flatten().count(), 1);
        assert_eq!(bank.points[40].as_ref().unwrap().samples[0], 40);
    }

    #[test]
    fn interpolation_selects_the_surrounding_points_by_distance() {
        let mut loader = loader(true);
        let bank = loader.prepare(&target("a.bin", 0.3, 0.5)).unwrap();
        // x = 0.3 × 8 = 2.4: columns 2 and 3, weights 0.6 and 0.4; y exactly on row 4.
        let taps = bank.selection.taps();
        assert_eq!(taps.len(), 2);
        assert_eq!((taps[0].point, taps[1].point), (38, 39));
        assert!((taps[0].weight - 0.6).abs() < 1e-5 && (taps[1].weight - 0.4).abs() < 1e-5);
        assert!(bank.holds(taps));
    }

    #[test]
    fn a_new_pad_is_a_new_generation_and_the_same_pad_is_not_reopened() {
        let mut loader = loader(false);
        let first = loader.prepare(&target("a.bin", 0.0, 0.0)).unwrap();
        let moved = loader.prepare(&target("a.bin", 1.0, 1.0)).unwrap();
        assert_eq!(first.generation, moved.generation);
        assert_eq!(moved.points.iter().flatten().count(), 2);
        let other = loader.prepare(&target("b.bin", 1.0, 1.0)).unwrap();
        assert_ne!(other.generation, first.generation);
        assert_eq!(other.points.iter().flatten().count(), 1);
    }

    #[test]
    fn a_pad_that_fails_to_open_gives_a_silent_bank() {
        let mut loader = loader(false);
        loader.prepare(&target("a.bin", 0.0, 0.0)).unwrap();
        let error = loader
            .prepare(&target("missing.bin", 0.0, 0.0))
            .unwrap_err();
        assert!(error.to_string().contains("missing.bin"));
        assert_eq!(loader.bank().selection.count, 0);
    }

    #[test]
    fn neighbours_surround_the_selection_and_eviction_keeps_the_budget() {
        let mut loader = loader(false);
        loader.prepare(&target("a.bin", 0.0, 0.0)).unwrap();
        let mut around = loader.neighbours();
        around.sort();
        assert_eq!(around, [1, 9, 10]);
        for point in 0..81 {
            loader.load_point(point).unwrap();
        }
        loader.evict(&[80]);
        let bank = loader.bank();
        assert_eq!(bank.points.iter().flatten().count(), MAX_RESIDENT_POINTS);
        assert!(bank.points[0].is_some() && bank.points[80].is_some() && bank.points[1].is_some());
    }
}
