//! `Window`: a byte range of a disk (one partition) read, written and sought as if it were a file
//! of its own, for the FAT library. It never reads or writes outside its range.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt as _;

pub struct Window<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    position: u64,
}

impl<'a> Window<'a> {
    pub fn new(file: &'a File, start: u64, len: u64) -> Self {
        Window {
            file,
            start,
            len,
            position: 0,
        }
    }

    /// How much of `wanted` bytes fits between the position and the end.
    fn room(&self, wanted: usize) -> usize {
        wanted.min(self.len.saturating_sub(self.position) as usize)
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        let read = self
            .file
            .read_at(&mut buf[..n], self.start + self.position)?;
        self.position += read as u64;
        Ok(read)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        let written = self.file.write_at(&buf[..n], self.start + self.position)?;
        self.position += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        match target {
            Some(position) if position <= self.len => {
                self.position = position;
                Ok(position)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the partition",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_and_writes_only_its_own_range() {
        let file = tempfile::tempfile().unwrap();
        file.write_all_at(b"0123456789", 0).unwrap();
        let mut window = Window::new(&file, 2, 4);
        let mut read = Vec::new();
        window.read_to_end(&mut read).unwrap();
        assert_eq!(read, b"2345");
        assert_eq!(window.seek(SeekFrom::End(-1)).unwrap(), 3);
        assert!(
            window.write_all(b"xy").is_err(),
            "the second byte lies past the end"
        );
        assert!(window.seek(SeekFrom::Start(5)).is_err());
        assert!(window.seek(SeekFrom::Current(-10)).is_err());
        let mut all = [0; 10];
        file.read_exact_at(&mut all, 0).unwrap();
        assert_eq!(&all, b"01234x6789");
    }
}
