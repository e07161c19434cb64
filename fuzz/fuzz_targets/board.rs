//! Board description files: any text through `Board::from_text`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use open_nsynth::board::Board;

fuzz_target!(|data: &[u8]| {
    // Board files are read as UTF-8 text, so nothing else reaches the parser.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Board::from_text(text, Path::new("board.toml"));
    }
});
