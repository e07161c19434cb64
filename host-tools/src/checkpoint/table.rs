//! Reader of the LevelDB-style sorted table that TensorFlow writes as a checkpoint's `.index`
//! file (footer, block handles, checksummed blocks of prefix-compressed entries), plus the
//! primitives its writer shares. It knows nothing of what the keys and values mean, and it never
//! accepts a byte it has not checked: every problem names the file and the byte offset.

use std::path::Path;

use super::CheckpointError;

/// The last 8 bytes of every table, as a little-endian `u64`.
pub(super) const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Two block handles padded to 40 bytes, then the magic.
pub(super) const FOOTER_LEN: usize = 48;
const HANDLES_LEN: usize = FOOTER_LEN - 8;
/// Compression type byte and masked CRC32C after every block.
pub(super) const TRAILER_LEN: usize = 5;
const NO_COMPRESSION: u8 = 0;
const SNAPPY: u8 = 1;
const CRC_MASK_DELTA: u32 = 0xa282_ead8;

/// TensorFlow stores CRCs rotated and offset, so that the CRC of data which itself holds CRCs
/// does not degenerate.
pub(super) fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(CRC_MASK_DELTA)
}

pub(super) fn unmask_crc(masked: u32) -> u32 {
    masked.wrapping_sub(CRC_MASK_DELTA).rotate_left(15)
}

/// The checksum stored in a block trailer: over the contents and the compression type byte.
pub(super) fn block_crc(contents: &[u8], compression: u8) -> u32 {
    mask_crc(crc32c::crc32c_append(
        crc32c::crc32c(contents),
        &[compression],
    ))
}

/// Unsigned LEB128, as tables and protobuf both write integers.
pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Where a block lies in the file; `size` excludes the trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.offset);
        put_varint(out, self.size);
    }
}

/// One key/value pair, with the file offsets of its entry and of its value for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub offset: u64,
    pub value_offset: u64,
}

/// Every entry of the table `file`, the contents of `path`, in key order (index block, then each
/// data block).
pub(super) fn parse_table(path: &Path, file: &[u8]) -> Result<Vec<TableEntry>, CheckpointError> {
    let table = Table { path, file };
    let (_metaindex, index) = table.footer()?;
    let index_entries = table.block_entries(index)?;
    table.check_increasing(&index_entries)?;
    let mut entries = Vec::new();
    for index_entry in &index_entries {
        let mut cursor = table.cursor(&index_entry.value, index_entry.value_offset);
        let handle = cursor.handle("a data block handle")?;
        entries.extend(table.block_entries(handle)?);
    }
    table.check_increasing(&entries)?;
    Ok(entries)
}

struct Table<'a> {
    path: &'a Path,
    file: &'a [u8],
}

impl<'a> Table<'a> {
    fn malformed(&self, offset: u64, expected: impl Into<String>) -> CheckpointError {
        CheckpointError::Malformed {
            path: self.path.to_owned(),
            offset,
            expected: expected.into(),
        }
    }

    fn cursor(&self, bytes: &'a [u8], base: u64) -> Cursor<'a> {
        Cursor {
            path: self.path,
            bytes,
            base,
            position: 0,
        }
    }

    /// The metaindex and index handles.
    fn footer(&self) -> Result<(BlockHandle, BlockHandle), CheckpointError> {
        let len = self.file.len();
        let Some(start) = len.checked_sub(FOOTER_LEN) else {
            return Err(self.malformed(
                0,
                format!("a table of at least {FOOTER_LEN} bytes (its footer), found {len}"),
            ));
        };
        let magic = u64::from_le_bytes(self.file[len - 8..].try_into().expect("8 bytes"));
        if magic != MAGIC {
            return Err(self.malformed(
                (len - 8) as u64,
                format!(
                    "the table magic {:02x?}, found {:02x?}; this is not a TensorFlow V2 \
                     checkpoint index",
                    MAGIC.to_le_bytes(),
                    magic.to_le_bytes()
                ),
            ));
        }
        let mut cursor = self.cursor(&self.file[start..start + HANDLES_LEN], start as u64);
        Ok((
            cursor.handle("the metaindex block handle")?,
            cursor.handle("the index block handle")?,
        ))
    }

    /// The contents of the block at `handle`, checksum verified.
    fn block(&self, handle: BlockHandle) -> Result<&'a [u8], CheckpointError> {
        let len = self.file.len() as u64;
        let end = handle
            .offset
            .checked_add(handle.size)
            .and_then(|end| end.checked_add(TRAILER_LEN as u64))
            .filter(|&end| end <= len);
        if end.is_none() {
            return Err(self.malformed(
                handle.offset,
                format!(
                    "a block of {} bytes plus its {TRAILER_LEN}-byte trailer inside the file of \
                     {len} bytes",
                    handle.size
                ),
            ));
        }
        let (start, size) = (handle.offset as usize, handle.size as usize);
        let contents = &self.file[start..start + size];
        let compression = self.file[start + size];
        let stored = u32::from_le_bytes(
            self.file[start + size + 1..start + size + TRAILER_LEN]
                .try_into()
                .expect("4 bytes"),
        );
        let computed = block_crc(contents, compression);
        if stored != computed {
            return Err(CheckpointError::BlockChecksum {
                path: self.path.to_owned(),
                offset: handle.offset,
                stored,
                computed,
            });
        }
        match compression {
            NO_COMPRESSION => Ok(contents),
            SNAPPY => Err(CheckpointError::Compressed {
                path: self.path.to_owned(),
                offset: handle.offset,
            }),
            other => Err(self.malformed(
                (start + size) as u64,
                format!("compression type 0 (none) or 1 (Snappy), found {other}"),
            )),
        }
    }

    /// The entries of the block at `handle`. The restart array at the block's end only speeds
    /// up seeking; a sequential reader needs just its length to know where entries stop.
    fn block_entries(&self, handle: BlockHandle) -> Result<Vec<TableEntry>, CheckpointError> {
        let contents = self.block(handle)?;
        let size = contents.len();
        let Some(count_at) = size.checked_sub(4) else {
            return Err(self.malformed(
                handle.offset,
                format!("a block of at least 4 bytes (its restart count), found {size}"),
            ));
        };
        let restarts = u32::from_le_bytes(contents[count_at..].try_into().expect("4 bytes"));
        let Some(entries_len) = (restarts as usize)
            .checked_mul(4)
            .and_then(|restarts_len| count_at.checked_sub(restarts_len))
        else {
            return Err(self.malformed(
                handle.offset + count_at as u64,
                format!("a restart count that fits the block of {size} bytes, found {restarts}"),
            ));
        };
        let mut cursor = self.cursor(&contents[..entries_len], handle.offset);
        let mut entries: Vec<TableEntry> = Vec::new();
        while !cursor.at_end() {
            let offset = cursor.offset();
            let previous_key = entries.last().map_or(&[][..], |entry| &entry.key);
            let shared = cursor.varint32("the shared key length of an entry")? as usize;
            if shared > previous_key.len() {
                return Err(self.malformed(
                    offset,
                    format!(
                        "a shared key prefix of at most {} bytes (the previous key's length), \
                         found {shared}",
                        previous_key.len()
                    ),
                ));
            }
            let unshared = cursor.varint32("the unshared key length of an entry")?;
            let value_len = cursor.varint32("the value length of an entry")?;
            let mut key = previous_key[..shared].to_vec();
            key.extend_from_slice(cursor.take(unshared as usize, "the key bytes of an entry")?);
            let value_offset = cursor.offset();
            let value = cursor.take(value_len as usize, "the value bytes of an entry")?;
            entries.push(TableEntry {
                key,
                value: value.to_vec(),
                offset,
                value_offset,
            });
        }
        Ok(entries)
    }

    fn check_increasing(&self, entries: &[TableEntry]) -> Result<(), CheckpointError> {
        match entries.windows(2).find(|pair| pair[0].key >= pair[1].key) {
            Some(pair) => Err(self.malformed(
                pair[1].offset,
                format!(
                    "keys in strictly increasing order, found {:?} after {:?}",
                    String::from_utf8_lossy(&pair[1].key),
                    String::from_utf8_lossy(&pair[0].key)
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Reads integers and byte runs from a slice whose first byte lies at file offset `base`.
pub(super) struct Cursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    base: u64,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u64 {
        self.base + self.position as u64
    }

    fn at_end(&self) -> bool {
        self.position == self.bytes.len()
    }

    fn malformed(&self, expected: String) -> CheckpointError {
        CheckpointError::Malformed {
            path: self.path.to_owned(),
            offset: self.offset(),
            expected,
        }
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], CheckpointError> {
        let available = self.bytes.len() - self.position;
        if len > available {
            return Err(self.malformed(format!("{what}: {len} bytes, but only {available} remain")));
        }
        let taken = &self.bytes[self.position..self.position + len];
        self.position += len;
        Ok(taken)
    }

    fn varint64(&mut self, what: &str) -> Result<u64, CheckpointError> {
        let start = self.position;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.bytes.get(self.position) else {
                break;
            };
            self.position += 1;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        self.position = start;
        Err(self.malformed(format!("{what} as a varint")))
    }

    fn varint32(&mut self, what: &str) -> Result<u32, CheckpointError> {
        let start = self.position;
        let value = self.varint64(what)?;
        u32::try_from(value).map_err(|_| {
            self.position = start;
            self.malformed(format!("{what} as a 32-bit varint, found {value}"))
        })
    }

    fn handle(&mut self, what: &str) -> Result<BlockHandle, CheckpointError> {
        Ok(BlockHandle {
            offset: self.varint64(what)?,
            size: self.varint64(what)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::table_builder::{build_table, write_block};
    use super::*;

    const EMPTY_BLOCK: [u8; 8] = [0, 0, 0, 0, 1, 0, 0, 0];

    /// A table whose only data block holds `contents` verbatim.
    fn table_with_data_block(contents: &[u8]) -> Vec<u8> {
        let mut file = Vec::new();
        let data = write_block(&mut file, contents);
        let metaindex = write_block(&mut file, &EMPTY_BLOCK);
        let mut index_block = Vec::new();
        let mut handle = Vec::new();
        data.encode(&mut handle);
        index_block.extend_from_slice(&[0, 1, handle.len() as u8, b'z']);
        index_block.extend_from_slice(&handle);
        index_block.extend_from_slice(&EMPTY_BLOCK);
        let index = write_block(&mut file, &index_block);
        with_footer(file, metaindex, index)
    }

    fn with_footer(mut file: Vec<u8>, metaindex: BlockHandle, index: BlockHandle) -> Vec<u8> {
        let start = file.len();
        metaindex.encode(&mut file);
        index.encode(&mut file);
        file.resize(start + HANDLES_LEN, 0);
        file.extend_from_slice(&MAGIC.to_le_bytes());
        file
    }

    fn read(bytes: &[u8]) -> Result<Vec<TableEntry>, CheckpointError> {
        parse_table(Path::new("t.index"), bytes)
    }

    fn error_of(bytes: &[u8]) -> String {
        read(bytes).unwrap_err().to_string()
    }

    #[test]
    fn crc_masking_round_trips_and_matches_known_values() {
        // CRC32C of "123456789" is 0xe3069283 (the standard check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let masked = mask_crc(0xe306_9283);
        assert_eq!(
            masked,
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
        assert_eq!(unmask_crc(masked), 0xe306_9283);
    }

    #[test]
    fn entries_of_several_blocks_read_back_in_order_with_short_index_keys() {
        let keys: Vec<String> = (0..40).map(|i| format!("layer_{i:02}/W")).collect();
        let values: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 10_000]).collect();
        let table = build_table(
            keys.iter()
                .map(|k| k.as_bytes())
                .zip(values.iter().map(|v| &v[..])),
        );
        let entries = read(&table).unwrap();
        assert_eq!(entries.len(), 40);
        for ((entry, key), value) in entries.iter().zip(&keys).zip(&values) {
            assert_eq!(entry.key, key.as_bytes());
            assert_eq!(&entry.value, value);
        }
        let reader = Table {
            path: Path::new("t.index"),
            file: &table,
        };
        let (_, index) = reader.footer().unwrap();
        let index_keys: Vec<Vec<u8>> = reader
            .block_entries(index)
            .unwrap()
            .into_iter()
            .map(|entry| entry.key)
            .collect();
        // 256 KiB blocks of 10 kB values: 27 entries, then 13.
        assert_eq!(index_keys, [b"layer_26/W".to_vec(), b"m".to_vec()]);
    }

    #[test]
    fn compressed_blocks_are_refused_by_offset() {
        let contents = [&[0, 1, 0, b'a'][..], &EMPTY_BLOCK].concat();
        let mut table = table_with_data_block(&contents);
        let size = contents.len();
        let mut set_compression = |compression: u8| {
            table[size] = compression;
            let crc = block_crc(&contents, compression);
            table[size + 1..size + TRAILER_LEN].copy_from_slice(&crc.to_le_bytes());
            error_of(&table)
        };
        let error = set_compression(SNAPPY);
        assert!(
            error.ends_with(
                "t.index: block at byte 0 is Snappy-compressed, which is not supported; re-save \
                 the checkpoint uncompressed (TensorFlow 1.2 and later always do)"
            ),
            "{error}"
        );
        let error = set_compression(7);
        assert!(
            error.contains(&format!(
                "byte {size}: expected compression type 0 (none) or 1 (Snappy), found 7"
            )),
            "{error}"
        );
    }

    #[test]
    fn a_flipped_byte_fails_its_block_checksum() {
        let table = build_table([(&b"key"[..], &b"value"[..])]);
        let mut corrupt = table.clone();
        corrupt[3] ^= 1;
        let error = error_of(&corrupt);
        assert!(
            error.contains("t.index: block at byte 0: checksum mismatch (stored 0x"),
            "{error}"
        );
    }

    #[test]
    fn short_files_wrong_magic_and_handles_past_the_end_are_refused_with_their_offset() {
        assert!(error_of(&[0; 47]).ends_with(
            "t.index: byte 0: expected a table of at least 48 bytes (its footer), found 47"
        ));
        let mut table = build_table([]);
        let len = table.len();
        table[len - 1] = 0;
        let error = error_of(&table);
        assert!(
            error.contains(&format!("byte {}: expected the table magic", len - 8)),
            "{error}"
        );
        assert!(
            error.contains("this is not a TensorFlow V2 checkpoint index"),
            "{error}"
        );

        let past_the_end = BlockHandle {
            offset: 0,
            size: 500,
        };
        let table = with_footer(EMPTY_BLOCK.to_vec(), past_the_end, past_the_end);
        let error = error_of(&table);
        assert!(error.contains("byte 0: expected a block of 500 bytes plus its 5-byte trailer inside the file of 56 bytes"), "{error}");

        let mut table = with_footer(Vec::new(), past_the_end, past_the_end);
        table[..2].fill(0xff);
        table[2..10].fill(0xff);
        let error = error_of(&table);
        assert!(
            error.contains("byte 0: expected the metaindex block handle as a varint"),
            "{error}"
        );
    }

    #[test]
    fn malformed_entries_name_their_offset_and_what_was_expected() {
        let with_restarts = |entries: &[u8]| [entries, &EMPTY_BLOCK].concat();
        // The first entry of a block cannot share a prefix with anything.
        let error = error_of(&table_with_data_block(&with_restarts(&[3, 1, 0, b'a'])));
        assert!(
            error.contains("byte 0: expected a shared key prefix of at most 0 bytes"),
            "{error}"
        );
        // "b" then "a".
        let error = error_of(&table_with_data_block(&with_restarts(&[
            0, 1, 0, b'b', 0, 1, 0, b'a',
        ])));
        assert!(
            error.contains(
                "byte 4: expected keys in strictly increasing order, found \"a\" after \"b\""
            ),
            "{error}"
        );
        // A value running into the restart array.
        let error = error_of(&table_with_data_block(&with_restarts(&[0, 1, 9, b'a', 1])));
        assert!(
            error.contains(
                "byte 4: expected the value bytes of an entry: 9 bytes, but only 1 remain"
            ),
            "{error}"
        );
        // A length that is no valid varint.
        let error = error_of(&table_with_data_block(&with_restarts(&[
            0, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ])));
        assert!(
            error.contains(
                "byte 1: expected the unshared key length of an entry as a 32-bit varint"
            ),
            "{error}"
        );
        // More restarts than the block can hold.
        let error = error_of(&table_with_data_block(&[0, 0, 0, 0, 9, 0, 0, 0]));
        assert!(
            error.contains(
                "byte 4: expected a restart count that fits the block of 8 bytes, found 9"
            ),
            "{error}"
        );
    }
}
