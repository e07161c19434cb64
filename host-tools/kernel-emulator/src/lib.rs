//! host-tools' CUDA kernels (`host-tools/src/cuda/kernels.cu`) compiled for the CPU: [`launch`]
//! runs a kernel over a one-dimensional grid, thread after thread, with its parameters passed
//! as `cuLaunchKernel` takes them. Only for tests: it lets the GPU back end's plans, layouts
//! and kernels be checked against the CPU model on machines without a GPU. It knows nothing of
//! the model.

use std::ffi::c_void;

type Launcher = unsafe extern "C" fn(threads: u32, block: u32, params: *mut *mut c_void);

macro_rules! launchers {
    ($($name:ident),* $(,)?) => {
        mod ffi {
            use std::ffi::c_void;
            // `emulate_<kernel>` in emulator.c.
            unsafe extern "C" {
                $(
                    #[link_name = concat!("emulate_", stringify!($name))]
                    pub fn $name(threads: u32, block: u32, params: *mut *mut c_void);
                )*
            }
        }

        /// The kernels this emulator knows, by name.
        pub const KERNELS: &[&str] = &[$(stringify!($name)),*];

        fn launcher(name: &str) -> Option<Launcher> {
            match name {
                $(stringify!($name) => Some(ffi::$name as Launcher),)*
                _ => None,
            }
        }
    };
}

launchers!(
    start_conv,
    gather_taps,
    gate,
    bias_act,
    frame_embedding,
    sample,
    advance,
    encoder_start,
    im2col_same,
    mean_pool,
);

/// Runs kernel `name` for `threads` threads in blocks of `block`.
///
/// # Safety
/// `params` must hold, in the kernel's order, a pointer to a value of each parameter's type,
/// and every pointer parameter must point to host memory large enough for what the kernel
/// touches, exactly as for `cuLaunchKernel`.
///
/// # Panics
/// If the emulator has no kernel of that name.
pub unsafe fn launch(name: &str, threads: u32, block: u32, params: &mut [*mut c_void]) {
    let launcher = launcher(name).unwrap_or_else(|| panic!("no emulated kernel named {name}"));
    unsafe { launcher(threads, block, params.as_mut_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_counts_once_per_launch() {
        let mut time: u32 = 41;
        let mut time_ptr = &mut time as *mut u32;
        let mut params = [(&mut time_ptr) as *mut *mut u32 as *mut c_void];
        unsafe { launch("advance", 300, 128, &mut params) };
        assert_eq!(time, 42);
    }

    #[test]
    fn every_kernel_has_a_launcher() {
        assert!(KERNELS.iter().all(|name| launcher(name).is_some()));
        assert_eq!(KERNELS.len(), 10);
    }
}
