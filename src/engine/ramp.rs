//! A linear ramp towards a target over a fixed number of frames: how the original smooths the
//! master volume across one audio buffer.

#[derive(Debug, Clone)]
pub struct Ramp {
    value: f32,
    target: f32,
    step: f32,
    remaining: u32,
    span: u32,
}

impl Ramp {
    /// A ramp resting at `value` that reaches new targets in `span` frames.
    pub fn new(value: f32, span: u32) -> Self {
        Self {
            value,
            target: value,
            step: 0.0,
            remaining: 0,
            span: span.max(1),
        }
    }

    pub fn set_target(&mut self, target: f32) {
        if target != self.target || self.remaining > 0 {
            self.target = target;
            self.step = (target - self.value) / self.span as f32;
            self.remaining = self.span;
        }
    }

    /// Multiplies `samples` by the ramp, advancing it one frame per sample.
    pub fn apply(&mut self, samples: &mut [f32]) {
        if self.remaining == 0 {
            let gain = self.value;
            samples.iter_mut().for_each(|s| *s *= gain);
            return;
        }
        for sample in samples {
            *sample *= self.value;
            if self.remaining > 0 {
                self.value += self.step;
                self.remaining -= 1;
                if self.remaining == 0 {
                    self.value = self.target;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_linearly_over_the_span_starting_from_the_current_value() {
        let mut ramp = Ramp::new(1.0, 4);
        ramp.set_target(0.0);
        let mut samples = [1.0; 6];
        ramp.apply(&mut samples);
        assert_eq!(samples, [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
    }

    #[test]
    fn a_ramp_split_across_calls_is_the_same_ramp() {
        let mut whole = Ramp::new(0.2, 8);
        let mut split = whole.clone();
        whole.set_target(0.9);
        split.set_target(0.9);
        let mut a = [1.0; 12];
        whole.apply(&mut a);
        let mut b = [1.0; 12];
        let (first, second) = b.split_at_mut(5);
        split.apply(first);
        split.apply(second);
        assert_eq!(a, b);
    }
}
