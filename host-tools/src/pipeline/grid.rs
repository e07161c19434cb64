//! Interpolation on the pad grid (spec §7.3, the original step 02, and the lookup of step 06):
//! the corner weights of every grid point, the unique sounds the whole pad set needs, their
//! names, and for every row of every pad the sound it plays. Pure arithmetic on names and
//! weights, replicating the original's float64 formulas, rounding and de-duplication exactly;
//! it never touches embeddings or files.

use std::collections::HashMap;

use super::config::PipelineConfig;

/// Grid corners of the four weight positions, in corner order (top-left, top-right,
/// bottom-left, bottom-right; the original's NW, NE, SE, SW).
const CORNER_POINTS: [(f64, f64); 4] = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)];

/// `numpy.linspace(0, 1, resolution)`: `i · (1 / (R − 1))`, the last one exactly 1.
pub fn grid_coordinates(resolution: usize) -> Vec<f64> {
    let step = 1.0 / (resolution.max(2) - 1) as f64;
    (0..resolution)
        .map(|i| {
            if i + 1 == resolution {
                1.0
            } else {
                i as f64 * step
            }
        })
        .collect()
}

/// The original's `get_weights`: `w_k = max(1 − ‖p − c_k‖, 0)`, normalised to sum 1, for the
/// corners in corner order. Evaluated in the same order of float64 operations as NumPy.
pub fn corner_weights(x: f64, y: f64) -> [f64; 4] {
    let raw = CORNER_POINTS.map(|(cx, cy)| {
        let (dx, dy) = (x - cx, y - cy);
        (1.0 - (dx * dx + dy * dy).sqrt()).max(0.0)
    });
    let sum = raw[0] + raw[1] + raw[2] + raw[3];
    raw.map(|w| w / sum)
}

/// `np.around(w, 3)` as a count of thousandths (`rint(w · 1000)`), so that equal rounded weights
/// compare equal exactly.
fn thousandths(weight: f64) -> u32 {
    (weight * 1000.0).round_ties_even() as u32
}

/// A sound to generate: one interpolated embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Sound {
    /// The original pipeline's name: sorted `key_value` pairs of the instruments' rounded weights
    /// and the pitch, e.g. `brass_0.875_fatpoly_0.125_pitch_24`. File stem of its embedding
    /// (`<name>.npy`) and audio (`gen_<name>.wav`).
    pub name: String,
    /// Index into the pitch list.
    pub pitch: usize,
    /// The pad whose instruments are mixed (the first combination that needed this sound).
    pub pad: usize,
    /// Unrounded weights of that pad's corners, in corner order.
    pub weights: [f64; 4],
}

/// One pad file: its corner instruments and the sound behind every row.
#[derive(Debug, Clone, PartialEq)]
pub struct PadPlan {
    /// Instrument names in device corner order; the file is `pad_file_name(&corners)`.
    pub corners: [String; 4],
    /// Index into [`Plan::sounds`] for each row, `row = (yi·R + xi)·P + p`.
    pub rows: Vec<usize>,
}

/// Everything the pad set needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Unique sounds in the order the original first generated them (combination, pitch, grid
    /// point with x fastest).
    pub sounds: Vec<Sound>,
    /// One pad per combination of corner instruments, in the original's sorted order.
    pub pads: Vec<PadPlan>,
}

impl Plan {
    /// Works out the sounds and pads for `config`, exactly as the original steps 02 and 06.
    ///
    /// Step 02 names each (combination, pitch, point) by its description — `pitch` plus every
    /// instrument whose unrounded weight is positive, with the weight rounded to 3 decimals —
    /// and generates the first occurrence of each description. Step 06 looks rows up by the
    /// description with zero rounded weights left out, taking the last step-02 name that
    /// parses to it. Sounds no row reads are dropped (the original generated them anyway; they
    /// only exist at resolutions where a positive weight rounds to 0.000).
    pub fn new(config: &PipelineConfig) -> Self {
        let layout = &config.layout;
        let coordinates = grid_coordinates(layout.resolution);
        // Grid points with x fastest, as `make_grid` lists them, with their layout index.
        let points: Vec<(usize, [f64; 4])> = coordinates
            .iter()
            .enumerate()
            .flat_map(|(yi, &y)| {
                coordinates
                    .iter()
                    .enumerate()
                    .map(move |(xi, &x)| (layout.point(xi, yi), corner_weights(x, y)))
            })
            .collect();
        let combinations = combinations(config);

        let mut candidates: Vec<Sound> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        // Step 06's lookup key → the candidate its last step-02 name refers to.
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (pad, corners) in combinations.iter().enumerate() {
            for (pitch, &midi) in layout.pitches.iter().enumerate() {
                for &(_, weights) in &points {
                    let description = Description::new(corners, &weights, midi);
                    let name = description.name(true);
                    let candidate = *by_name.entry(name.clone()).or_insert_with(|| {
                        candidates.push(Sound {
                            name,
                            pitch,
                            pad,
                            weights,
                        });
                        candidates.len() - 1
                    });
                    by_key.insert(description.name(false), candidate);
                }
            }
        }

        let mut used = vec![false; candidates.len()];
        let mut pads: Vec<PadPlan> = Vec::with_capacity(combinations.len());
        for corners in combinations {
            let mut rows = vec![0; layout.rows()];
            for &(point, weights) in &points {
                for (pitch, &midi) in layout.pitches.iter().enumerate() {
                    let key = Description::new(&corners, &weights, midi).name(false);
                    let candidate = by_key[&key];
                    rows[layout.row(point, pitch)] = candidate;
                    used[candidate] = true;
                }
            }
            pads.push(PadPlan { corners, rows });
        }

        // Keep the used candidates in order; a used candidate's new index is the number of used
        // ones before it.
        let mut renumbered = Vec::with_capacity(candidates.len());
        let mut sounds = Vec::new();
        for (sound, used) in candidates.into_iter().zip(used) {
            renumbered.push(sounds.len());
            if used {
                sounds.push(sound);
            }
        }
        for pad in &mut pads {
            for row in &mut pad.rows {
                *row = renumbered[*row];
            }
        }
        Plan { sounds, pads }
    }

    /// The instruments `sound` mixes, in corner order.
    pub fn instruments(&self, sound: &Sound) -> &[String; 4] {
        &self.pads[sound.pad].corners
    }

    /// The instruments `sound` mixes, those weighted above zero, with their weights, in corner
    /// order.
    pub fn mix<'a>(&'a self, sound: &'a Sound) -> impl Iterator<Item = (&'a String, f64)> + 'a {
        self.instruments(sound)
            .iter()
            .zip(sound.weights)
            .filter(|(_, weight)| *weight > 0.0)
    }
}

/// Every choice of one instrument per corner, sorted as Python sorts the tuples.
fn combinations(config: &PipelineConfig) -> Vec<[String; 4]> {
    let names = |c: usize| config.corners[c].iter().map(|i| i.name.clone());
    let mut all = Vec::new();
    for a in names(0) {
        for b in names(1) {
            for c in names(2) {
                for d in names(3) {
                    all.push([a.clone(), b.clone(), c.clone(), d.clone()]);
                }
            }
        }
    }
    all.sort();
    all
}

/// The original's `get_description`: the pitch and each instrument with a positive unrounded
/// weight, the weight rounded to 3 decimals.
struct Description<'a> {
    midi: u8,
    parts: Vec<(&'a str, u32)>,
}

impl<'a> Description<'a> {
    fn new(corners: &'a [String; 4], weights: &[f64; 4], midi: u8) -> Self {
        let parts = corners
            .iter()
            .zip(weights)
            .filter(|(_, &w)| w > 0.0)
            .map(|(name, &w)| (name.as_str(), thousandths(w)))
            .collect();
        Self { midi, parts }
    }

    /// `description_to_name`: keys sorted bytewise, joined `key_value_…` with `_`; weights as
    /// Python prints a float (`1.0`, `0.875`), the pitch as an integer. With `zeros` false, the
    /// instruments whose weight rounds to 0 are left out (what step 06's parser keeps).
    fn name(&self, zeros: bool) -> String {
        let pitch = self.midi.to_string();
        let mut pairs: Vec<(&str, String)> = self
            .parts
            .iter()
            .filter(|(_, t)| zeros || *t > 0)
            .map(|(name, t)| (*name, format!("{:?}", f64::from(*t) / 1000.0)))
            .collect();
        pairs.push(("pitch", pitch));
        pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut name = String::new();
        for (key, value) in pairs {
            if !name.is_empty() {
                name.push('_');
            }
            name.push_str(key);
            name.push('_');
            name.push_str(&value);
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(
        nw: &[&str],
        ne: &[&str],
        se: &[&str],
        sw: &[&str],
        pitches: &[u8],
        res: usize,
    ) -> PipelineConfig {
        let json = serde_json::json!({
            "pads": {"NW": nw, "NE": ne, "SE": se, "SW": sw},
            "pitches": pitches,
            "resolution": res,
            "final_length": 60000,
        });
        PipelineConfig::from_json(&json.to_string(), Path::new("settings.json")).unwrap()
    }

    fn rounded(weights: [f64; 4]) -> [f64; 4] {
        weights.map(|w| f64::from(thousandths(w)) / 1000.0)
    }

    #[test]
    fn linspace_matches_numpy() {
        assert_eq!(grid_coordinates(3), [0.0, 0.5, 1.0]);
        assert_eq!(grid_coordinates(9)[3], 0.375);
        let sevenths = grid_coordinates(8);
        assert_eq!(sevenths[3], 3.0 * (1.0 / 7.0));
        assert_eq!(sevenths[7], 1.0);
    }

    #[test]
    fn weights_match_the_worked_examples_of_the_spec() {
        assert_eq!(rounded(corner_weights(0.0, 0.0)), [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(
            rounded(corner_weights(0.125, 0.0)),
            [0.875, 0.125, 0.0, 0.0]
        );
        assert_eq!(rounded(corner_weights(0.5, 0.0)), [0.5, 0.5, 0.0, 0.0]);
        assert_eq!(rounded(corner_weights(0.5, 0.125)), [0.5, 0.5, 0.0, 0.0]);
        assert_eq!(
            rounded(corner_weights(0.125, 0.125)),
            [0.78, 0.11, 0.11, 0.0]
        );
        assert_eq!(
            rounded(corner_weights(0.375, 0.125)),
            [0.596, 0.357, 0.047, 0.0]
        );
        assert_eq!(
            rounded(corner_weights(0.5, 0.25)),
            [0.409, 0.409, 0.091, 0.091]
        );
        assert_eq!(rounded(corner_weights(0.5, 0.5)), [0.25; 4]);
        // By hand: at (0.125, 0) the distances are 0.125, 0.875, √1.015625, √1.765625, so the
        // raw weights are 0.875, 0.125, 0, 0 and already sum to 1.
        assert_eq!(corner_weights(0.125, 0.0), [0.875, 0.125, 0.0, 0.0]);
    }

    #[test]
    fn names_sort_keys_bytewise_and_print_floats_as_python() {
        let corners = ["brass", "fatpoly", "marimba", "synthbrass"].map(String::from);
        let d = Description::new(&corners, &corner_weights(0.125, 0.0), 24);
        assert_eq!(d.name(true), "brass_0.875_fatpoly_0.125_pitch_24");
        let d = Description::new(&corners, &corner_weights(0.0, 0.0), 84);
        assert_eq!(d.name(true), "brass_1.0_pitch_84");
        let upper = ["Zed", "apple", "pitchy", "q"].map(String::from);
        let d = Description::new(&upper, &[0.25; 4], 60);
        assert_eq!(
            d.name(true),
            "Zed_0.25_apple_0.25_pitch_60_pitchy_0.25_q_0.25"
        );
    }

    #[test]
    fn resolution_three_one_instrument_per_corner_by_hand() {
        let plan = Plan::new(&config(&["a"], &["b"], &["c"], &["d"], &[60], 3));
        let names: Vec<&str> = plan.sounds.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a_1.0_pitch_60",
                "a_0.5_b_0.5_pitch_60",
                "b_1.0_pitch_60",
                "a_0.5_c_0.5_pitch_60",
                "a_0.25_b_0.25_c_0.25_d_0.25_pitch_60",
                "b_0.5_d_0.5_pitch_60",
                "c_1.0_pitch_60",
                "c_0.5_d_0.5_pitch_60",
                "d_1.0_pitch_60",
            ]
        );
        assert_eq!(plan.pads.len(), 1);
        assert_eq!(plan.pads[0].corners, ["a", "b", "c", "d"].map(String::from));
        assert_eq!(plan.pads[0].rows, (0..9).collect::<Vec<_>>());
    }

    #[test]
    fn sounds_are_shared_across_combinations_and_rows_follow_the_device_order() {
        let plan = Plan::new(&config(&["e", "a"], &["b"], &["c"], &["d"], &[60, 64], 3));
        // Sorted combinations: (a, b, c, d) before (e, b, c, d), whatever the settings order.
        assert_eq!(plan.pads[0].corners[0], "a");
        assert_eq!(plan.pads[1].corners[0], "e");
        // 9 sounds per pitch for the first pad; the second adds the 4 points that involve `e`.
        assert_eq!(plan.sounds.len(), 2 * 9 + 2 * 4);
        let second = &plan.pads[1];
        let name_at = |xi: usize, yi: usize, p: usize| {
            let row = (yi * 3 + xi) * 2 + p;
            plan.sounds[second.rows[row]].name.as_str()
        };
        assert_eq!(name_at(0, 0, 0), "e_1.0_pitch_60");
        assert_eq!(name_at(1, 0, 1), "b_0.5_e_0.5_pitch_64");
        assert_eq!(name_at(2, 2, 1), "d_1.0_pitch_64");
        assert_eq!(name_at(1, 1, 0), "b_0.25_c_0.25_d_0.25_e_0.25_pitch_60");
        // The shared corner d is the very same sound in both pads.
        assert_eq!(plan.pads[0].rows[17], second.rows[17]);
        // A sound mixes the instruments of the pad that first needed it.
        let e_corner = &plan.sounds[second.rows[0]];
        assert_eq!(plan.instruments(e_corner)[0], "e");
        assert_eq!(e_corner.weights, [1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn the_original_example_needs_118016_sounds() {
        let names =
            |prefix: &str| -> Vec<String> { (0..4).map(|i| format!("{prefix}{i}")).collect() };
        let pitches: Vec<u8> = (24..=84).step_by(4).collect();
        let json = serde_json::json!({
            "pads": {"NW": names("nw"), "NE": names("ne"), "SE": names("se"), "SW": names("sw")},
            "pitches": pitches,
            "resolution": 9,
            "final_length": 60000,
        });
        let config = PipelineConfig::from_json(&json.to_string(), Path::new("s.json")).unwrap();
        let plan = Plan::new(&config);
        assert_eq!(plan.pads.len(), 256);
        assert_eq!(plan.sounds.len(), 118_016);
        // 77 distinct rows per pitch in each pad: the four edge midpoints repeat a neighbour.
        let mut distinct = plan.pads[100].rows.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 77 * 16);
    }

    #[test]
    fn weights_that_round_to_zero_are_named_but_not_looked_up() {
        // At resolution 34 the point (8/33, 1/33) gives the bottom-left corner 0.00046.
        let plan = Plan::new(&config(&["a"], &["b"], &["c"], &["d"], &[60], 34));
        let row = 34 + 8; // yi = 1, xi = 8, one pitch
        let sound = &plan.sounds[plan.pads[0].rows[row]];
        assert!(sound.name.contains("c_0.0_"), "{}", sound.name);
        assert!(sound.weights[2] > 0.0 && sound.weights[2] < 0.0005);
    }
}
