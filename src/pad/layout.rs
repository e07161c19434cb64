//! The pad file layout shared by the device and the host tools: how (grid point, pitch) maps to a
//! row of samples, the file size and its limit, the file name, and how a MIDI note picks a sampled
//! pitch and a playback rate, and the rule a pitch list must follow. Pure arithmetic; it never
//! touches a file.

/// Bytes per sample: pads are signed 16-bit little-endian PCM with no header.
pub const BYTES_PER_SAMPLE: u64 = 2;

/// Side of the touch grid: 11 cells per axis, 0 to 10.
pub const TOUCH_GRID: u8 = 11;

/// The largest pad a layout may describe: what the device keeps for pads
/// ([`crate::limits::PAD_BYTES`]). Well inside what the 32-bit builds can map, so every count and
/// offset of a checked layout also fits a 32-bit `usize`.
pub const MAX_FILE_BYTES: u64 = crate::limits::PAD_BYTES;

/// The most grid points per axis a layout may have: the loader keeps a slot per point, and the
/// original's pads have 9 (the touch pad itself has 11 cells).
pub const MAX_RESOLUTION: usize = 64;

/// A layout with more than [`MAX_RESOLUTION`] points per axis, or whose pad would be larger than
/// [`MAX_FILE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "resolution {resolution}, {pitches} pitches and length {length}: pads have at most \
     {MAX_RESOLUTION} points per axis and {} MiB, the most the device keeps for pads (the \
     original's are 148 MiB)",
    MAX_FILE_BYTES >> 20
)]
pub struct LayoutTooLarge {
    resolution: usize,
    pitches: usize,
    length: usize,
}

/// The shape of one pad file: `resolution`² grid points, each with one row per sampled pitch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PadLayout {
    /// Grid points per axis (`nsynth.resolution`).
    pub resolution: usize,
    /// Sampled MIDI pitches in row order (`nsynth.pitches`), strictly ascending.
    pub pitches: Vec<u8>,
    /// Samples per row (`nsynth.length`).
    pub length: usize,
}

impl PadLayout {
    /// Number of grid points (`resolution²`).
    pub fn points(&self) -> usize {
        self.resolution * self.resolution
    }

    /// Number of rows in the file.
    pub fn rows(&self) -> usize {
        self.points() * self.pitches.len()
    }

    /// Samples in one grid point's block of rows (all pitches), which is contiguous in the file.
    pub fn point_samples(&self) -> usize {
        self.pitches.len() * self.length
    }

    /// The exact size in bytes a pad of this layout must have. Saturates: a layout too large for
    /// any file to have gets `u64::MAX` (no layout read from a file is, see [`Self::check_size`]).
    pub fn file_bytes(&self) -> u64 {
        [
            self.resolution,
            self.resolution,
            self.pitches.len(),
            self.length,
        ]
        .iter()
        .fold(BYTES_PER_SAMPLE, |bytes, &factor| {
            bytes.saturating_mul(factor as u64)
        })
    }

    /// Fails for a layout with more than [`MAX_RESOLUTION`] points per axis or whose pad would be
    /// larger than [`MAX_FILE_BYTES`]; every layout read
    /// from a file passes this first.
    pub fn check_size(&self) -> Result<(), LayoutTooLarge> {
        if self.resolution <= MAX_RESOLUTION && self.file_bytes() <= MAX_FILE_BYTES {
            return Ok(());
        }
        Err(LayoutTooLarge {
            resolution: self.resolution,
            pitches: self.pitches.len(),
            length: self.length,
        })
    }

    /// Grid point index of column `xi`, row `yi` (`yi·R + xi`: top row first, left first).
    pub fn point(&self, xi: usize, yi: usize) -> usize {
        yi * self.resolution + xi
    }

    /// Row index of pitch `p` at grid point `point`: `point·P + p`, as the original reads it.
    pub fn row(&self, point: usize, p: usize) -> usize {
        point * self.pitches.len() + p
    }

    /// The grid column (or row) a fraction 0–1 across the pad selects: `round(x·(R−1))`,
    /// half away from zero in `f32`, exactly as the original addresses rows.
    pub fn nearest_index(&self, fraction: f32) -> usize {
        let span = (self.resolution - 1) as f32;
        (fraction.clamp(0.0, 1.0) * span).round() as usize
    }

    /// The two grid indices around a fraction 0–1 and the weight of the upper one, for blending
    /// neighbouring rows when the finger is between grid points.
    pub fn bracket(&self, fraction: f32) -> (usize, usize, f32) {
        let span = (self.resolution - 1) as f32;
        let pos = fraction.clamp(0.0, 1.0) * span;
        let low = (pos.floor() as usize).min(self.resolution - 1);
        let high = (low + 1).min(self.resolution - 1);
        (low, high, pos - low as f32)
    }

    /// The pitch row a MIDI note plays and its playback rate relative to that row.
    pub fn pitch_for_note(&self, note: u8) -> (usize, f32) {
        let note = note.min(127);
        // Nearest sampled pitch; `min_by_key` keeps the first of equals, the original's tie rule.
        let (p, &pitch) = self
            .pitches
            .iter()
            .enumerate()
            .min_by_key(|(_, &pitch)| (i16::from(note) - i16::from(pitch)).abs())
            .expect("a validated layout has at least one pitch");
        (p, note_frequency(note) / note_frequency(pitch))
    }
}

/// Equal-tempered frequency of a MIDI note in `f32`, as the original computes it.
fn note_frequency(note: u8) -> f32 {
    440.0 * 2f32.powf((f32::from(note) - 69.0) / 12.0)
}

/// File name of the pad made of the four corner instruments, in settings order
/// (top-left, top-right, bottom-left, bottom-right): `c0_c1_c2_c3.bin`.
pub fn pad_file_name<S: AsRef<str>>(corners: &[S; 4]) -> String {
    let names: Vec<&str> = corners.iter().map(AsRef::as_ref).collect();
    format!("{}.bin", names.join("_"))
}

/// Why a list cannot be a pad's pitches. An entry is named by its index in the list as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PitchError {
    #[error("needs at least one MIDI pitch")]
    Empty,
    #[error("{value} is not a MIDI note 0–127")]
    NotANote { index: usize, value: String },
    #[error("pitches must be strictly ascending, but {pitch} follows {previous}")]
    NotAscending {
        index: usize,
        pitch: u8,
        previous: u8,
    },
}

impl PitchError {
    /// The settings key at fault, given the key of the whole list: the entry's own key
    /// (`nsynth.pitches` → `nsynth.pitches[3]`), or the list's when the list as a whole is wrong.
    pub fn key(&self, list_key: &str) -> String {
        match self {
            PitchError::Empty => list_key.to_owned(),
            PitchError::NotANote { index, .. } | PitchError::NotAscending { index, .. } => {
                format!("{list_key}[{index}]")
            }
        }
    }
}

/// Checks a pitch list read from a settings file and returns it as [`PadLayout::pitches`]: at
/// least one pitch, each a MIDI note 0–127, strictly ascending (pad rows follow this list, and
/// the device picks a row by nearest pitch assuming that order). The first bad entry is reported.
pub fn validate_pitches(values: impl IntoIterator<Item = i64>) -> Result<Vec<u8>, PitchError> {
    let mut pitches: Vec<u8> = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let pitch = u8::try_from(value)
            .ok()
            .filter(|pitch| *pitch <= 127)
            .ok_or_else(|| PitchError::NotANote {
                index,
                value: value.to_string(),
            })?;
        if let Some(&previous) = pitches.last() {
            if pitch <= previous {
                return Err(PitchError::NotAscending {
                    index,
                    pitch,
                    previous,
                });
            }
        }
        pitches.push(pitch);
    }
    if pitches.is_empty() {
        return Err(PitchError::Empty);
    }
    Ok(pitches)
}

/// Fraction 0–1 across the pad of a touch-grid cell 0–10 (`g/10`).
pub fn touch_fraction(cell: u8) -> f32 {
    f32::from(cell.min(TOUCH_GRID - 1)) / f32::from(TOUCH_GRID - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PadLayout {
        PadLayout {
            resolution: 9,
            pitches: (24..=84).step_by(4).collect(),
            length: 60000,
        }
    }

    #[test]
    fn shipped_pad_size_matches_the_original() {
        assert_eq!(shipped().file_bytes(), 155_520_000);
        let defaults = PadLayout {
            pitches: (36..=84).step_by(4).collect(),
            ..shipped()
        };
        assert_eq!(defaults.file_bytes(), 126_360_000);
    }

    #[test]
    fn sizes_too_large_for_any_file_saturate() {
        // From the `pad_file` fuzz target: the plain product overflowed.
        let huge = PadLayout {
            resolution: 3_238_002_689,
            pitches: vec![0],
            length: 6656,
        };
        assert_eq!(huge.file_bytes(), u64::MAX);
    }

    #[test]
    fn touch_cells_map_to_grid_columns_like_the_original() {
        let layout = shipped();
        let columns: Vec<usize> = (0..11)
            .map(|g| layout.nearest_index(touch_fraction(g)))
            .collect();
        assert_eq!(columns, [0, 1, 2, 2, 3, 4, 5, 6, 6, 7, 8]);
    }

    #[test]
    fn rows_are_grid_y_then_x_then_pitch() {
        let layout = shipped();
        let point = layout.point(2, 3);
        assert_eq!(point, 29);
        assert_eq!(layout.row(point, 5), 29 * 16 + 5);
    }

    #[test]
    fn ties_go_to_the_first_listed_pitch() {
        let layout = shipped();
        let (p, rate) = layout.pitch_for_note(26);
        assert_eq!(layout.pitches[p], 24);
        assert!((rate - 2f32.powf(2.0 / 12.0)).abs() < 1e-5);
    }

    #[test]
    fn notes_outside_the_sampled_range_transpose() {
        let layout = shipped();
        let (p, rate) = layout.pitch_for_note(0);
        assert_eq!((p, (rate * 1000.0).round()), (0, 250.0));
        let (p, rate) = layout.pitch_for_note(127);
        assert_eq!(p, 15);
        assert!((rate - 11.99).abs() < 0.01, "{rate}");
    }

    #[test]
    fn bracket_gives_neighbours_and_weight() {
        let layout = shipped();
        assert_eq!(layout.bracket(0.0), (0, 1, 0.0));
        assert_eq!(layout.bracket(1.0), (8, 8, 0.0));
        let (low, high, w) = layout.bracket(0.3);
        assert_eq!((low, high), (2, 3));
        assert!((w - 0.4).abs() < 1e-5);
    }

    #[test]
    fn pitch_lists_are_whole_midi_notes_strictly_ascending() {
        assert_eq!(validate_pitches([0, 60, 127]), Ok(vec![0, 60, 127]));
        assert_eq!(validate_pitches([]), Err(PitchError::Empty));
        let too_high = validate_pitches([24, 128]).unwrap_err();
        assert_eq!(too_high.key("pitches"), "pitches[1]");
        assert_eq!(too_high.to_string(), "128 is not a MIDI note 0–127");
        let negative = validate_pitches([-1]).unwrap_err();
        assert_eq!(negative.key("nsynth.pitches"), "nsynth.pitches[0]");
        let repeated = validate_pitches([24, 40, 40, 10]).unwrap_err();
        assert_eq!(repeated.key("nsynth.pitches"), "nsynth.pitches[2]");
        assert_eq!(
            repeated.to_string(),
            "pitches must be strictly ascending, but 40 follows 40"
        );
        assert_eq!(PitchError::Empty.key("nsynth.pitches"), "nsynth.pitches");
    }

    #[test]
    fn file_name_joins_corners_in_settings_order() {
        assert_eq!(pad_file_name(&["a", "b", "c", "d"]), "a_b_c_d.bin");
    }
}
