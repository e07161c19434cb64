//! The program's ELF file: the processor it is built for, read from its header, and whether the
//! card's system runs that kind of program (it has that kind's dynamic loader); and the program
//! as installed, without its debugging information (the build keeps it, for crash reports). A
//! program for a PC is refused with the command that builds for the Pi; an ARM build of the
//! other width becomes a note. It never runs the program or anything on the card.

use super::card::Card;

/// The processor a program is built for, from its ELF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arch {
    Arm32,
    Arm64,
}

impl Arch {
    pub(super) fn of_program(program: &[u8]) -> Result<Self, String> {
        const BUILD_HINT: &str = "the Pi needs an ARM build: cargo build --release --target \
             aarch64-unknown-linux-gnu (64-bit Raspberry Pi OS) or \
             armv7-unknown-linux-gnueabihf (32-bit)";
        if program.len() < 20 || !program.starts_with(b"\x7fELF") {
            return Err(format!("not a Linux program (no ELF header); {BUILD_HINT}"));
        }
        let bytes = [program[18], program[19]];
        let machine = match program[5] {
            1 => u16::from_le_bytes(bytes),
            2 => u16::from_be_bytes(bytes),
            _ => return Err(format!("damaged ELF header (byte order); {BUILD_HINT}")),
        };
        match machine {
            0x28 => Ok(Arch::Arm32),
            0xB7 => Ok(Arch::Arm64),
            0x3E => Err(format!("this is a program for x86-64 PCs; {BUILD_HINT}")),
            0x03 => Err(format!(
                "this is a program for 32-bit x86 PCs; {BUILD_HINT}"
            )),
            other => Err(format!(
                "a program for machine type {other:#x}; {BUILD_HINT}"
            )),
        }
    }

    /// The dynamic loader a system of this kind has.
    fn loader(self) -> &'static str {
        match self {
            Arch::Arm32 => "lib/ld-linux-armhf.so.3",
            Arch::Arm64 => "lib/ld-linux-aarch64.so.1",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Arch::Arm32 => "32-bit ARM (armhf)",
            Arch::Arm64 => "64-bit ARM (arm64)",
        }
    }
}

/// Notes when the card's system is of the other ARM kind, where a program of `arch` will not
/// start.
pub(super) fn check_architecture(card: &mut Card, arch: Arch) {
    let other = match arch {
        Arch::Arm32 => Arch::Arm64,
        Arch::Arm64 => Arch::Arm32,
    };
    let has = |arch: Arch| card.path(arch.loader()).symlink_metadata().is_ok();
    if !has(arch) && has(other) {
        card.note(format!(
            "the program is built for {} but the card's system is {}: it will not start \
             there; install the {} build",
            arch.describe(),
            other.describe(),
            other.describe()
        ));
    }
}

/// The program without its debugging information (its `.debug_*` sections), which is most of a
/// release build's size and of no use on the card; a file whose sections cannot be read is
/// installed as it is.
pub(super) fn stripped(program: &[u8]) -> Vec<u8> {
    let Ok(mut builder) = object::build::elf::Builder::read(program) else {
        return program.to_vec();
    };
    let mut debug = false;
    for section in builder.sections.iter_mut() {
        if section.name.starts_with(b".debug_") {
            section.delete = true;
            debug = true;
        }
    }
    let mut out = Vec::new();
    if !debug || builder.write(&mut out).is_err() {
        return program.to_vec();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::fixture::program;

    #[test]
    fn programs_are_recognised_by_their_header() {
        assert_eq!(Arch::of_program(&program(0xB7)), Ok(Arch::Arm64));
        assert_eq!(Arch::of_program(&program(0x28)), Ok(Arch::Arm32));
        let mut big_endian = program(0);
        big_endian[5] = 2;
        big_endian[18..20].copy_from_slice(&0x28u16.to_be_bytes());
        assert_eq!(Arch::of_program(&big_endian), Ok(Arch::Arm32));
        assert!(Arch::of_program(b"\x7fELF").is_err());
    }

    #[test]
    fn the_installed_program_has_no_debugging_information() {
        use object::{Object as _, ObjectSection as _};
        let built = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let has_debug = |data: &[u8]| {
            let file = object::File::parse(data).unwrap();
            let debug = file
                .sections()
                .any(|section| section.name().is_ok_and(|name| name.starts_with(".debug_")));
            (debug, file.entry())
        };
        assert!(
            has_debug(&built).0,
            "a test build carries debugging information"
        );
        let installed = stripped(&built);
        assert!(
            installed.len() < built.len() / 2,
            "{} of {}",
            installed.len(),
            built.len()
        );
        assert_eq!(has_debug(&installed), (false, has_debug(&built).1));
        // And it still runs: this very test program, stripped, lists its tests.
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stripped");
        std::fs::write(&path, &installed).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another test's child may still hold the file open for writing for a moment (forked
        // while it was being written): then running it fails with "text file busy".
        let run = || std::process::Command::new(&path).arg("--list").output();
        let mut listed = run();
        for _ in 0..50 {
            match &listed {
                Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    listed = run();
                }
                _ => break,
            }
        }
        let listed = listed.unwrap();
        assert!(listed.status.success(), "{listed:?}");
        assert!(String::from_utf8_lossy(&listed.stdout).contains("the_installed_program_has_no"));
        // A file without sections (a header only) is installed as it is.
        assert_eq!(stripped(&program(0xB7)), program(0xB7));
    }
}
