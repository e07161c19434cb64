//! The GPU kernels (`host-tools/src/cuda/kernels.cu`) compiled by NVRTC, the compiler every
//! GPU run uses, for each GPU generation host-tools supports, without a GPU: only the NVRTC
//! library is needed. Ignored by default; `scripts/test.sh` runs it with the library that
//! `scripts/setup.sh --nvrtc` fetches on the library path.

use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use host_tools::cuda::{Kernel, KERNEL_SOURCE};

/// Turing to Blackwell (CUDA 13 compiles for nothing older).
const ARCHITECTURES: [&str; 6] = ["75", "80", "86", "89", "90", "100"];

#[test]
#[ignore = "needs libnvrtc on the library path (scripts/setup.sh --nvrtc)"]
fn kernels_compile_for_every_architecture() {
    // SAFETY: only tries to open the shared library.
    assert!(
        unsafe { cudarc::nvrtc::sys::is_culib_present() },
        "libnvrtc.so is not on the library path"
    );
    for architecture in ARCHITECTURES {
        let options = CompileOptions {
            options: vec![format!("--gpu-architecture=compute_{architecture}")],
            name: Some("kernels.cu".into()),
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(KERNEL_SOURCE, options)
            .unwrap_or_else(|error| panic!("compute_{architecture}: {error}"))
            .to_src();
        for kernel in Kernel::ALL {
            assert!(
                ptx.contains(&format!(".entry {}(", kernel.name())),
                "compute_{architecture}: no kernel {}",
                kernel.name()
            );
        }
        // Every value lives in registers: no stack frame spilled to local memory.
        assert!(
            !ptx.contains(".local"),
            "compute_{architecture}: local memory used"
        );
    }
}
