//! 8-bit mu-law (mu = 255) exactly as Magenta computes it in float32: the quantiser that turns
//! audio into levels `q` in [-128, 128], the decoder's input scaling `q / 128`, and the inverse
//! that turns a sampled class back into audio. It owns the arithmetic order (which decides
//! which side of a level boundary a sample falls on) and never clamps or normalises audio.

/// Number of output classes of the decoder; class `c` is level `q = c - 128`.
pub const CLASSES: usize = 256;

/// Offset between a class index and its level.
const CLASS_OFFSET: i32 = 128;

/// The quantised level `q = floor(128 · sign(x) · ln(1 + 255|x|) / ln 256)`.
///
/// For x in [-1, 1] the result is in [-128, 128] (128 only for x = 1.0 exactly); larger inputs
/// give larger levels, as in Magenta. NaN maps to 0.
pub fn mu_law(x: f32) -> i32 {
    // Magenta: tf.sign(x) * tf.log(1 + mu * tf.abs(x)) / np.log(1 + mu), floor(out * 128),
    // each op rounded to float32; ln 256 is a float64 constant converted to float32.
    let ln_256 = 256f64.ln() as f32;
    let sign = if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    };
    let companded = sign * (1.0 + 255.0 * x.abs()).ln() / ln_256;
    (companded * 128.0).floor() as i32
}

/// What both the encoder and the decoder see for an audio sample: `mu_law(x) / 128`.
pub fn network_input(x: f32) -> f32 {
    mu_law(x) as f32 / 128.0
}

/// The audio value of level `q` (Magenta's `inv_mu_law_numpy`): `y = (q + 0.5) · 2 / 256`,
/// `a = sign(y) / 255 · (256^|y| − 1)`, and exactly 0 for q = 0.
pub fn inv_mu_law(q: i32) -> f32 {
    if q == 0 {
        return 0.0;
    }
    let level = q as f32;
    let y = (level + 0.5) * 2.0 / 256.0;
    let sign = if y > 0.0 { 1.0f32 } else { -1.0 };
    sign / 255.0 * (256f32.powf(y.abs()) - 1.0)
}

/// The level of output class `class` (0..256): `class − 128`.
pub fn class_level(class: usize) -> i32 {
    // Classes come from our own sampler (< 256), so the conversion cannot wrap.
    class as i32 - CLASS_OFFSET
}

/// The training label of level `q`: `q + 128` (256 only for x = 1.0 exactly).
pub fn level_class(q: i32) -> i32 {
    q + CLASS_OFFSET
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_levels_match_magenta() {
        let cases: [(f32, i32); 10] = [
            (-1.0, -128),
            (-0.5, -113),
            (-1e-4, -1),
            (0.0, 0),
            (1e-4, 0),
            (0.01, 29),
            (0.1, 75),
            (0.5, 112),
            (32767.0 / 32768.0, 127),
            (1.0, 128),
        ];
        for (x, q) in cases {
            assert_eq!(mu_law(x), q, "mu_law({x})");
        }
        assert_eq!(mu_law(-0.0), 0);
        assert_eq!(mu_law(f32::NAN), 0);
    }

    #[test]
    fn known_inverse_values_match_magenta() {
        let cases: [(i32, f32); 7] = [
            (127, 0.978488),
            (-128, -0.978488),
            (1, 2.63296e-4),
            (-1, -8.58714e-5),
            (64, 0.0601975),
            (128, 1.021983),
            (0, 0.0),
        ];
        for (q, a) in cases {
            let got = inv_mu_law(q);
            assert!(
                (got - a).abs() <= 2e-6 * a.abs().max(1e-3),
                "inv_mu_law({q}) = {got}, expected {a}"
            );
        }
    }

    #[test]
    fn every_16_bit_sample_gets_the_exact_level() {
        // `128 · sign(x) · ln(1 + 255|x|) / ln 256`, floored, in double precision: TensorFlow
        // gives this exact level for all 65 536 samples, and so must we.
        for sample in i16::MIN..=i16::MAX {
            let x = f64::from(sample) / 32768.0;
            let exact = 128.0 * x.signum() * (255.0 * x.abs()).ln_1p() / 256f64.ln();
            assert_eq!(
                f64::from(mu_law(sample as f32 / 32768.0)),
                exact.floor(),
                "sample {sample}"
            );
        }
    }

    #[test]
    fn every_level_survives_the_round_trip() {
        for q in -128..=128 {
            assert_eq!(mu_law(inv_mu_law(q)), q, "level {q}");
        }
    }

    #[test]
    fn classes_and_levels_are_offset_by_128() {
        assert_eq!(class_level(0), -128);
        assert_eq!(class_level(255), 127);
        assert_eq!(level_class(-128), 0);
        assert_eq!(level_class(mu_law(1.0)), 256);
        for class in 0..CLASSES {
            let audio = inv_mu_law(class_level(class));
            assert_eq!(level_class(mu_law(audio)), class as i32);
            assert_eq!(network_input(audio), class_level(class) as f32 / 128.0);
        }
    }
}
