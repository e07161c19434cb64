//! The OLED in a terminal: each pair of pixel rows becomes one line of Unicode half blocks, and
//! PBM screenshots of the same pixels. Pure text; `crossterm` output lives in the simulator loop.

use crate::ui::Pages;

fn pixel(pages: &Pages, x: usize, y: usize) -> bool {
    pages[y / 8][x] & (1 << (y % 8)) != 0
}

/// The screen as 32 lines of 128 characters: `▀` top pixel on, `▄` bottom on, `█` both.
pub fn half_blocks(pages: &Pages) -> Vec<String> {
    (0..32)
        .map(|line| {
            (0..128)
                .map(
                    |x| match (pixel(pages, x, 2 * line), pixel(pages, x, 2 * line + 1)) {
                        (false, false) => ' ',
                        (true, false) => '▀',
                        (false, true) => '▄',
                        (true, true) => '█',
                    },
                )
                .collect()
        })
        .collect()
}

/// The screen as a plain PBM (P1) image, 1 = lit.
pub fn pbm(pages: &Pages) -> String {
    let mut text = String::from("P1\n128 64\n");
    for y in 0..64 {
        for x in 0..128 {
            text.push(if pixel(pages, x, y) { '1' } else { '0' });
            text.push(if x == 127 { '\n' } else { ' ' });
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_pairs_become_half_blocks() {
        let mut pages = [[0u8; 128]; 8];
        pages[0][0] = 0b0000_0001; // (0,0)
        pages[0][1] = 0b0000_0010; // (1,1)
        pages[0][2] = 0b0000_0011; // (2,0) and (2,1)
        pages[7][127] = 0b1000_0000; // (127,63)
        let lines = half_blocks(&pages);
        assert_eq!(lines.len(), 32);
        assert!(lines[0].starts_with("▀▄█ "));
        assert!(lines[31].ends_with('▄'));
    }

    #[test]
    fn pbm_lists_every_pixel() {
        let mut pages = [[0u8; 128]; 8];
        pages[1][3] = 0b0000_0100; // (3,10)
        let image = pbm(&pages);
        let rows: Vec<&str> = image.lines().skip(2).collect();
        assert_eq!(rows.len(), 64);
        assert_eq!(rows[10].split(' ').nth(3), Some("1"));
        assert_eq!(
            image.matches('1').count(),
            3,
            "the header's two 1s and one pixel"
        );
    }
}
