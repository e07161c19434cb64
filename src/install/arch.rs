//! The processor a program is built for, read from its ELF header, and whether the card's system
//! runs that kind of program (it has that kind's dynamic loader). A program for a PC is refused
//! with the command that builds for the Pi; an ARM build of the other width becomes a note. It
//! never runs the program or anything on the card.

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
}
