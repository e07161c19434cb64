//! How hard a key is struck becomes how loud its note sounds: the velocity curves the settings
//! offer. It only maps numbers; it never reads settings or events.

/// A curve from MIDI velocity to note gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VelocityCurve {
    /// velocity/127, as the original plays.
    #[default]
    Linear,
    /// (velocity/127)^0.5: louder for soft playing.
    Soft,
    /// (velocity/127)^2: soft playing stays quieter.
    Hard,
    /// Every note at this velocity, 1–127, however hard it is struck.
    Fixed(u8),
}

impl VelocityCurve {
    /// The gain 0–1 of a note struck at `velocity` (1–127; higher counts as 127). Velocity 0 is a
    /// note-off on the wire and gives 0 on every curve, as does a fixed velocity of 0.
    pub fn gain(self, velocity: u8) -> f32 {
        if velocity == 0 {
            return 0.0;
        }
        let fraction = |velocity: u8| f32::from(velocity.min(127)) / 127.0;
        match self {
            Self::Linear => fraction(velocity),
            Self::Soft => fraction(velocity).sqrt(),
            Self::Hard => fraction(velocity).powi(2),
            Self::Fixed(fixed) => fraction(fixed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURVES: [VelocityCurve; 4] = [
        VelocityCurve::Linear,
        VelocityCurve::Soft,
        VelocityCurve::Hard,
        VelocityCurve::Fixed(100),
    ];

    #[test]
    fn every_curve_is_silent_at_zero_and_full_at_the_top() {
        for curve in CURVES {
            assert_eq!(curve.gain(0), 0.0, "{curve:?}");
        }
        for curve in &CURVES[..3] {
            assert_eq!(curve.gain(127), 1.0, "{curve:?}");
            assert_eq!(curve.gain(255), 1.0, "{curve:?}");
        }
        assert_eq!(VelocityCurve::default(), VelocityCurve::Linear);
    }

    #[test]
    fn curves_bend_the_middle_as_named() {
        let linear = VelocityCurve::Linear.gain(64);
        assert_eq!(linear, 64.0 / 127.0);
        assert!((VelocityCurve::Soft.gain(64) - linear.sqrt()).abs() < 1e-6);
        assert!((VelocityCurve::Hard.gain(64) - linear * linear).abs() < 1e-6);
        assert!(VelocityCurve::Soft.gain(20) > VelocityCurve::Linear.gain(20));
        assert!(VelocityCurve::Hard.gain(20) < VelocityCurve::Linear.gain(20));
    }

    #[test]
    fn a_fixed_velocity_ignores_how_hard_the_key_is_struck() {
        let fixed = VelocityCurve::Fixed(100);
        assert_eq!(fixed.gain(1), 100.0 / 127.0);
        assert_eq!(fixed.gain(127), 100.0 / 127.0);
        assert_eq!(VelocityCurve::Fixed(0).gain(90), 0.0);
    }
}
