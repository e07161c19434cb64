//! The ext4 partitions: reading and editing files in one without mounting it (`debugfs`), and
//! making one and filling it from a folder (`mke2fs`, then `debugfs`), both from e2fsprogs, which every Linux system has.
//! Both run with e2fsprogs' clock set to the given time stamp and with fixed UUIDs, so the same
//! inputs give the same bytes. It never mounts anything and never needs root.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{io_error, Disk, DiskError, Partition};

/// Where the ext4 magic number lies: 56 bytes into the superblock, which starts at byte 1024.
const MAGIC_AT: u64 = 1024 + 0x38;
const MAGIC: [u8; 2] = [0x53, 0xef];

/// What a path names in an ext4 file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
    Link,
    Other,
}

/// An ext4 file system in a partition of a disk.
pub struct Ext4 {
    disk: PathBuf,
    offset: u64,
    number: usize,
    stamp: u64,
}

/// Owner and permission bits of something written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

impl Ext4 {
    /// The ext4 file system in `partition`, refused when there is none. Edits carry the time
    /// `stamp` (seconds since 1970).
    pub fn open(disk: &Disk, partition: &Partition, stamp: u64) -> Result<Ext4, DiskError> {
        let mut magic = [0; 2];
        let mut file = disk.file();
        file.seek(SeekFrom::Start(partition.start + MAGIC_AT))
            .and_then(|_| file.read_exact(&mut magic))
            .map_err(io_error("read", disk.path()))?;
        if magic != MAGIC {
            return Err(DiskError::layout(
                disk.path(),
                format!("partition {} holds no ext4 file system", partition.number),
            ));
        }
        Ok(Ext4 {
            disk: disk.path().to_path_buf(),
            offset: partition.start,
            number: partition.number,
            stamp,
        })
    }

    fn debugfs(&self, write: bool, args: &[&OsStr]) -> Result<Output, DiskError> {
        let mut device = self.disk.clone().into_os_string();
        device.push(format!("?offset={}", self.offset));
        let mut command = Command::new("debugfs");
        if write {
            command.arg("-w");
        }
        command
            .args(args)
            .arg(device)
            .env("DEBUGFS_PAGER", "__none__")
            .env("E2FSPROGS_FAKE_TIME", self.stamp.to_string());
        run(command, "debugfs", &self.disk)
    }

    fn request(&self, request: &str) -> Result<Output, DiskError> {
        self.debugfs(false, &["-R".as_ref(), request.as_ref()])
    }

    /// What `path` is, or `None` when nothing is there.
    pub fn kind(&self, path: &str) -> Result<Option<Kind>, DiskError> {
        let output = self.request(&format!("stat {}", quoted(path)?))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let Some(kind) = text.split("Type: ").nth(1) else {
            return Ok(None);
        };
        Ok(Some(match kind.split_whitespace().next() {
            Some("regular") => Kind::File,
            Some("directory") => Kind::Folder,
            Some("symlink") => Kind::Link,
            _ => Kind::Other,
        }))
    }

    /// The bytes of the file at `path`, or `None` when there is no file there.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, DiskError> {
        if self.kind(path)? != Some(Kind::File) {
            return Ok(None);
        }
        Ok(Some(
            self.request(&format!("cat {}", quoted(path)?))?.stdout,
        ))
    }

    /// The disk and the byte offset of the file system.
    pub fn location(&self) -> (PathBuf, u64) {
        (self.disk.clone(), self.offset)
    }

    /// Where the symbolic link at `path` points, when it is one short enough to be kept in its
    /// inode (as every system library's link is).
    pub fn link_target(&self, path: &str) -> Result<Option<String>, DiskError> {
        let output = self.request(&format!("stat {}", quoted(path)?))?;
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text
            .split("Fast link dest: \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned))
    }

    /// The names in the folder `path` (without `.` and `..`).
    pub fn names(&self, path: &str) -> Result<Vec<String>, DiskError> {
        let output = self.request(&format!("ls -p {}", quoted(path)?))?;
        // One line per entry: `/inode/mode/uid/gid/name/size/`.
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split('/').nth(5))
            .filter(|name| !name.is_empty() && *name != "." && *name != "..")
            .map(str::to_owned)
            .collect())
    }

    /// Starts a batch of edits, carried out by [`Edits::apply`].
    pub fn edits(&self) -> Edits<'_> {
        Edits {
            fs: self,
            script: String::new(),
        }
    }
}

/// Edits to an ext4 file system, carried out together by one `debugfs` run.
pub struct Edits<'a> {
    fs: &'a Ext4,
    script: String,
}

impl Edits<'_> {
    fn line(&mut self, line: String) {
        self.script.push_str(&line);
        self.script.push('\n');
    }

    fn set(
        &mut self,
        path: &str,
        kind_bits: u32,
        mode: u32,
        owner: Owner,
    ) -> Result<(), DiskError> {
        let path = quoted(path)?;
        self.line(format!("sif {path} mode 0{:o}", kind_bits | mode));
        self.line(format!("sif {path} uid {}", owner.uid));
        self.line(format!("sif {path} gid {}", owner.gid));
        Ok(())
    }

    /// Removes what is at `path` first, when something is.
    fn clear(&mut self, path: &str) -> Result<(), DiskError> {
        match self.fs.kind(path)? {
            None => {}
            Some(Kind::Folder) => {
                return Err(DiskError::layout(
                    &self.fs.disk,
                    format!("{path} in partition {} is a folder", self.fs.number),
                ))
            }
            Some(_) => self.line(format!("rm {}", quoted(path)?)),
        }
        Ok(())
    }

    /// Makes the folder `path` (its parent must exist or be made first) unless it exists.
    pub fn folder(&mut self, path: &str, mode: u32, owner: Owner) -> Result<(), DiskError> {
        if self.fs.kind(path)? != Some(Kind::Folder) {
            self.clear(path)?;
            self.line(format!("mkdir {}", quoted(path)?));
        }
        self.set(path, 0o040000, mode, owner)
    }

    /// Puts the local file `from` at `path`, replacing what is there.
    pub fn file(
        &mut self,
        path: &str,
        from: &Path,
        mode: u32,
        owner: Owner,
    ) -> Result<(), DiskError> {
        self.clear(path)?;
        let from = from
            .to_str()
            .ok_or_else(|| DiskError::layout(from, "the path is not UTF-8"))?;
        self.line(format!("write {} {}", quoted(from)?, quoted(path)?));
        self.set(path, 0o100000, mode, owner)
    }

    /// Points a symbolic link at `path` to `target`, replacing what is there.
    pub fn link(&mut self, path: &str, target: &str, owner: Owner) -> Result<(), DiskError> {
        self.clear(path)?;
        self.line(format!("symlink {} {}", quoted(path)?, quoted(target)?));
        self.set(path, 0o120000, 0o777, owner)
    }

    /// Carries the edits out. Any complaint of `debugfs` is an error.
    pub fn apply(self, scratch: &Path) -> Result<(), DiskError> {
        if self.script.is_empty() {
            return Ok(());
        }
        let script = scratch.join("debugfs-script");
        std::fs::write(&script, &self.script).map_err(io_error("write", &script))?;
        let output = self
            .fs
            .debugfs(true, &["-f".as_ref(), script.as_os_str()])?;
        let complaints: Vec<&str> = std::str::from_utf8(&output.stderr)
            .unwrap_or("(unreadable)")
            .lines()
            .filter(|line| !line.starts_with("debugfs ") && !line.trim().is_empty())
            .collect();
        let Some(first) = complaints.first() else {
            return Ok(());
        };
        if complaints
            .iter()
            .any(|line| line.contains("Could not allocate"))
        {
            return Err(DiskError::layout(
                &self.fs.disk,
                format!(
                    "partition {} is full: what was to be written does not fit ({first})",
                    self.fs.number
                ),
            ));
        }
        let more = match complaints.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more complaints)"),
        };
        Err(DiskError::Tool {
            path: self.fs.disk.clone(),
            program: "debugfs",
            cause: format!("partition {}: {first}{more}", self.fs.number),
        })
    }
}

/// How to make an ext4 file system with [`make`].
pub struct NewExt4<'a> {
    pub label: &'a str,
    pub uuid: &'a str,
    pub bytes: u64,
    /// What it holds: a copy of what this folder holds, owned by root.
    pub from: &'a Path,
    pub owner: Owner,
    /// No journal (a file system that is only ever mounted read-only needs none).
    pub journal: bool,
    pub stamp: u64,
}

/// Makes the image file `out` holding a new ext4 file system as `spec` says.
pub fn make(out: &Path, spec: &NewExt4) -> Result<(), DiskError> {
    File::create(out)
        .and_then(|file| file.set_len(spec.bytes))
        .map_err(io_error("create", out))?;
    let features = if spec.journal {
        "has_journal"
    } else {
        "^has_journal"
    };
    let mut command = Command::new("mke2fs");
    command
        .args([
            "-q", "-F", "-t", "ext4", "-m", "0", "-O", features, "-L", spec.label,
        ])
        .args(["-U", spec.uuid, "-E"])
        .arg(format!(
            "hash_seed={},root_owner={}:{}",
            spec.uuid, spec.owner.uid, spec.owner.gid
        ))
        .arg(out)
        .env("E2FSPROGS_FAKE_TIME", spec.stamp.to_string())
        .env("SOURCE_DATE_EPOCH", spec.stamp.to_string());
    run(command, "mke2fs", out)?;
    // Written one by one in name order rather than with `mke2fs -d`, which takes them in the
    // order the folder lists them, so that the same files give the same bytes.
    let fs = Ext4 {
        disk: out.to_path_buf(),
        offset: 0,
        number: 0,
        stamp: spec.stamp,
    };
    let mut edits = fs.edits();
    copy_tree(&mut edits, spec.from, "")?;
    edits.apply(out.parent().unwrap_or(Path::new(".")))
}

/// Adds what the local folder `from` holds to the folder `to` of the file system, in name order.
fn copy_tree(edits: &mut Edits, from: &Path, to: &str) -> Result<(), DiskError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(from).map_err(io_error("read", from))? {
        entries.push(entry.map_err(io_error("read", from))?.path());
    }
    entries.sort();
    for here in entries {
        let name = here.file_name().expect("a listed entry has a name");
        let path = format!("{to}/{}", name.to_string_lossy());
        let metadata = std::fs::symlink_metadata(&here).map_err(io_error("read", &here))?;
        let mode = metadata.permissions().mode() & 0o7777;
        if metadata.is_dir() {
            edits.folder(&path, mode, Owner::ROOT)?;
            copy_tree(edits, &here, &path)?;
        } else if metadata.is_symlink() {
            let target = std::fs::read_link(&here).map_err(io_error("read", &here))?;
            edits.link(&path, &target.to_string_lossy(), Owner::ROOT)?;
        } else {
            edits.file(&path, &here, mode, Owner::ROOT)?;
        }
    }
    Ok(())
}

fn run(mut command: Command, program: &'static str, path: &Path) -> Result<Output, DiskError> {
    let output = command.output().map_err(|cause| DiskError::Tool {
        path: path.to_path_buf(),
        program,
        cause: if cause.kind() == std::io::ErrorKind::NotFound {
            format!("{program} is not installed; install e2fsprogs")
        } else {
            cause.to_string()
        },
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(DiskError::Tool {
            path: path.to_path_buf(),
            program,
            cause: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// `path` quoted for a debugfs command line, which has no escapes.
fn quoted(path: &str) -> Result<String, DiskError> {
    if path.contains(['"', '\n']) {
        return Err(DiskError::layout(
            Path::new(path),
            "a path with a double quote or a line break cannot be edited",
        ));
    }
    Ok(format!("\"{path}\""))
}
