//! The generator's matrix products: weights packed once into panels of 16 output columns
//! (`[panel][input][16]`, contiguous, so a step streams each weight exactly once), stored as
//! float32 or, to halve the bytes a step streams, bfloat16 or float16 ([`WeightFormat`]),
//! multiplied against a batch of float32 activations stored channel-major (`[channel, batch]`).
//! Panels are split across rayon's threads; each thread owns the output rows of its panels and
//! walks their inputs in blocks that stay in the L1 cache while every tile of batch rows reads
//! them. The tile is AVX-512 where the CPU has it (two panels side by side, a panel row one
//! register), else AVX2+FMA (one panel, two registers a row), else plain loops with the same
//! order of operations per element; 16-bit weights are widened to float32 exactly as they are
//! loaded and every sum is float32. The two vector kernels make the same fused multiply-adds
//! lane by lane, so their results are equal bit for bit. Every output element is summed over
//! the inputs in the same order whatever the batch size or its place in the batch, so a note's
//! numbers never depend on its batch. Nothing here allocates during a product.

use half::{bf16, f16};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Output columns per panel: two AVX2 registers.
const PANEL: usize = 16;

/// Batch rows per tile of the AVX2 and portable kernels: 6 × 2 accumulators fill 12 of the 16
/// AVX2 registers.
const TILE_ROWS: usize = 6;

/// Batch rows per tile of the AVX-512 kernel: 12 rows × 2 panels, 24 accumulators of its 32
/// registers, enough independent multiply-adds to keep both FMA units busy through their
/// latency.
#[cfg(target_arch = "x86_64")]
const WIDE_TILE_ROWS: usize = 12;

/// Multiply-adds per parallel task, so that small products stay on one thread.
const TASK_WORK: usize = 1 << 16;

/// How the generator stores its packed weights. The products always add in float32; 16-bit
/// weights are rounded once, to nearest, when packed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// float32: the checkpoint's numbers.
    #[default]
    F32,
    /// bfloat16: float32's range, 8 significant bits.
    Bf16,
    /// IEEE half: 11 significant bits, magnitudes up to 65 504.
    F16,
}

impl WeightFormat {
    pub const ALL: [WeightFormat; 3] = [WeightFormat::F32, WeightFormat::Bf16, WeightFormat::F16];

    /// `f32`, `bf16` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::Bf16 => "bf16",
            WeightFormat::F16 => "f16",
        }
    }

    /// Bytes per weight.
    pub fn bytes(self) -> usize {
        match self {
            WeightFormat::F32 => 4,
            WeightFormat::Bf16 | WeightFormat::F16 => 2,
        }
    }

    /// Whether every finite value of `weights` stays finite in this format.
    pub fn holds(self, weights: &[f32]) -> bool {
        self != WeightFormat::F16
            || weights
                .iter()
                .all(|w| !w.is_finite() || f16::from_f32(*w).is_finite())
    }
}

impl std::str::FromStr for WeightFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|format| format.name() == text)
            .ok_or_else(|| format!("unknown weight format {text:?}: expected f32, bf16 or f16"))
    }
}

/// A weight as a panel stores it, widened exactly to float32 for the sums.
trait PanelWeight: Copy + Default + Send + Sync {
    /// For the vector kernels' loads.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    const FORMAT: WeightFormat;
    fn narrow(value: f32) -> Self;
    fn widen(self) -> f32;
}

impl PanelWeight for f32 {
    const FORMAT: WeightFormat = WeightFormat::F32;
    fn narrow(value: f32) -> Self {
        value
    }
    fn widen(self) -> f32 {
        self
    }
}

impl PanelWeight for bf16 {
    const FORMAT: WeightFormat = WeightFormat::Bf16;
    fn narrow(value: f32) -> Self {
        bf16::from_f32(value)
    }
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

impl PanelWeight for f16 {
    const FORMAT: WeightFormat = WeightFormat::F16;
    fn narrow(value: f32) -> Self {
        f16::from_f32(value)
    }
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

/// A `[inputs, outputs]` matrix in panel order, the last panel padded with zero columns.
#[derive(Debug, Clone)]
pub struct PackedMatrix {
    inputs: usize,
    outputs: usize,
    panels: Panels,
}

#[derive(Debug, Clone)]
enum Panels {
    F32(Vec<f32>),
    Bf16(Vec<bf16>),
    F16(Vec<f16>),
}

impl PackedMatrix {
    /// Packs a row-major `[inputs, outputs]` matrix in `format`.
    pub fn pack(weight: &[f32], inputs: usize, outputs: usize, format: WeightFormat) -> Self {
        assert_eq!(weight.len(), inputs * outputs, "weight size");
        let panels = match format {
            WeightFormat::F32 => Panels::F32(panels(weight, inputs, outputs)),
            WeightFormat::Bf16 => Panels::Bf16(panels(weight, inputs, outputs)),
            WeightFormat::F16 => Panels::F16(panels(weight, inputs, outputs)),
        };
        Self {
            inputs,
            outputs,
            panels,
        }
    }
}

/// The panels of a row-major `[inputs, outputs]` matrix.
fn panels<W: PanelWeight>(weight: &[f32], inputs: usize, outputs: usize) -> Vec<W> {
    let panel_count = outputs.div_ceil(PANEL);
    let mut panels = vec![W::default(); panel_count * inputs * PANEL];
    for (panel, packed) in panels.chunks_exact_mut(inputs * PANEL).enumerate() {
        let first = panel * PANEL;
        let width = PANEL.min(outputs - first);
        for (row, packed_row) in packed.chunks_exact_mut(PANEL).enumerate() {
            let start = row * outputs + first;
            for (packed, &value) in packed_row.iter_mut().zip(&weight[start..start + width]) {
                *packed = W::narrow(value);
            }
        }
    }
    panels
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
    match &weights.panels {
        Panels::F32(panels) => panels_product(panels, weights, segments, batch, out, accumulate),
        Panels::Bf16(panels) => panels_product(panels, weights, segments, batch, out, accumulate),
        Panels::F16(panels) => panels_product(panels, weights, segments, batch, out, accumulate),
    }
}

/// [`product`] with the panels of `weights` in their stored type.
fn panels_product<W: PanelWeight, S: Segments + ?Sized>(
    panels: &[W],
    weights: &PackedMatrix,
    segments: &S,
    batch: usize,
    out: &mut [f32],
    accumulate: bool,
) {
    let kernel = Kernel::chosen();
    let panel_len = weights.inputs * PANEL;
    let group = kernel.panels_per_tile();
    let work_per_group = group * panel_len * batch;
    let task = |(panels, out): (&[W], &mut [f32])| {
        group_product(
            kernel,
            panels,
            weights.inputs,
            segments,
            batch,
            out,
            accumulate,
        );
    };
    if panel_len * batch * weights.outputs.div_ceil(PANEL) < 2 * TASK_WORK {
        panels
            .chunks(group * panel_len)
            .zip(out.chunks_mut(group * PANEL * batch))
            .for_each(task);
    } else {
        panels
            .par_chunks(group * panel_len)
            .zip(out.par_chunks_mut(group * PANEL * batch))
            .with_min_len(TASK_WORK.div_ceil(work_per_group))
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
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                kernels.push(Kernel::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                kernels.push(Kernel::Avx512);
            }
        }
        kernels
    }

    /// Panels a tile covers side by side: two (32 columns) for AVX-512, whose 32 registers
    /// hold 12 rows of both, so each activation loaded feeds two multiply-adds.
    fn panels_per_tile(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 2,
            _ => 1,
        }
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
        Self::runnable().pop().unwrap_or(Kernel::Portable)
    }
}

/// Batch rows whose sums a panel keeps on the stack while it walks the inputs block by block.
const ROW_CHUNK: usize = 64;

/// Inputs per block: a block of a panel's weights (8 KB in float32, 16 KB for the AVX-512
/// tile's two panels) stays in the L1 cache while every tile of the row chunk reads it.
const INPUT_BLOCK: usize = 128;

/// One or two neighbouring panels (as the kernel's tiles cover them) against every batch row;
/// `out` is their rows of the output, `[columns ≤ 32, batch]`. Rows go in chunks of up to 64
/// whose sums stay on the stack; each chunk walks the inputs a block at a time, every tile of
/// the chunk (its rows split evenly into the fewest tiles the kernel allows) continuing its
/// sums through the block, so that a block's weights are read from memory once per chunk. Each
/// sum still adds the inputs one by one in order, starting from zero.
fn group_product<W: PanelWeight, S: Segments + ?Sized>(
    kernel: Kernel,
    panels: &[W],
    inputs: usize,
    segments: &S,
    batch: usize,
    out: &mut [f32],
    accumulate: bool,
) {
    let columns = out.len() / batch;
    let (first_panel, second_panel) = panels.split_at(inputs * PANEL);
    let mut chunk_first = 0;
    while chunk_first < batch {
        let chunk_rows = ROW_CHUNK.min(batch - chunk_first);
        let mut sums = [[[0.0f32; PANEL]; ROW_CHUNK]; 2];
        let tiles = chunk_rows.div_ceil(kernel.tile_rows());
        for block in (0..inputs).step_by(INPUT_BLOCK) {
            let span = Span {
                start: block,
                end: inputs.min(block + INPUT_BLOCK),
            };
            let mut first = 0;
            for tile in 0..tiles {
                // Rows split evenly: 64 rows in 12-row tiles are 11, 11, 11, 11, 10, 10.
                let rows = (chunk_rows - first) / (tiles - tile);
                let [first_sums, second_sums] = &mut sums;
                let first_sums = &mut first_sums[first..first + rows];
                let at = chunk_first + first;
                if second_panel.is_empty() {
                    tile_product(
                        kernel,
                        [first_panel],
                        segments,
                        batch,
                        at,
                        span,
                        [first_sums],
                    );
                } else {
                    let pair = [first_panel, second_panel];
                    let pair_sums = [first_sums, &mut second_sums[first..first + rows]];
                    tile_product(kernel, pair, segments, batch, at, span, pair_sums);
                }
                first += rows;
            }
        }
        for (column, out_row) in out.chunks_exact_mut(batch).take(columns).enumerate() {
            let targets = &mut out_row[chunk_first..chunk_first + chunk_rows];
            let panel_sums = &sums[column / PANEL];
            for (target, row_sums) in targets.iter_mut().zip(panel_sums) {
                let sum = row_sums[column % PANEL];
                *target = if accumulate { *target + sum } else { sum };
            }
        }
        chunk_first += chunk_rows;
    }
}

/// Input rows `start..end` of a product.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// `sums[p][r][j] += Σ_k x[k, first + r] · panels[p][k][j]` over the inputs `k` of `span`, for
/// each of the `N` panels side by side and the `sums[p].len()` batch rows from `first` on.
fn tile_product<const N: usize, W: PanelWeight, S: Segments + ?Sized>(
    kernel: Kernel,
    panels: [&[W]; N],
    segments: &S,
    batch: usize,
    first: usize,
    span: Span,
    sums: [&mut [[f32; PANEL]]; N],
) {
    macro_rules! rows {
        ($($rows:literal)*) => {
            match sums[0].len() {
                $($rows => tile_rows::<$rows, N, W, S>(kernel, panels, segments, batch, first, span, sums),)*
                rows => unreachable!("a tile of {rows} rows"),
            }
        };
    }
    rows!(1 2 3 4 5 6 7 8 9 10 11 12);
}

fn tile_rows<const ROWS: usize, const N: usize, W: PanelWeight, S: Segments + ?Sized>(
    kernel: Kernel,
    panels: [&[W]; N],
    segments: &S,
    batch: usize,
    first: usize,
    span: Span,
    sums: [&mut [[f32; PANEL]]; N],
) {
    let sums: [&mut [[f32; PANEL]; ROWS]; N] = sums.map(|sums| sums.try_into().expect("tile rows"));
    // SAFETY (each kernel call): `Kernel::chosen` picks only kernels the CPU runs; `product`
    // checked that the segments hold exactly `panel.len() / 16` rows of `batch` values, and
    // `first + ROWS <= batch`.
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe {
            avx512::tile::<ROWS, N, W, S>(panels, segments, batch, first, span, sums)
        },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            for (panel, sums) in panels.into_iter().zip(sums) {
                unsafe { avx2::tile::<ROWS, W, S>(panel, segments, batch, first, span, sums) }
            }
        }
        Kernel::Portable => {
            for (panel, sums) in panels.into_iter().zip(sums) {
                portable_tile::<ROWS, W, S>(panel, segments, batch, first, span, sums);
            }
        }
    }
}

/// Calls `step` with each input row of `span` in order: its 16 panel weights and its batch
/// values from column `first` on. The walk every tile kernel makes; inlined into each, so the
/// vector kernels' closures run with their target features.
#[inline(always)]
fn each_input_row<W, S: Segments + ?Sized>(
    panel: &[W],
    segments: &S,
    batch: usize,
    first: usize,
    span: Span,
    mut step: impl FnMut(&[W], &[f32]),
) {
    let mut weights = panel[span.start * PANEL..span.end * PANEL].chunks_exact(PANEL);
    let mut segment_start = 0;
    for index in 0..segments.count() {
        let segment = segments.segment(index);
        let segment_end = segment_start + segment.len() / batch;
        let (from, to) = (span.start.max(segment_start), span.end.min(segment_end));
        if from < to {
            let rows = &segment[(from - segment_start) * batch..(to - segment_start) * batch];
            for (x, w) in rows.chunks_exact(batch).zip(&mut weights) {
                step(w, &x[first..]);
            }
        }
        segment_start = segment_end;
    }
}

fn portable_tile<const ROWS: usize, W: PanelWeight, S: Segments + ?Sized>(
    panel: &[W],
    segments: &S,
    batch: usize,
    first: usize,
    span: Span,
    sums: &mut [[f32; PANEL]; ROWS],
) {
    each_input_row(panel, segments, batch, first, span, |w, x| {
        for (row_sums, &value) in sums.iter_mut().zip(&x[..ROWS]) {
            for (sum, &weight) in row_sums.iter_mut().zip(w) {
                *sum += value * weight.widen();
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _mm256_broadcast_ss, _mm256_castsi256_ps, _mm256_cvtepu16_epi32, _mm256_cvtph_ps,
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_slli_epi32, _mm256_storeu_ps,
        _mm_loadu_si128,
    };

    use super::{each_input_row, PanelWeight, Segments, Span, WeightFormat, PANEL};

    /// Eight weights from `w` on, widened to float32.
    ///
    /// # Safety
    /// The CPU must support AVX2 and F16C; `w` must point at 8 readable weights.
    #[inline(always)]
    unsafe fn load<W: PanelWeight>(w: *const W) -> __m256 {
        // SAFETY: the caller's; `bf16` and `f16` are a `u16` each.
        unsafe {
            match W::FORMAT {
                WeightFormat::F32 => _mm256_loadu_ps(w.cast()),
                WeightFormat::Bf16 => _mm256_castsi256_ps(_mm256_slli_epi32::<16>(
                    _mm256_cvtepu16_epi32(_mm_loadu_si128(w.cast())),
                )),
                WeightFormat::F16 => _mm256_cvtph_ps(_mm_loadu_si128(w.cast())),
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; the segments must hold `panel.len() / 16` rows
    /// of `batch` values in all, and `first + ROWS <= batch`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn tile<const ROWS: usize, W: PanelWeight, S: Segments + ?Sized>(
        panel: &[W],
        segments: &S,
        batch: usize,
        first: usize,
        span: Span,
        tile: &mut [[f32; PANEL]; ROWS],
    ) {
        // SAFETY: the loads read the 16 weights of `w` or a row of `tile`; the rest is
        // register arithmetic.
        unsafe {
            let mut sums: [[__m256; 2]; ROWS] = [[_mm256_setzero_ps(); 2]; ROWS];
            for (row, row_sums) in sums.iter_mut().enumerate() {
                row_sums[0] = _mm256_loadu_ps(tile[row].as_ptr());
                row_sums[1] = _mm256_loadu_ps(tile[row].as_ptr().add(8));
            }
            each_input_row(panel, segments, batch, first, span, |w, x| {
                let low = load(w.as_ptr());
                let high = load(w.as_ptr().add(8));
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
        __m512, _mm256_loadu_si256, _mm512_castsi512_ps, _mm512_cvtepu16_epi32, _mm512_cvtph_ps,
        _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_slli_epi32,
        _mm512_storeu_ps,
    };

    use super::{each_input_row, PanelWeight, Segments, Span, WeightFormat, PANEL};

    /// Sixteen weights from `w` on, widened to float32.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `w` must point at 16 readable weights.
    #[inline(always)]
    unsafe fn load<W: PanelWeight>(w: *const W) -> __m512 {
        // SAFETY: the caller's; `bf16` and `f16` are a `u16` each.
        unsafe {
            match W::FORMAT {
                WeightFormat::F32 => _mm512_loadu_ps(w.cast()),
                WeightFormat::Bf16 => _mm512_castsi512_ps(_mm512_slli_epi32::<16>(
                    _mm512_cvtepu16_epi32(_mm256_loadu_si256(w.cast())),
                )),
                WeightFormat::F16 => _mm512_cvtph_ps(_mm256_loadu_si256(w.cast())),
            }
        }
    }

    /// The tile of `N` panels side by side (a panel row one register, so each activation
    /// loaded feeds `N` multiply-adds).
    ///
    /// # Safety
    /// The CPU must support AVX-512F; every panel must hold the weights of the inputs of `span`,
    /// the segments `panels[0].len() / 16` rows of `batch` values in all, and
    /// `first + ROWS <= batch`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile<const ROWS: usize, const N: usize, W: PanelWeight, S: Segments + ?Sized>(
        panels: [&[W]; N],
        segments: &S,
        batch: usize,
        first: usize,
        span: Span,
        mut tiles: [&mut [[f32; PANEL]; ROWS]; N],
    ) {
        // SAFETY: the loads read the 16 weights of input row `k` of each panel (the walk hands
        // out only rows of `span`, at the same place in every panel) or a row of a tile; the
        // rest is register arithmetic.
        unsafe {
            let mut sums: [[__m512; N]; ROWS] = [[_mm512_setzero_ps(); N]; ROWS];
            for (row, row_sums) in sums.iter_mut().enumerate() {
                for (sum, tile) in row_sums.iter_mut().zip(&tiles) {
                    *sum = _mm512_loadu_ps(tile[row].as_ptr());
                }
            }
            let offsets = panels.map(|panel| panel.as_ptr().offset_from(panels[0].as_ptr()));
            each_input_row(panels[0], segments, batch, first, span, |w, x| {
                let weights = offsets.map(|offset| load(w.as_ptr().offset(offset)));
                for (row_sums, &value) in sums.iter_mut().zip(&x[..ROWS]) {
                    let value = _mm512_set1_ps(value);
                    for (sum, &weights) in row_sums.iter_mut().zip(&weights) {
                        *sum = _mm512_fmadd_ps(value, weights, *sum);
                    }
                }
            });
            for (row, row_sums) in sums.iter().enumerate() {
                for (sum, tile) in row_sums.iter().zip(tiles.iter_mut()) {
                    _mm512_storeu_ps(tile[row].as_mut_ptr(), *sum);
                }
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

    /// `out += x · W` through `kernel`, panel by panel on this thread.
    fn run_panels(
        kernel: Kernel,
        packed: &PackedMatrix,
        segments: &[&[f32]],
        batch: usize,
        out: &mut [f32],
    ) {
        fn each<W: PanelWeight>(
            kernel: Kernel,
            panels: &[W],
            inputs: usize,
            segments: &[&[f32]],
            batch: usize,
            out: &mut [f32],
        ) {
            let group = kernel.panels_per_tile();
            for (panels, out) in panels
                .chunks(group * inputs * PANEL)
                .zip(out.chunks_mut(group * PANEL * batch))
            {
                group_product(kernel, panels, inputs, segments, batch, out, true);
            }
        }
        let inputs = packed.inputs;
        match &packed.panels {
            Panels::F32(panels) => each(kernel, panels, inputs, segments, batch, out),
            Panels::Bf16(panels) => each(kernel, panels, inputs, segments, batch, out),
            Panels::F16(panels) => each(kernel, panels, inputs, segments, batch, out),
        }
    }

    /// The weight as `format` stores it.
    fn stored(value: f32, format: WeightFormat) -> f32 {
        match format {
            WeightFormat::F32 => value,
            WeightFormat::Bf16 => bf16::from_f32(value).to_f32(),
            WeightFormat::F16 => f16::from_f32(value).to_f32(),
        }
    }

    /// Checks a product of `inputs` rows split into segments of the given sizes against the
    /// naive sum over the stored weights.
    fn check(inputs: &[usize], outputs: usize, batch: usize, kernel: Kernel, format: WeightFormat) {
        let total: usize = inputs.iter().sum();
        let weight = values(total * outputs, 1);
        let packed = PackedMatrix::pack(&weight, total, outputs, format);
        let x = values(total * batch, 2);
        let mut segments = Vec::new();
        let mut start = 0;
        for rows in inputs {
            segments.push(&x[start * batch..(start + rows) * batch]);
            start += rows;
        }
        let mut out = values(outputs * batch, 3);
        let before = out.clone();
        run_panels(kernel, &packed, &segments, batch, &mut out);
        for n in 0..outputs {
            for b in 0..batch {
                let sum: f32 = (0..total)
                    .map(|k| stored(weight[k * outputs + n], format) * x[k * batch + b])
                    .sum();
                let got = out[n * batch + b];
                let expected = before[n * batch + b] + sum;
                assert!(
                    (got - expected).abs() < 1e-4,
                    "{kernel:?} {format:?} n {n} b {b}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn every_kernel_agrees_with_a_naive_product_in_every_format() {
        for kernel in Kernel::runnable() {
            for format in WeightFormat::ALL {
                // Ragged panels, every tile height, several segments.
                check(&[5, 7], 21, 13, kernel, format);
                check(&[16], 16, 1, kernel, format);
                check(&[3, 3, 3], 40, 6, kernel, format);
                // Input blocks that cross segments, and more rows than one chunk.
                check(&[100, 60, 100], 20, 70, kernel, format);
            }
        }
    }

    #[test]
    fn sixteen_bit_weights_are_rounded_to_nearest_and_range_checked() {
        let weight = [1.0 + 1.0 / 256.0 + 1.0 / 1024.0, -3.0e-3, 0.25, 0.0];
        for format in WeightFormat::ALL {
            let packed = PackedMatrix::pack(&weight, 4, 1, format);
            let x = [1.0, 0.0, 0.0, 0.0];
            let mut out = [0.0];
            product(&packed, &[&x[..]][..], 1, &mut out, false);
            assert_eq!(out[0], stored(weight[0], format), "{format:?}");
        }
        // bfloat16 keeps 8 significant bits, half 11.
        assert_eq!(stored(weight[0], WeightFormat::Bf16), 1.0 + 1.0 / 128.0);
        assert_eq!(stored(weight[0], WeightFormat::F16), weight[0]);
        let large = [0.5, 70_000.0];
        assert!(WeightFormat::Bf16.holds(&large));
        assert!(!WeightFormat::F16.holds(&large));
        assert!(WeightFormat::F16.holds(&large[..1]));
        assert_eq!("bf16".parse(), Ok(WeightFormat::Bf16));
        assert!("f64"
            .parse::<WeightFormat>()
            .unwrap_err()
            .contains("f32, bf16 or f16"));
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
        let x = values(inputs * batch, 7);
        let segments = [&x[..30 * batch], &x[30 * batch..]];
        for format in WeightFormat::ALL {
            let packed = PackedMatrix::pack(&values(inputs * outputs, 6), inputs, outputs, format);
            let run = |kernel| {
                let mut out = values(outputs * batch, 8);
                run_panels(kernel, &packed, &segments, batch, &mut out);
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            assert_eq!(run(Kernel::Avx512), run(Kernel::Avx2), "{format:?}");
        }
    }

    #[test]
    fn threaded_products_equal_the_single_threaded_ones_bit_for_bit() {
        let (inputs, outputs, batch) = (192, 200, 7);
        let weight = values(inputs * outputs, 4);
        let x = values(inputs * batch, 5);
        for format in WeightFormat::ALL {
            let packed = PackedMatrix::pack(&weight, inputs, outputs, format);
            let mut threaded = vec![0.0; outputs * batch];
            product(&packed, &[&x[..]][..], batch, &mut threaded, false);
            let mut alone = vec![0.0; outputs * batch];
            run_panels(Kernel::chosen(), &packed, &[&x[..]], batch, &mut alone);
            assert_eq!(threaded, alone, "{format:?}");
        }
    }
}
