//! Choosing each generated sample (spec §4.3): softmax of the logits, a float32 running sum as
//! the CDF, and the smallest class whose CDF reaches a uniform draw (NumPy's left
//! `searchsorted`), plus the per-note seeds of the uniform streams. It never touches the
//! network.

use super::mulaw::CLASSES;

/// The class for one row of `logits` and a uniform `draw` in [0, 1).
///
/// When float32 rounding leaves the CDF's last value below `draw`, Magenta returns index 256
/// (audio 1.022, out of range); here the last class, 255, is returned instead. That case has a
/// probability below about 1e-5 per sample and only moves the draw to the nearest class.
pub fn sample_class(logits: &[f32], draw: f64) -> usize {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut exps = [0.0f32; CLASSES];
    let mut sum = 0.0f32;
    for (e, &logit) in exps.iter_mut().zip(logits) {
        *e = (logit - max).exp();
        sum += *e;
    }
    let mut cdf = 0.0f32;
    for (class, e) in exps.iter().enumerate() {
        cdf += e / sum;
        if f64::from(cdf) >= draw {
            return class;
        }
    }
    CLASSES - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_picks_the_first_class_whose_cdf_reaches_it() {
        // Three equally likely classes, the rest impossible.
        let mut logits = [-1e30f32; CLASSES];
        logits[10] = 0.0;
        logits[20] = 0.0;
        logits[30] = 0.0;
        // As with NumPy's searchsorted, a draw of exactly 0 picks class 0 even when it is
        // impossible (probability 2^-53).
        assert_eq!(sample_class(&logits, 0.0), 0);
        assert_eq!(sample_class(&logits, 1e-9), 10);
        assert_eq!(sample_class(&logits, 0.3), 10);
        assert_eq!(sample_class(&logits, 0.34), 20);
        assert_eq!(sample_class(&logits, 0.67), 30);
        assert_eq!(sample_class(&logits, 0.999_999), 30);
    }

    #[test]
    fn a_draw_beyond_the_rounded_cdf_gives_the_last_class() {
        let logits = [0.0f32; CLASSES];
        assert_eq!(sample_class(&logits, 1.0 + 1e-9), CLASSES - 1);
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        let mut logits = [-1e30f32; CLASSES];
        logits[0] = 0.0;
        logits[1] = 2f32.ln();
        let mut rng = super::super::rng::SplitMix64::new(3);
        let ones = (0..30_000)
            .filter(|_| sample_class(&logits, rng.next_f64()) == 1)
            .count();
        // Expect 2/3 of 30 000 = 20 000; 5 standard deviations are about 400.
        assert!((19_600..20_400).contains(&ones), "{ones}");
    }
}
