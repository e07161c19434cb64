//! Errors as `main` prints them (`{:#}` of an `anyhow::Error`): every cause is said once, even
//! where an error type names its cause in its own message.

mod support;

use std::path::Path;

use open_nsynth::pad::PadFile;
use open_nsynth::settings::Settings;

/// `{:#}` of `error` wrapped as `main` wraps it, after checking that no part of it between
/// `: ` separators comes twice.
fn printed(error: impl std::error::Error + Send + Sync + 'static) -> String {
    let text = format!("{:#}", anyhow::Error::from(error).context("starting"));
    let parts: Vec<&str> = text.split(": ").collect();
    for (index, part) in parts.iter().enumerate() {
        assert!(
            !parts[index + 1..].contains(part),
            "`{part}` is said twice in: {text}"
        );
    }
    text
}

/// Asserts that `text` holds `cause` exactly once.
fn once(text: &str, cause: &str) {
    assert_eq!(text.matches(cause).count(), 1, "`{cause}` once in: {text}");
}

fn io_cause(path: &Path) -> String {
    std::fs::read(path).unwrap_err().to_string()
}

#[test]
fn a_settings_syntax_error_names_the_file_and_the_place_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let text = "{\"nsynth\": {\"resolution\": 9,}}";
    std::fs::write(&path, text).unwrap();
    let syntax = serde_json::from_str::<serde_json::Value>(text)
        .unwrap_err()
        .to_string();
    let message = printed(Settings::from_file(&path).unwrap_err());
    assert!(
        message.contains("settings.json: not valid JSON"),
        "{message}"
    );
    once(&message, &syntax);
}

#[test]
fn a_missing_settings_file_gives_the_system_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.json");
    let message = printed(Settings::from_file(&path).unwrap_err());
    assert!(message.contains("cannot read settings file"), "{message}");
    assert!(message.contains("nowhere.json"), "{message}");
    once(&message, &io_cause(&path));
}

#[test]
fn a_missing_pad_gives_the_system_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flute_brass_reed_bell.bin");
    let message = printed(PadFile::open(&path, &support::layout()).unwrap_err());
    assert!(message.contains("cannot open pad"), "{message}");
    assert!(message.contains("flute_brass_reed_bell.bin"), "{message}");
    once(&message, &io_cause(&path));
}
