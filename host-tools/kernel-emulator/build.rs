//! Compiles host-tools' kernel source (`src/cuda/kernels.cu`, written in C) with the emulator's
//! launch loops, as C, with every warning an error.

fn main() {
    let kernels = "../src/cuda";
    println!("cargo:rerun-if-changed={kernels}/kernels.cu");
    println!("cargo:rerun-if-changed=csrc");
    cc::Build::new()
        .file("csrc/emulator.c")
        .include("csrc")
        .include(kernels)
        .std("c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .opt_level(2)
        .compile("kernel_emulator");
}
