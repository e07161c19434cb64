//! The original's attack/decay/sustain/release curves, knob mappings and slew limit, with the
//! time base as the original actually sounds (envelope time counts output frames against the pad
//! rate) or, as an option, in real seconds. Pure arithmetic on one voice's counters.

use crate::settings::EnvelopeTimeBase;

/// `s(x) = 2.55x − 2.88x² + 1.33x³`: the original's cheap square root, used for the attack
/// curve and the loop crossfades. `s(0) = 0`, `s(1) = 1`, monotonic in between.
#[inline(always)]
pub fn sqrt_curve(x: f32) -> f32 {
    x * (2.55 + x * (-2.88 + x * 1.33))
}

/// The envelope's times and levels for the current knob positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvelopeShape {
    /// Attack length `A = max(0.001, a²·4)` in envelope seconds.
    attack: f32,
    /// Decay length `D = d`.
    decay: f32,
    /// Sustain level `S = s`.
    sustain: f32,
    /// Release length `Rt = 0.001 + r³·10`.
    release: f32,
    /// Largest change of the held envelope per output frame (the 50 ms slew limit).
    slew: f32,
    /// Envelope seconds per output frame: `1/fs_src` in the original time base.
    seconds_per_frame: f32,
}

impl EnvelopeShape {
    /// Maps the normalised knob values (0–1) the way the original does.
    pub fn new(
        knobs: [f32; 4],
        time_base: EnvelopeTimeBase,
        source_rate: u32,
        output_rate: u32,
    ) -> Self {
        let [attack, decay, sustain, release] = knobs;
        let a = (0.0001 + attack).clamp(0.0, 1.0);
        let rate = match time_base {
            EnvelopeTimeBase::Original => source_rate,
            EnvelopeTimeBase::Seconds => output_rate,
        };
        let seconds_per_frame = 1.0 / rate as f32;
        Self {
            attack: (a * a * 4.0).max(0.001),
            decay,
            sustain,
            release: 0.001 + release * release * release * 10.0,
            slew: seconds_per_frame / 0.05,
            seconds_per_frame,
        }
    }

    /// The next level of a held voice `time` frames after its start, slew-limited from `previous`.
    #[inline(always)]
    pub fn held(&self, time: u32, previous: f32) -> f32 {
        let t = time as f32 * self.seconds_per_frame;
        let target = if t < self.attack {
            sqrt_curve(t / self.attack)
        } else if self.decay > 0.0 && t < self.attack + self.decay {
            let left = 1.0 - (t - self.attack) / self.decay;
            self.sustain + (1.0 - self.sustain) * left * left
        } else {
            self.sustain
        };
        target.clamp(previous - self.slew, previous + self.slew)
    }

    /// Whether a held voice at `time` with level `env` has settled on the sustain level, so that
    /// every later frame while held has exactly that level.
    pub fn settled(&self, time: u32, env: f32) -> bool {
        env == self.sustain && time as f32 * self.seconds_per_frame >= self.attack + self.decay
    }

    /// The level of a released voice `since` frames after its release, from the level `frozen`
    /// it had then; 0 or less means the voice is done. Not slew-limited, as in the original.
    #[inline(always)]
    pub fn released(&self, since: u32, frozen: f32) -> f32 {
        let t = since as f32 * self.seconds_per_frame;
        let left = (1.0 - t / self.release).clamp(0.0, 1.0);
        left * left * frozen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: EnvelopeTimeBase = EnvelopeTimeBase::Original;

    /// Frames until a held envelope at knob values `knobs` first reaches `level`.
    fn frames_to_reach(shape: &EnvelopeShape, level: f32) -> u32 {
        let mut env = 0.0;
        (0..1_000_000)
            .find(|&time| {
                env = shape.held(time, env);
                env >= level
            })
            .unwrap()
    }

    #[test]
    fn attack_at_half_knob_lasts_a_third_of_its_formula_at_48k() {
        // §16: attack at knob 0.5 lasts 0.333 s at 48 kHz, the formula says 1.0 s.
        let shape = EnvelopeShape::new([0.5, 0.5, 1.0, 0.5], ORIGINAL, 16000, 48000);
        let frames = frames_to_reach(&shape, 0.999);
        let seconds = frames as f32 / 48000.0;
        assert!((seconds - 0.3334).abs() < 0.002, "{seconds}");
    }

    #[test]
    fn seconds_time_base_takes_the_formula_at_its_word() {
        let shape = EnvelopeShape::new(
            [0.5, 0.5, 1.0, 0.5],
            EnvelopeTimeBase::Seconds,
            16000,
            48000,
        );
        let seconds = frames_to_reach(&shape, 0.999) as f32 / 48000.0;
        assert!((seconds - 1.0).abs() < 0.005, "{seconds}");
    }

    #[test]
    fn slew_limit_makes_the_shortest_attack_800_frames() {
        let shape = EnvelopeShape::new([0.0, 0.0, 1.0, 0.0], ORIGINAL, 16000, 48000);
        let frames = frames_to_reach(&shape, 0.9999);
        assert!((798..=800).contains(&frames), "{frames}");
    }

    #[test]
    fn release_at_half_knob_lasts_0_417_seconds_at_48k() {
        let shape = EnvelopeShape::new([0.5; 4], ORIGINAL, 16000, 48000);
        let frames = (0..)
            .find(|&since| shape.released(since, 1.0) <= 0.0)
            .unwrap();
        let seconds = frames as f32 / 48000.0;
        assert!((seconds - 0.417).abs() < 0.001, "{seconds}");
    }

    #[test]
    fn decay_falls_to_sustain() {
        let shape = EnvelopeShape::new([0.0, 0.3, 0.25, 0.5], ORIGINAL, 16000, 48000);
        let mut env = 0.0;
        for time in 0..48000 {
            env = shape.held(time, env);
        }
        assert!((env - 0.25).abs() < 1e-6, "{env}");
    }

    #[test]
    fn the_square_root_curve_matches_the_original_points() {
        assert_eq!(sqrt_curve(0.0), 0.0);
        assert!((sqrt_curve(0.5) - 0.72125).abs() < 1e-5);
        assert!((sqrt_curve(1.0) - 1.0).abs() < 1e-6);
    }
}
