//! The model's only source of randomness: SplitMix64 (Steele, Lea & Flood 2014), a 64-bit
//! counter passed through a bijective mixer. Small, fast, passes BigCrush, and every stream is
//! fully determined by its seed, so results never depend on threads or batch layout. Also the
//! FNV-1a hash used to derive seeds from names and embeddings. Nothing here is cryptographic.

/// SplitMix64's counter increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A SplitMix64 stream.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    counter: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { counter: seed }
    }

    /// The stream of `seed` after `index` values: its next value is the stream's value `index`.
    pub fn at(seed: u64, index: usize) -> Self {
        Self {
            counter: seed.wrapping_add((index as u64).wrapping_mul(GAMMA)),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(GAMMA);
        mix(self.counter)
    }

    /// A uniform double in [0, 1) with 53 random bits (like NumPy's `rand`).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform float in [-limit, limit).
    pub fn symmetric(&mut self, limit: f32) -> f32 {
        ((2.0 * self.next_f64() - 1.0) * f64::from(limit)) as f32
    }
}

/// SplitMix64's output function (a bijection of u64), also good for combining seeds.
pub fn mix(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a over `bytes`.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of the reference C implementation seeded with 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn a_stream_can_start_at_any_index() {
        let mut stream = SplitMix64::new(42);
        for index in 0..5 {
            let expected = stream.next_u64();
            assert_eq!(
                SplitMix64::at(42, index).next_u64(),
                expected,
                "value {index}"
            );
        }
    }

    #[test]
    fn uniforms_stay_in_range() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..10_000 {
            let u = rng.next_f64();
            assert!((0.0..1.0).contains(&u));
            let s = rng.symmetric(0.5);
            assert!((-0.5..0.5).contains(&s));
        }
    }

    #[test]
    fn fnv1a_matches_known_values() {
        assert_eq!(fnv1a(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
