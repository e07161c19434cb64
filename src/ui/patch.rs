//! The patch screen: "PATCH k" on a band that fills while a button is held to save, blinks when
//! the slot is saved, and stays empty for a load; "EMPTY" under it when the slot has no patch. Owns the band's timing; never loads or saves.

use super::{band, draw_centred, Framebuffer, PatchPhase, PatchView, TEXT_FONT, WIDTH};
use crate::input::BUTTONS;

const LABELS: [&str; BUTTONS] = ["PATCH 1", "PATCH 2", "PATCH 3", "PATCH 4"];
const LABEL_BASELINE: i32 = 37;
/// Below the band.
const EMPTY_BASELINE: i32 = 58;
/// A hold shorter than this is a load; the save bar starts filling here…
const FILL_START: f32 = 0.25;
/// …and is full, and the slot saved, this much later.
const FILL_SECONDS: f32 = 0.5;
/// After a save the band stays off this long, then comes on solid.
const BLINK_SECONDS: f32 = 0.1;

/// How many columns of the band are white, from the left edge.
fn band_width(view: &PatchView) -> u32 {
    match view.phase {
        PatchPhase::Started if view.elapsed >= FILL_START => {
            let filled = ((view.elapsed - FILL_START) / FILL_SECONDS).clamp(0.0, 1.0);
            (filled * WIDTH as f32).trunc() as u32
        }
        PatchPhase::Saved if view.elapsed > BLINK_SECONDS => WIDTH as u32,
        _ => 0,
    }
}

/// Draws the label of `view.slot` (none for a slot without a button) and the band.
pub(super) fn draw(view: &PatchView, frame: &mut Framebuffer) {
    if let Some(label) = LABELS.get(view.slot) {
        draw_centred(frame, label, &TEXT_FONT, LABEL_BASELINE);
    }
    frame.invert(band(band_width(view)));
    if view.phase == PatchPhase::Empty {
        draw_centred(frame, "EMPTY", &TEXT_FONT, EMPTY_BASELINE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(phase: PatchPhase, elapsed: f32) -> PatchView {
        PatchView {
            slot: 0,
            phase,
            elapsed,
        }
    }

    #[test]
    fn the_save_bar_fills_between_a_quarter_and_three_quarters_of_a_second() {
        assert_eq!(band_width(&view(PatchPhase::Started, 0.0)), 0);
        assert_eq!(band_width(&view(PatchPhase::Started, 0.25)), 0);
        assert_eq!(band_width(&view(PatchPhase::Started, 0.5)), 64);
        assert_eq!(band_width(&view(PatchPhase::Started, 0.625)), 96);
        assert_eq!(band_width(&view(PatchPhase::Started, 0.75)), 128);
        assert_eq!(band_width(&view(PatchPhase::Started, 3.0)), 128);
    }

    #[test]
    fn a_save_blinks_the_band_off_then_holds_it() {
        assert_eq!(band_width(&view(PatchPhase::Saved, 0.0)), 0);
        assert_eq!(band_width(&view(PatchPhase::Saved, 0.1)), 0);
        assert_eq!(band_width(&view(PatchPhase::Saved, 0.11)), 128);
        assert_eq!(band_width(&view(PatchPhase::Saved, 5.0)), 128);
    }

    #[test]
    fn loads_and_idle_show_no_band() {
        assert_eq!(band_width(&view(PatchPhase::Loaded, 0.5)), 0);
        assert_eq!(band_width(&view(PatchPhase::Idle, 0.5)), 0);
        assert_eq!(band_width(&view(PatchPhase::Empty, 0.5)), 0);
    }
}
