//! The memory of one causal conv in the generator: its last inputs for every batch row in a
//! ring of slots, which is what Magenta keeps in two FIFO queues per layer. Zero-filled slots
//! stand for the zero history before the first sample. It never computes anything.

/// Values per 4 KiB page.
const PAGE_VALUES: usize = 1024;

/// The last few inputs of one causal conv for every batch row: `slots` entries of `slot_len`
/// values, entry `time mod slots` holding the input of that time.
#[derive(Debug)]
pub struct History {
    slots: usize,
    slot_len: usize,
    values: Vec<f32>,
}

impl History {
    /// Zero history, its memory touched now rather than page by page by the first steps (whose
    /// page faults would wait on each other in generators running side by side).
    pub fn new(slots: usize, slot_len: usize) -> Self {
        let mut values = vec![0.0; slots * slot_len];
        for page in values.chunks_mut(PAGE_VALUES) {
            page[0] = std::hint::black_box(0.0);
        }
        Self {
            slots,
            slot_len,
            values,
        }
    }

    /// The input recorded `lag` steps before `time` (1 ≤ lag ≤ slots); zeros before time 0,
    /// because that slot has not been written yet.
    pub fn past(&self, time: usize, lag: usize) -> &[f32] {
        let slot = (time + self.slots - lag) % self.slots;
        &self.values[slot * self.slot_len..(slot + 1) * self.slot_len]
    }

    /// Stores the input of `time`, replacing the one of `time − slots`.
    pub fn record(&mut self, time: usize, input: &[f32]) {
        if self.slots > 0 {
            let slot = time % self.slots;
            self.values[slot * self.slot_len..(slot + 1) * self.slot_len].copy_from_slice(input);
        }
    }

    pub fn clear(&mut self) {
        self.values.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_past_is_zero_until_written_then_lags_by_whole_steps() {
        // A dilation-2 conv with 3 taps keeps 4 slots of 2 values (two batch rows).
        let mut history = History::new(4, 2);
        for time in 0..10 {
            for lag in 1..=4 {
                let expected = if lag > time {
                    [0.0, 0.0]
                } else {
                    let t = (time - lag) as f32;
                    [t, -t]
                };
                assert_eq!(history.past(time, lag), expected, "time {time} lag {lag}");
            }
            history.record(time, &[time as f32, -(time as f32)]);
        }
        history.clear();
        assert_eq!(history.past(10, 1), [0.0, 0.0]);
    }

    #[test]
    fn a_one_tap_conv_keeps_nothing() {
        let mut history = History::new(0, 3);
        history.record(5, &[1.0, 2.0, 3.0]);
        assert!(history.values.is_empty());
    }
}
