//! Golden images of every screen: each is rendered from a defined model state and compared pixel
//! for pixel with a reference PNG under `tests/golden/`. A mismatch writes `<name>.actual.png`
//! beside the reference and fails with the number of differing pixels; `UPDATE_GOLDEN=1`
//! rewrites the references (look at them before committing).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use embedded_graphics::prelude::Point;
use open_nsynth::ui::{
    CornerView, Framebuffer, PatchPhase, PatchView, Screen, ScreenModel, Ui, HEIGHT, WIDTH,
};

const FRAME_SECONDS: f32 = 1.0 / 30.0;
/// Long enough for the particle springs and the scroller to come to rest.
const SETTLE_FRAMES: usize = 120;

fn corner(abbr: &str, names: &[&str]) -> CornerView {
    CornerView {
        abbr: abbr.to_owned(),
        names: names.iter().map(|&name| name.to_owned()).collect(),
        selected: 0,
        direction: 0,
    }
}

/// The shipped settings' corners, except that the top-left one has three instruments (a list
/// length that is not a power of two) and the bottom-right label is wider than the top-right
/// one, so the fixed right alignment shows.
fn model(screen: Screen) -> ScreenModel {
    ScreenModel {
        screen,
        cursor: (5, 5),
        corners: [
            corner("BA", &["Bass", "Flute", "Guitar"]),
            corner("GT", &["Guitar", "Mallet"]),
            corner("OR", &["Organ", "Brass"]),
            corner("VOX", &["Reed", "Vocal"]),
        ],
        knobs: [0.5; 6],
        stage: 0,
        patch: PatchView {
            slot: 0,
            phase: PatchPhase::Idle,
            elapsed: 0.0,
        },
    }
}

/// Runs `frames` frames of `model` on `ui` and returns the last.
fn run(ui: &mut Ui, model: &ScreenModel, frames: usize) -> Framebuffer {
    let mut frame = Framebuffer::new();
    for _ in 0..frames {
        ui.frame(model, FRAME_SECONDS, &mut frame);
    }
    frame
}

/// One frame of `model` on a fresh [`Ui`].
fn still(model: &ScreenModel) -> Framebuffer {
    run(&mut Ui::new(), model, 1)
}

fn grey(frame: &Framebuffer) -> Vec<u8> {
    (0..HEIGHT as i32)
        .flat_map(|y| (0..WIDTH as i32).map(move |x| Point::new(x, y)))
        .map(|point| if frame.is_on(point) { 255 } else { 0 })
        .collect()
}

fn write_png(path: &Path, pixels: &[u8]) {
    let file = File::create(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut encoder = png::Encoder::new(BufWriter::new(file), WIDTH as u32, HEIGHT as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(pixels).expect("PNG data");
}

fn read_png(path: &Path) -> Vec<u8> {
    let file = File::open(path).unwrap_or_else(|error| {
        panic!(
            "{}: {error} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    let mut reader = png::Decoder::new(BufReader::new(file))
        .read_info()
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut pixels).expect("PNG frame");
    assert_eq!(
        (info.width, info.height, info.color_type, info.bit_depth),
        (
            WIDTH as u32,
            HEIGHT as u32,
            png::ColorType::Grayscale,
            png::BitDepth::Eight
        ),
        "{} is not a 128×64 8-bit grey image",
        path.display()
    );
    pixels.truncate(info.buffer_size());
    pixels
}

fn golden_path(name: &str, suffix: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}{suffix}"))
}

fn check(name: &str, frame: &Framebuffer) {
    let reference = golden_path(name, ".png");
    let actual = golden_path(name, ".actual.png");
    let pixels = grey(frame);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        write_png(&reference, &pixels);
        let _ = std::fs::remove_file(&actual);
        return;
    }
    let expected = read_png(&reference);
    let differing = pixels
        .iter()
        .zip(&expected)
        .filter(|(got, want)| got != want)
        .count();
    if differing == 0 {
        let _ = std::fs::remove_file(&actual);
        return;
    }
    write_png(&actual, &pixels);
    panic!(
        "{name}: {differing} pixels differ from {}; the frame drawn is in {}",
        reference.display(),
        actual.display()
    );
}

#[test]
fn home_before_the_particles_move() {
    check("home_start", &still(&model(Screen::Home)));
}

#[test]
fn home_with_the_cursor_in_the_middle() {
    let frame = run(&mut Ui::new(), &model(Screen::Home), SETTLE_FRAMES);
    check("home_middle", &frame);
}

#[test]
fn home_with_the_cursor_in_a_corner() {
    let mut home = model(Screen::Home);
    home.cursor = (10, 0);
    check("home_corner", &run(&mut Ui::new(), &home, SETTLE_FRAMES));
}

#[test]
fn home_while_the_particles_spring_to_a_new_cell() {
    let mut ui = Ui::new();
    let mut home = model(Screen::Home);
    run(&mut ui, &home, SETTLE_FRAMES);
    home.cursor = (2, 8);
    check("home_moving", &run(&mut ui, &home, 3));
}

/// The scroller of corner 0 after the encoder turned to `selected` in `direction`.
fn scroller(selected: usize, direction: i8) -> ScreenModel {
    let mut scroller = model(Screen::Instrument(0));
    scroller.corners[0].selected = selected;
    scroller.corners[0].direction = direction;
    scroller
}

#[test]
fn scroller_settled_on_the_first_name_wraps_the_last_above_it() {
    check("scroller_first", &still(&scroller(0, 0)));
}

#[test]
fn scroller_mid_scroll_forward() {
    check("scroller_forward", &run(&mut Ui::new(), &scroller(1, 1), 3));
}

#[test]
fn scroller_settled_forward() {
    let frame = run(&mut Ui::new(), &scroller(1, 1), SETTLE_FRAMES);
    check("scroller_second", &frame);
}

#[test]
fn scroller_mid_scroll_back_from_the_first_name() {
    check("scroller_back", &run(&mut Ui::new(), &scroller(2, -1), 3));
}

#[test]
fn scroller_settled_back_on_the_last_name() {
    let frame = run(&mut Ui::new(), &scroller(2, -1), SETTLE_FRAMES);
    check("scroller_last", &frame);
}

#[test]
fn the_scroller_only_moves_while_shown() {
    let mut ui = Ui::new();
    run(&mut ui, &scroller(1, 1), 2);
    let mut hidden = scroller(1, 1);
    hidden.screen = Screen::Home;
    run(&mut ui, &hidden, SETTLE_FRAMES);
    let resumed = run(&mut ui, &scroller(1, 1), 1);
    assert_eq!(resumed, run(&mut Ui::new(), &scroller(1, 1), 3));
}

#[test]
fn position_screens() {
    for (name, position) in [
        ("position_0", 0.0),
        ("position_half", 0.5),
        ("position_1", 1.0),
    ] {
        let mut screen = model(Screen::Position);
        screen.knobs[0] = position;
        check(name, &still(&screen));
    }
}

#[test]
fn envelope_screens_highlight_each_stage() {
    for (stage, name) in ["attack", "decay", "sustain", "release"]
        .into_iter()
        .enumerate()
    {
        let mut screen = model(Screen::Envelope);
        screen.knobs = [0.5, 0.3, 0.6, 0.7, 0.4, 0.5];
        screen.stage = stage;
        check(&format!("envelope_{name}"), &still(&screen));
    }
}

#[test]
fn volume_screens() {
    for (name, volume) in [("volume_0", 0.0), ("volume_half", 0.5), ("volume_1", 1.0)] {
        let mut screen = model(Screen::Volume);
        screen.knobs[5] = volume;
        check(name, &still(&screen));
    }
}

#[test]
fn patch_screens() {
    for (name, slot, phase, elapsed) in [
        ("patch_held", 1, PatchPhase::Started, 0.5),
        ("patch_saved_blink", 2, PatchPhase::Saved, 0.05),
        ("patch_saved", 2, PatchPhase::Saved, 0.5),
        ("patch_loaded", 3, PatchPhase::Loaded, 0.1),
    ] {
        let mut screen = model(Screen::Patch);
        screen.patch = PatchView {
            slot,
            phase,
            elapsed,
        };
        check(name, &still(&screen));
    }
}
