//! The C library: the newest GNU C library version a program needs (its ELF version
//! requirements) against the one the card has (the newest version its `libc.so.6` defines). A
//! program that needs a newer one than the card's is refused, naming both; a card whose library
//! cannot be read becomes a note. It never runs the program or anything on the card.

use std::path::{Path, PathBuf};

use object::read::elf::{FileHeader, SectionTable};
use object::{elf, Endianness};

use super::arch::Arch;
use super::card::Card;
use super::error::InstallError;

/// A GNU C library version, as `GLIBC_2.36` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Glibc(pub u32, pub u32);

impl std::fmt::Display for Glibc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl Glibc {
    fn parse(name: &[u8]) -> Option<Glibc> {
        let version = std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_")?;
        let (major, minor) = version.split_once('.')?;
        let minor = minor.split('.').next()?;
        Some(Glibc(major.parse().ok()?, minor.parse().ok()?))
    }
}

/// Which of a file's version lists to read.
#[derive(Clone, Copy)]
enum Versions {
    /// Those it needs from other libraries (a program).
    Needed,
    /// Those it defines (a library).
    Defined,
}

/// The newest `GLIBC_x.y` in the ELF file's `which` list; `None` when it has none or is not ELF.
fn newest(data: &[u8], which: Versions) -> Option<Glibc> {
    match data.get(4) {
        Some(1) => newest_in::<elf::FileHeader32<Endianness>>(data, which),
        Some(2) => newest_in::<elf::FileHeader64<Endianness>>(data, which),
        _ => None,
    }
}

fn newest_in<Elf: FileHeader<Endian = Endianness>>(data: &[u8], which: Versions) -> Option<Glibc> {
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let sections: SectionTable<Elf> = header.sections(endian, data).ok()?;
    let mut names = Vec::new();
    match which {
        Versions::Needed => {
            let (mut needs, link) = sections.gnu_verneed(endian, data).ok()??;
            let strings = sections.strings(endian, data, link).ok()?;
            while let Ok(Some((_, mut auxes))) = needs.next() {
                while let Ok(Some(aux)) = auxes.next() {
                    names.extend(aux.name(endian, strings).ok());
                }
            }
        }
        Versions::Defined => {
            let (mut defs, link) = sections.gnu_verdef(endian, data).ok()??;
            let strings = sections.strings(endian, data, link).ok()?;
            while let Ok(Some((_, mut auxes))) = defs.next() {
                while let Ok(Some(aux)) = auxes.next() {
                    names.extend(aux.name(endian, strings).ok());
                }
            }
        }
    }
    names.into_iter().filter_map(Glibc::parse).max()
}

/// Where a system of `arch` keeps its C library, newest layout first.
fn library_paths(arch: Arch) -> [String; 2] {
    let triplet = match arch {
        Arch::Arm32 => "arm-linux-gnueabihf",
        Arch::Arm64 => "aarch64-linux-gnu",
    };
    [
        format!("/usr/lib/{triplet}/libc.so.6"),
        format!("/lib/{triplet}/libc.so.6"),
    ]
}

/// The card's C library of `arch` and its version, following a link inside the card.
fn card_library(card: &Card, arch: Arch) -> Option<(PathBuf, Glibc)> {
    library_paths(arch).iter().find_map(|on_pi| {
        let mut path = card.path(on_pi);
        if let Ok(target) = std::fs::read_link(&path) {
            // A link's target is a place on the Pi: an absolute one is inside the card.
            path = match target.strip_prefix("/") {
                Ok(inside) => card.path(&format!("/{}", inside.display())),
                Err(_) => path.parent().unwrap_or(Path::new("/")).join(target),
            };
        }
        let data = std::fs::read(&path).ok()?;
        Some((path, newest(&data, Versions::Defined)?))
    })
}

/// Refuses a program that needs a newer C library than the card has; notes a card whose C
/// library could not be read.
pub(super) fn check(
    card: &mut Card,
    program: &[u8],
    arch: Arch,
    binary: &Path,
) -> Result<(), InstallError> {
    let Some(needed) = newest(program, Versions::Needed) else {
        return Ok(());
    };
    match card_library(card, arch) {
        Some((_, has)) if has >= needed => Ok(()),
        Some((library, has)) => Err(InstallError::OldLibc {
            binary: binary.to_path_buf(),
            needed,
            library: card.on_pi(&library),
            has,
        }),
        None => {
            card.note(format!(
                "cannot read the card's C library ({}): the program needs version {needed} or later",
                library_paths(arch)[0]
            ));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_their_names() {
        assert_eq!(Glibc::parse(b"GLIBC_2.34"), Some(Glibc(2, 34)));
        assert_eq!(Glibc::parse(b"GLIBC_2.17.1"), Some(Glibc(2, 17)));
        assert_eq!(Glibc::parse(b"GLIBC_PRIVATE"), None);
        assert_eq!(Glibc::parse(b"GCC_3.0"), None);
        assert!(Glibc(2, 31) < Glibc(2, 34) && Glibc(2, 9) < Glibc(2, 10));
    }

    /// Read from this machine's own files: the test program needs some version, and the C
    /// library that runs it defines at least that one.
    #[test]
    fn a_program_and_a_library_give_their_versions() {
        let program = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let needed = newest(&program, Versions::Needed).expect("a program linked to glibc");
        assert!(needed >= Glibc(2, 2), "{needed}");
        let library = [
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ]
        .iter()
        .find_map(|path| std::fs::read(path).ok());
        if let Some(library) = library {
            let has = newest(&library, Versions::Defined).expect("glibc defines its versions");
            assert!(has >= needed, "{has} < {needed}");
            assert_eq!(
                newest(&library, Versions::Needed).filter(|v| *v > has),
                None
            );
        }
        assert_eq!(newest(b"not ELF", Versions::Needed), None);
    }
}
