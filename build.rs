//! Compiles the C shim that hands the ALSA library's error messages to the log
//! (`src/logging/alsa.c`): only with the `device` feature, and only for Linux, where ALSA is.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "device")]
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rerun-if-changed=src/logging/alsa.c");
        cc::Build::new()
            .file("src/logging/alsa.c")
            .warnings(true)
            .compile("open_nsynth_alsa");
    }
}
