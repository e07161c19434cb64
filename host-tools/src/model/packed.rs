//! The generator's matrix products: weights packed once into panels of 16 output columns
//! (`[panel][input][16]`, contiguous, so a step streams each weight exactly once), multiplied
//! against a batch of activations stored channel-major (`[channel, batch]`). Panels are split
//! across rayon's threads; each thread owns the output rows of its panels. The inner tile is
//! AVX2+FMA where the CPU has it, else plain loops with the same order of operations per
//! element. Every output element is summed over the inputs in the same order whatever the batch
//! size or its place in the batch, so a note's numbers never depend on its batch. Nothing here
//! allocates during a product.

use rayon::prelude::*;

/// Output columns per panel: two AVX2 registers.
const PANEL: usize = 16;

/// Batch rows per tile: 6 × 2 accumulators fill 12 of the 16 AVX2 registers.
const TILE_ROWS: usize = 6;

/// Multiply-adds per parallel task, so that small products stay on one thread.
const TASK_WORK: usize = 1 << 16;

/// A `[inputs, outputs]` matrix in panel order, the last panel padded with zero columns.
#[derive(Debug, Clone)]
pub struct PackedMatrix {
    inputs: usize,
    outputs: usize,
    panels: Vec<f32>,
}

impl PackedMatrix {
    /// Packs a row-major `[inputs, outputs]` matrix.
    pub fn pack(weight: &[f32], inputs: usize, outputs: usize) -> Self {
        assert_eq!(weight.len(), inputs * outputs, "weight size");
        let panel_count = outputs.div_ceil(PANEL);
        let mut panels = vec![0.0; panel_count * inputs * PANEL];
        for (panel, packed) in panels.chunks_exact_mut(inputs * PANEL).enumerate() {
            let first = panel * PANEL;
            let width = PANEL.min(outputs - first);
            for (row, packed_row) in packed.chunks_exact_mut(PANEL).enumerate() {
                let start = row * outputs + first;
                packed_row[..width].copy_from_slice(&weight[start..start + width]);
            }
        }
        Self {
            inputs,
            outputs,
            panels,
        }
    }
}

/// The activations of a product: consecutive blocks of input rows, each `[rows, batch]`
/// channel-major, read in place (a layer's past inputs and its current one).
pub trait Segments: Sync {
    fn count(&self) -> usize;
    fn segment(&self, index: usize) -> &[f32];
}

impl Segments for [&[f32]] {
    fn count(&self) -> usize {
        self.len()
    }

    fn segment(&self, index: usize) -> &[f32] {
        self[index]
    }
}

/// `out[n, b] = Σ_k W[k, n] · x[k, b]`, added to `out` when `accumulate`. `x` is the
/// concatenation of `segments`, `[W.inputs, batch]`; `out` is `[W.outputs, batch]`.
pub fn product<S: Segments + ?Sized>(
    weights: &PackedMatrix,
    segments: &S,
    batch: usize,
    out: &mut [f32],
    accumulate: bool,
) {
    let rows: usize = (0..segments.count())
        .map(|index| segments.segment(index).len() / batch)
        .sum();
    assert_eq!(
        rows, weights.inputs,
        "activations have {rows} rows for {} inputs",
        weights.inputs
    );
    for index in 0..segments.count() {
        assert_eq!(segments.segment(index).len() % batch, 0, "ragged segment");
    }
    assert_eq!(out.len(), weights.outputs * batch, "output size");
    let kernel = Kernel::detect();
    let panel_len = weights.inputs * PANEL;
    let work_per_panel = panel_len * batch;
    let task = |(panel, out): (&[f32], &mut [f32])| {
        panel_product(kernel, panel, segments, batch, out, accumulate);
    };
    let pairs = weights
        .panels
        .par_chunks(panel_len)
        .zip(out.par_chunks_mut(PANEL * batch));
    if work_per_panel * weights.outputs.div_ceil(PANEL) < 2 * TASK_WORK {
        weights
            .panels
            .chunks(panel_len)
            .zip(out.chunks_mut(PANEL * batch))
            .for_each(task);
    } else {
        pairs
            .with_min_len(TASK_WORK.div_ceil(work_per_panel))
            .for_each(task);
    }
}

#[derive(Debug, Clone, Copy)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Kernel {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Self::Avx2;
        }
        Self::Portable
    }
}

type Tile = [[f32; PANEL]; TILE_ROWS];

/// One panel against every batch row, `TILE_ROWS` rows at a time; `out` is the panel's rows
/// of the output, `[columns ≤ 16, batch]`.
fn panel_product<S: Segments + ?Sized>(
    kernel: Kernel,
    panel: &[f32],
    segments: &S,
    batch: usize,
    out: &mut [f32],
    accumulate: bool,
) {
    let columns = out.len() / batch;
    let mut tile: Tile = [[0.0; PANEL]; TILE_ROWS];
    let mut first = 0;
    while first < batch {
        let rows = TILE_ROWS.min(batch - first);
        match rows {
            1 => tile_product::<1, S>(kernel, panel, segments, batch, first, &mut tile),
            2 => tile_product::<2, S>(kernel, panel, segments, batch, first, &mut tile),
            3 => tile_product::<3, S>(kernel, panel, segments, batch, first, &mut tile),
            4 => tile_product::<4, S>(kernel, panel, segments, batch, first, &mut tile),
            5 => tile_product::<5, S>(kernel, panel, segments, batch, first, &mut tile),
            _ => tile_product::<TILE_ROWS, S>(kernel, panel, segments, batch, first, &mut tile),
        }
        for (column, out_row) in out.chunks_exact_mut(batch).take(columns).enumerate() {
            let targets = &mut out_row[first..first + rows];
            for (target, sums) in targets.iter_mut().zip(&tile) {
                *target = if accumulate {
                    *target + sums[column]
                } else {
                    sums[column]
                };
            }
        }
        first += rows;
    }
}

/// `tile[r][j] = Σ_k x[k, first + r] · panel[k][j]` for `ROWS` batch rows.
fn tile_product<const ROWS: usize, S: Segments + ?Sized>(
    kernel: Kernel,
    panel: &[f32],
    segments: &S,
    batch: usize,
    first: usize,
    tile: &mut Tile,
) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::detect` saw AVX2 and FMA; `product` checked that the segments hold
        // exactly `panel.len() / 16` rows of `batch` values and `first + ROWS <= batch`.
        Kernel::Avx2 => unsafe { avx2::tile::<ROWS, S>(panel, segments, batch, first, tile) },
        Kernel::Portable => portable_tile::<ROWS, S>(panel, segments, batch, first, tile),
    }
}

fn portable_tile<const ROWS: usize, S: Segments + ?Sized>(
    panel: &[f32],
    segments: &S,
    batch: usize,
    first: usize,
    tile: &mut Tile,
) {
    let mut sums = [[0.0f32; PANEL]; ROWS];
    let mut weights = panel.chunks_exact(PANEL);
    for index in 0..segments.count() {
        for x in segments.segment(index).chunks_exact(batch) {
            let Some(w) = weights.next() else { return };
            for (row_sums, &value) in sums.iter_mut().zip(&x[first..first + ROWS]) {
                for (sum, &weight) in row_sums.iter_mut().zip(w) {
                    *sum += value * weight;
                }
            }
        }
    }
    tile[..ROWS].copy_from_slice(&sums);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps,
        _mm256_storeu_ps,
    };

    use super::{Segments, Tile, PANEL};

    /// # Safety
    /// The CPU must support AVX2 and FMA; the segments must hold `panel.len() / 16` rows of
    /// `batch` values in all, and `first + ROWS <= batch`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile<const ROWS: usize, S: Segments + ?Sized>(
        panel: &[f32],
        segments: &S,
        batch: usize,
        first: usize,
        tile: &mut Tile,
    ) {
        // SAFETY: reads stay inside `panel` (one 16-wide row per input row, as many as the
        // segments hold) and inside each segment (column first + r < batch of each row).
        unsafe {
            let mut sums: [[__m256; 2]; ROWS] = [[_mm256_setzero_ps(); 2]; ROWS];
            let mut weights = panel.as_ptr();
            for index in 0..segments.count() {
                let segment = segments.segment(index);
                let mut x = segment.as_ptr().add(first);
                for _ in 0..segment.len() / batch {
                    let low = _mm256_loadu_ps(weights);
                    let high = _mm256_loadu_ps(weights.add(8));
                    for (row, row_sums) in sums.iter_mut().enumerate() {
                        let value = _mm256_broadcast_ss(&*x.add(row));
                        row_sums[0] = _mm256_fmadd_ps(value, low, row_sums[0]);
                        row_sums[1] = _mm256_fmadd_ps(value, high, row_sums[1]);
                    }
                    weights = weights.add(PANEL);
                    x = x.add(batch);
                }
            }
            for (row, row_sums) in sums.iter().enumerate() {
                _mm256_storeu_ps(tile[row].as_mut_ptr(), row_sums[0]);
                _mm256_storeu_ps(tile[row].as_mut_ptr().add(8), row_sums[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(count: usize, seed: u64) -> Vec<f32> {
        let mut rng = super::super::rng::SplitMix64::new(seed);
        (0..count).map(|_| rng.symmetric(1.0)).collect()
    }

    /// Checks a product of `inputs` rows split into segments of the given sizes.
    fn check(inputs: &[usize], outputs: usize, batch: usize, kernel: Kernel) {
        let total: usize = inputs.iter().sum();
        let weight = values(total * outputs, 1);
        let packed = PackedMatrix::pack(&weight, total, outputs);
        let x = values(total * batch, 2);
        let mut segments = Vec::new();
        let mut start = 0;
        for rows in inputs {
            segments.push(&x[start * batch..(start + rows) * batch]);
            start += rows;
        }
        let mut out = values(outputs * batch, 3);
        let before = out.clone();
        // Through the chosen kernel, with accumulation, single-threaded.
        for (panel, out) in packed
            .panels
            .chunks(total * PANEL)
            .zip(out.chunks_mut(PANEL * batch))
        {
            panel_product(kernel, panel, &segments[..], batch, out, true);
        }
        for n in 0..outputs {
            for b in 0..batch {
                let sum: f32 = (0..total)
                    .map(|k| weight[k * outputs + n] * x[k * batch + b])
                    .sum();
                let got = out[n * batch + b];
                let expected = before[n * batch + b] + sum;
                assert!(
                    (got - expected).abs() < 1e-4,
                    "{kernel:?} n {n} b {b}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn every_kernel_agrees_with_a_naive_product() {
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        if matches!(Kernel::detect(), Kernel::Avx2) {
            kernels.push(Kernel::Avx2);
        }
        for kernel in kernels {
            // Ragged panels, every tile height, several segments.
            check(&[5, 7], 21, 13, kernel);
            check(&[16], 16, 1, kernel);
            check(&[3, 3, 3], 40, 6, kernel);
        }
    }

    #[test]
    fn threaded_products_equal_the_single_threaded_ones_bit_for_bit() {
        let (inputs, outputs, batch) = (192, 200, 7);
        let weight = values(inputs * outputs, 4);
        let packed = PackedMatrix::pack(&weight, inputs, outputs);
        let x = values(inputs * batch, 5);
        let mut threaded = vec![0.0; outputs * batch];
        product(&packed, &[&x[..]][..], batch, &mut threaded, false);
        let mut alone = vec![0.0; outputs * batch];
        for (panel, out) in packed
            .panels
            .chunks(inputs * PANEL)
            .zip(alone.chunks_mut(PANEL * batch))
        {
            panel_product(Kernel::detect(), panel, &[&x[..]][..], batch, out, false);
        }
        assert_eq!(threaded, alone);
    }
}
