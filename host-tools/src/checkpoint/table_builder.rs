//! Writer of the sorted table format that `table.rs` reads, laid out as TensorFlow's own table
//! builder lays it out: uncompressed data blocks of about 256 KiB with a restart point every 16
//! entries, an empty metaindex block, an index block of shortest separators, the footer. Given
//! the same entries it produces the same bytes as TensorFlow. It never reorders keys: callers
//! hand them in strictly increasing order.

use super::table::{block_crc, put_varint, BlockHandle, FOOTER_LEN, MAGIC, TRAILER_LEN};

/// TensorFlow's default table block size.
const BLOCK_SIZE: usize = 256 * 1024;
const DATA_RESTART_INTERVAL: usize = 16;
/// Every index entry is a restart point, so a reader can binary-search the index.
const INDEX_RESTART_INTERVAL: usize = 1;

/// The table holding `entries`, whose keys must be strictly increasing.
pub(super) fn build_table<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let mut file = Vec::new();
    let mut data = BlockBuilder::new(DATA_RESTART_INTERVAL);
    let mut index = BlockBuilder::new(INDEX_RESTART_INTERVAL);
    let mut last_key: &[u8] = &[];
    // A block's index key waits for the next block's first key, so it can be a short separator.
    let mut unindexed: Option<BlockHandle> = None;
    for (key, value) in entries {
        debug_assert!(key > last_key || file.is_empty() && data.is_empty());
        if let Some(handle) = unindexed.take() {
            index.add(&shortest_separator(last_key, key), &encoded(handle));
        }
        data.add(key, value);
        last_key = key;
        if data.size_estimate() >= BLOCK_SIZE {
            unindexed = Some(write_block(&mut file, &data.finish()));
        }
    }
    if !data.is_empty() {
        unindexed = Some(write_block(&mut file, &data.finish()));
    }
    let metaindex = write_block(
        &mut file,
        &BlockBuilder::new(DATA_RESTART_INTERVAL).finish(),
    );
    if let Some(handle) = unindexed {
        index.add(&short_successor(last_key), &encoded(handle));
    }
    let index = write_block(&mut file, &index.finish());
    let footer_start = file.len();
    metaindex.encode(&mut file);
    index.encode(&mut file);
    file.resize(footer_start + FOOTER_LEN - 8, 0);
    file.extend_from_slice(&MAGIC.to_le_bytes());
    file
}

/// Appends `contents` with an uncompressed trailer.
pub(super) fn write_block(file: &mut Vec<u8>, contents: &[u8]) -> BlockHandle {
    let handle = BlockHandle {
        offset: file.len() as u64,
        size: contents.len() as u64,
    };
    file.extend_from_slice(contents);
    file.push(0);
    file.extend_from_slice(&block_crc(contents, 0).to_le_bytes());
    debug_assert_eq!(
        file.len() as u64,
        handle.offset + handle.size + TRAILER_LEN as u64
    );
    handle
}

fn encoded(handle: BlockHandle) -> Vec<u8> {
    let mut bytes = Vec::new();
    handle.encode(&mut bytes);
    bytes
}

/// The shortest key ≥ `start` and < `limit`: `start` cut after its first differing byte,
/// incremented, where that stays below `limit`; otherwise `start` itself.
fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let common = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
    match (start.get(common), limit.get(common)) {
        (Some(&byte), Some(&limit_byte)) if byte < 0xff && byte + 1 < limit_byte => {
            let mut separator = start[..=common].to_vec();
            separator[common] += 1;
            separator
        }
        _ => start.to_vec(),
    }
}

/// The shortest key ≥ `key`: its first byte below 0xff, incremented, ends it.
fn short_successor(key: &[u8]) -> Vec<u8> {
    match key.iter().position(|&byte| byte != 0xff) {
        Some(at) => {
            let mut successor = key[..=at].to_vec();
            successor[at] += 1;
            successor
        }
        None => key.to_vec(),
    }
}

/// Prefix-compressed entries followed by the restart offsets and their count.
struct BlockBuilder {
    buffer: Vec<u8>,
    restarts: Vec<u32>,
    since_restart: usize,
    restart_interval: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    fn new(restart_interval: usize) -> Self {
        Self {
            buffer: Vec::new(),
            restarts: vec![0],
            since_restart: 0,
            restart_interval,
            last_key: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.since_restart < self.restart_interval {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buffer.len() as u32);
            self.since_restart = 0;
            0
        };
        put_varint(&mut self.buffer, shared as u64);
        put_varint(&mut self.buffer, (key.len() - shared) as u64);
        put_varint(&mut self.buffer, value.len() as u64);
        self.buffer.extend_from_slice(&key[shared..]);
        self.buffer.extend_from_slice(value);
        self.last_key = key.to_vec();
        self.since_restart += 1;
    }

    fn size_estimate(&self) -> usize {
        self.buffer.len() + 4 * self.restarts.len() + 4
    }

    /// The block's contents; the builder starts over empty.
    fn finish(&mut self) -> Vec<u8> {
        let mut contents = std::mem::take(&mut self.buffer);
        for restart in &self.restarts {
            contents.extend_from_slice(&restart.to_le_bytes());
        }
        contents.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        *self = Self::new(self.restart_interval);
        contents
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_short_and_between_their_keys() {
        assert_eq!(shortest_separator(b"abcd", b"abzz"), b"abd");
        assert_eq!(shortest_separator(b"abc", b"abd"), b"abc");
        assert_eq!(shortest_separator(b"ab", b"abc"), b"ab");
        assert_eq!(shortest_separator(b"a\xff", b"b"), b"a\xff");
        assert_eq!(
            short_successor(b"startconv/biases/ExponentialMovingAverage"),
            b"t"
        );
        assert_eq!(short_successor(b"\xff\xffa"), b"\xff\xffb");
        assert_eq!(short_successor(b"\xff"), b"\xff");
    }

    #[test]
    fn an_empty_table_is_an_empty_metaindex_an_empty_index_and_the_footer() {
        let table = build_table([]);
        let empty_block = [0, 0, 0, 0, 1, 0, 0, 0];
        assert_eq!(table.len(), 2 * (8 + TRAILER_LEN) + FOOTER_LEN);
        assert_eq!(table[..8], empty_block);
        assert_eq!(table[13..21], empty_block);
        assert_eq!(table[26..30], [0, 8, 13, 8]);
        assert_eq!(
            table[table.len() - 8..],
            [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]
        );
    }

    #[test]
    fn a_restart_starts_every_sixteenth_entry_with_no_shared_prefix() {
        let keys: Vec<String> = (0..20).map(|i| format!("key{i:02}")).collect();
        let mut block = BlockBuilder::new(DATA_RESTART_INTERVAL);
        let mut offsets = Vec::new();
        for key in &keys {
            offsets.push(block.buffer.len() as u32);
            block.add(key.as_bytes(), b"v");
        }
        let contents = block.finish();
        let tail = &contents[contents.len() - 12..];
        assert_eq!(tail[..4], 0u32.to_le_bytes());
        assert_eq!(tail[4..8], offsets[16].to_le_bytes());
        assert_eq!(tail[8..], 2u32.to_le_bytes());
        // "key16" after "key15" would share 4 bytes; at a restart it shares none.
        assert_eq!(contents[offsets[16] as usize..][..3], [0, 5, 1]);
        assert_eq!(contents[offsets[15] as usize..][..3], [4, 1, 1]);
    }
}
