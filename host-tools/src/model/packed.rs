//! The generator's matrix products: weights packed once into panels of 16 output columns
//! (`[panel][input][16]`, contiguous, so a step streams each weight exactly once), multiplied
//! against a batch of activations stored channel-major (`[channel, batch]`). Panels are split
//! across rayon's threads; each thread owns the output rows of its panels. The inner tile is
//! AVX-512 where the CPU has it (a panel row is one register), else AVX2+FMA (two), else plain
//! loops with the same order of operations per element; the two vector kernels make the same
//! fused multiply-adds lane by lane, so their results are equal bit for bit. Every output element is summed over the inputs in the same order whatever the batch
//! size or its place in the batch, so a note's numbers never depend on its batch. Nothing here
//! allocates during a product.

use rayon::prelude::*;

/// Output columns per panel: two AVX2 registers.
const PANEL: usize = 16;

/// Batch rows per tile of the AVX2 and portable kernels: 6 × 2 accumulators fill 12 of the 16
/// AVX2 registers.
const TILE_ROWS: usize = 6;

/// Batch rows per tile of the AVX-512 kernel: 12 accumulators of its 32 registers, enough
/// independent multiply-adds to keep both FMA units busy through their latency.
const WIDE_TILE_ROWS: usize = 12;

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
    let kernel = Kernel::chosen();
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

/// The tile kernel the products use (see `HOST_TOOLS_KERNEL`): `avx512`, `avx2` or `portable`.
pub fn tile_kernel() -> &'static str {
    Kernel::chosen().name()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Kernel {
    /// The kernel every product uses: the fastest this CPU runs, or the one `HOST_TOOLS_KERNEL`
    /// names (`avx512`, `avx2` or `portable`; for comparing and testing them), if the CPU runs
    /// it. Decided once.
    fn chosen() -> Self {
        static CHOSEN: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let best = Self::detect();
            let Ok(name) = std::env::var("HOST_TOOLS_KERNEL") else {
                return best;
            };
            match Self::runnable()
                .into_iter()
                .find(|kernel| kernel.name() == name)
            {
                Some(kernel) => kernel,
                None => {
                    tracing::warn!(
                        "HOST_TOOLS_KERNEL={name}: this CPU runs {}; using {}",
                        Self::runnable()
                            .iter()
                            .map(|kernel| kernel.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                        best.name()
                    );
                    best
                }
            }
        })
    }

    /// Every kernel this CPU runs, slowest first.
    fn runnable() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                kernels.push(Kernel::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                kernels.push(Kernel::Avx512);
            }
        }
        kernels
    }

    /// Batch rows per tile.
    fn tile_rows(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => WIDE_TILE_ROWS,
            _ => TILE_ROWS,
        }
    }

    fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// The fastest kernel this CPU runs.
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            return Self::Avx512;
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Self::Avx2;
        }
        Self::Portable
    }
}

type Tile = [[f32; PANEL]; WIDE_TILE_ROWS];

/// One panel against every batch row, the kernel's tile rows at a time; `out` is the panel's rows
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
    let mut tile: Tile = [[0.0; PANEL]; WIDE_TILE_ROWS];
    let mut first = 0;
    while first < batch {
        let rows = kernel.tile_rows().min(batch - first);
        match rows {
            1 => tile_product::<1, S>(kernel, panel, segments, batch, first, &mut tile),
            2 => tile_product::<2, S>(kernel, panel, segments, batch, first, &mut tile),
            3 => tile_product::<3, S>(kernel, panel, segments, batch, first, &mut tile),
            4 => tile_product::<4, S>(kernel, panel, segments, batch, first, &mut tile),
            5 => tile_product::<5, S>(kernel, panel, segments, batch, first, &mut tile),
            6 => tile_product::<6, S>(kernel, panel, segments, batch, first, &mut tile),
            7 => tile_product::<7, S>(kernel, panel, segments, batch, first, &mut tile),
            8 => tile_product::<8, S>(kernel, panel, segments, batch, first, &mut tile),
            9 => tile_product::<9, S>(kernel, panel, segments, batch, first, &mut tile),
            10 => tile_product::<10, S>(kernel, panel, segments, batch, first, &mut tile),
            11 => tile_product::<11, S>(kernel, panel, segments, batch, first, &mut tile),
            _ => {
                tile_product::<WIDE_TILE_ROWS, S>(kernel, panel, segments, batch, first, &mut tile)
            }
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
        // SAFETY: `Kernel::chosen` picks only kernels the CPU runs; `product` checked that the
        // segments hold exactly `panel.len() / 16` rows of `batch` values and that
        // `first + ROWS <= batch`.
        Kernel::Avx512 => unsafe { avx512::tile::<ROWS, S>(panel, segments, batch, first, tile) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2 => unsafe { avx2::tile::<ROWS, S>(panel, segments, batch, first, tile) },
        Kernel::Portable => portable_tile::<ROWS, S>(panel, segments, batch, first, tile),
    }
}

/// Calls `step` with each input row in order: its 16 panel weights and its batch values from
/// column `first` on. The walk every tile kernel makes; inlined into each, so the vector kernels'
/// closures run with their target features.
#[inline(always)]
fn each_input_row<S: Segments + ?Sized>(
    panel: &[f32],
    segments: &S,
    batch: usize,
    first: usize,
    mut step: impl FnMut(&[f32], &[f32]),
) {
    let mut weights = panel.chunks_exact(PANEL);
    for index in 0..segments.count() {
        for (x, w) in segments
            .segment(index)
            .chunks_exact(batch)
            .zip(&mut weights)
        {
            step(w, &x[first..]);
        }
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
    each_input_row(panel, segments, batch, first, |w, x| {
        for (row_sums, &value) in sums.iter_mut().zip(&x[..ROWS]) {
            for (sum, &weight) in row_sums.iter_mut().zip(w) {
                *sum += value * weight;
            }
        }
    });
    tile[..ROWS].copy_from_slice(&sums);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps,
        _mm256_storeu_ps,
    };

    use super::{each_input_row, Segments, Tile};

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
        // SAFETY: the loads read the 16 weights of `w`; the rest is register arithmetic.
        unsafe {
            let mut sums: [[__m256; 2]; ROWS] = [[_mm256_setzero_ps(); 2]; ROWS];
            each_input_row(panel, segments, batch, first, |w, x| {
                let low = _mm256_loadu_ps(w.as_ptr());
                let high = _mm256_loadu_ps(w.as_ptr().add(8));
                for (row_sums, value) in sums.iter_mut().zip(&x[..ROWS]) {
                    let value = _mm256_broadcast_ss(value);
                    row_sums[0] = _mm256_fmadd_ps(value, low, row_sums[0]);
                    row_sums[1] = _mm256_fmadd_ps(value, high, row_sums[1]);
                }
            });
            for (row, row_sums) in sums.iter().enumerate() {
                _mm256_storeu_ps(tile[row].as_mut_ptr(), row_sums[0]);
                _mm256_storeu_ps(tile[row].as_mut_ptr().add(8), row_sums[1]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };

    use super::{each_input_row, Segments, Tile};

    /// # Safety
    /// The CPU must support AVX-512F; the segments must hold `panel.len() / 16` rows of `batch`
    /// values in all, and `first + ROWS <= batch`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile<const ROWS: usize, S: Segments + ?Sized>(
        panel: &[f32],
        segments: &S,
        batch: usize,
        first: usize,
        tile: &mut Tile,
    ) {
        // SAFETY: the loads read the 16 weights of `w`; the rest is register arithmetic.
        unsafe {
            let mut sums: [__m512; ROWS] = [_mm512_setzero_ps(); ROWS];
            each_input_row(panel, segments, batch, first, |w, x| {
                let row_weights = _mm512_loadu_ps(w.as_ptr());
                for (sum, &value) in sums.iter_mut().zip(&x[..ROWS]) {
                    *sum = _mm512_fmadd_ps(_mm512_set1_ps(value), row_weights, *sum);
                }
            });
            for (row, sum) in sums.iter().enumerate() {
                _mm512_storeu_ps(tile[row].as_mut_ptr(), *sum);
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
        for kernel in Kernel::runnable() {
            // Ragged panels, every tile height, several segments.
            check(&[5, 7], 21, 13, kernel);
            check(&[16], 16, 1, kernel);
            check(&[3, 3, 3], 40, 6, kernel);
        }
    }

    /// Both vector kernels make the same fused multiply-adds in the same order, lane by lane.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_kernel_equals_the_avx2_kernel_bit_for_bit() {
        if Kernel::detect() != Kernel::Avx512 {
            eprintln!("this CPU has no AVX-512: nothing to compare");
            return;
        }
        let (inputs, outputs, batch) = (70, 37, 13);
        let packed = PackedMatrix::pack(&values(inputs * outputs, 6), inputs, outputs);
        let x = values(inputs * batch, 7);
        let segments = [&x[..30 * batch], &x[30 * batch..]];
        let run = |kernel| {
            let mut out = values(outputs * batch, 8);
            for (panel, out) in packed
                .panels
                .chunks(inputs * PANEL)
                .zip(out.chunks_mut(PANEL * batch))
            {
                panel_product(kernel, panel, &segments[..], batch, out, true);
            }
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        assert_eq!(run(Kernel::Avx512), run(Kernel::Avx2));
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
