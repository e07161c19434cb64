//! Matrix products for the model: `c (+)= a · b` on row-major views, handed to
//! `matrixmultiply::sgemm` and split across rayon's threads by rows (long signals) or by
//! columns (a short matrix against a wide one). Every view is bounds-checked before a pointer
//! is made. It never allocates buffers of its own (the sgemm kernel packs into its own scratch).

use rayon::prelude::*;

/// Below this many multiply-adds a product runs on the calling thread: waking workers would
/// cost more than it saves.
const PARALLEL_WORK: usize = 1 << 18;

/// Chunks are cut at multiples of the widest sgemm kernel tile, so that no thread gets a
/// ragged edge it would have to pad.
const TILE: usize = 16;

/// A row-major matrix inside a slice: element (r, c) at `data[r * row_stride + c]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

/// The mutable counterpart of [`MatRef`].
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

fn span(rows: usize, cols: usize, row_stride: usize) -> usize {
    assert!(
        cols <= row_stride,
        "a row of {cols} does not fit a stride of {row_stride}"
    );
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * row_stride + cols
    }
}

/// Panics if a slice of `len` values cannot hold the matrix (a bug in the caller's size
/// arithmetic, never a property of user input).
fn check_span(len: usize, rows: usize, cols: usize, row_stride: usize) {
    let needed = span(rows, cols, row_stride);
    assert!(
        len >= needed,
        "matrix needs {needed} values, slice has {len}"
    );
}

impl<'a> MatRef<'a> {
    /// Rows of `cols` values, `row_stride` apart. Panics if `data` is too short.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        check_span(data.len(), rows, cols, row_stride);
        Self {
            data,
            rows,
            cols,
            row_stride,
        }
    }

    /// A dense `rows × cols` matrix.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl<'a> MatMut<'a> {
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        check_span(data.len(), rows, cols, row_stride);
        Self {
            data,
            rows,
            cols,
            row_stride,
        }
    }

    pub fn dense(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols)
    }
}

/// Raw pointers of one product, shareable between the threads that each work on a disjoint
/// block of `c`.
#[derive(Clone, Copy)]
struct Product {
    a: *const f32,
    a_stride: usize,
    b: *const f32,
    b_stride: usize,
    c: *mut f32,
    c_stride: usize,
    inner: usize,
    beta: f32,
}

// SAFETY: the pointers come from live borrows held by `matmul` for the whole parallel region,
// and each thread writes only its own block of rows or columns of `c`.
unsafe impl Send for Product {}
unsafe impl Sync for Product {}

impl Product {
    /// `c[rows, cols] = beta · c + a[rows, :] · b[:, cols]` for one block.
    ///
    /// # Safety
    /// The block must lie inside the views `matmul` checked.
    unsafe fn block(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
        // SAFETY: offsets stay inside the checked views (caller's contract); strides are the
        // views' own.
        unsafe {
            matrixmultiply::sgemm(
                rows.len(),
                self.inner,
                cols.len(),
                1.0,
                self.a.add(rows.start * self.a_stride),
                self.a_stride as isize,
                1,
                self.b.add(cols.start),
                self.b_stride as isize,
                1,
                self.beta,
                self.c.add(rows.start * self.c_stride + cols.start),
                self.c_stride as isize,
                1,
            );
        }
    }
}

/// `c = a · b`, or `c += a · b` when `accumulate`.
pub fn matmul(a: MatRef<'_>, b: MatRef<'_>, c: MatMut<'_>, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    assert_eq!((c.rows, c.cols), (a.rows, b.cols), "output shape differs");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    let product = Product {
        a: a.data.as_ptr(),
        a_stride: a.row_stride,
        b: b.data.as_ptr(),
        b_stride: b.row_stride,
        c: c.data.as_mut_ptr(),
        c_stride: c.row_stride,
        inner: k,
        beta: if accumulate { 1.0 } else { 0.0 },
    };
    let threads = rayon::current_num_threads();
    let work = m * k.max(1) * n;
    if threads == 1 || work < PARALLEL_WORK {
        // SAFETY: the whole product lies inside the views checked above.
        unsafe { product.block(0..m, 0..n) };
    } else if m >= threads * 4 * TILE {
        let step = m.div_ceil(threads).next_multiple_of(TILE);
        (0..m.div_ceil(step)).into_par_iter().for_each(|chunk| {
            let rows = chunk * step..((chunk + 1) * step).min(m);
            // SAFETY: row blocks are disjoint and inside the views.
            unsafe { product.block(rows, 0..n) };
        });
    } else {
        let step = n.div_ceil(threads).next_multiple_of(TILE);
        (0..n.div_ceil(step)).into_par_iter().for_each(|chunk| {
            let cols = chunk * step..((chunk + 1) * step).min(n);
            // SAFETY: column blocks are disjoint and inside the views.
            unsafe { product.block(0..m, cols) };
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn values(count: usize, seed: u64) -> Vec<f32> {
        let mut rng = super::super::rng::SplitMix64::new(seed);
        (0..count).map(|_| rng.symmetric(1.0)).collect()
    }

    #[test]
    fn products_agree_with_a_naive_loop_for_every_split() {
        // Small (one thread), tall (split by rows) and wide (split by columns) products.
        for (m, k, n) in [(3, 5, 7), (700, 40, 24), (4, 300, 530)] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let expected = naive(&a, &b, m, k, n);
            let mut c = vec![1.0; m * n];
            matmul(
                MatRef::dense(&a, m, k),
                MatRef::dense(&b, k, n),
                MatMut::dense(&mut c, m, n),
                false,
            );
            for (x, y) in c.iter().zip(&expected) {
                assert!((x - y).abs() < 1e-4, "{m}x{k}x{n}: {x} vs {y}");
            }
            matmul(
                MatRef::dense(&a, m, k),
                MatRef::dense(&b, k, n),
                MatMut::dense(&mut c, m, n),
                true,
            );
            for (x, y) in c.iter().zip(&expected) {
                assert!((x - 2.0 * y).abs() < 2e-4, "{m}x{k}x{n} accumulated");
            }
        }
    }

    #[test]
    fn strided_views_touch_only_their_columns() {
        // a = columns 1..3 of a 2x4 matrix; c = columns 2..4 of a 2x5 matrix.
        let a = [0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0];
        let b = [1.0, 0.0, 0.0, 1.0];
        let mut c = [9.0; 10];
        matmul(
            MatRef::new(&a[1..], 2, 2, 4),
            MatRef::dense(&b, 2, 2),
            MatMut::new(&mut c[2..], 2, 2, 5),
            false,
        );
        assert_eq!(c, [9.0, 9.0, 1.0, 2.0, 9.0, 9.0, 9.0, 3.0, 4.0, 9.0]);
    }

    #[test]
    #[should_panic(expected = "inner dimensions differ")]
    fn mismatched_products_are_caught() {
        let a = [0.0; 6];
        let mut c = [0.0; 4];
        matmul(
            MatRef::dense(&a, 2, 3),
            MatRef::dense(&a, 2, 3),
            MatMut::dense(&mut c, 2, 2),
            false,
        );
    }
}
