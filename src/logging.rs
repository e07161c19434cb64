//! Where log lines go and what they look like: one `tracing` subscriber on standard error for
//! both programs, filtered by `RUST_LOG` (default `info`), coloured only when standard error is a
//! terminal, so the systemd journal and log files get plain text; libraries whose failures the
//! program reports in its own errors kept quiet; and, for the device, the ALSA library's own
//! error messages routed into it (`alsa`). It never writes log lines anywhere else and never
//! decides what is worth logging.

#[cfg(all(feature = "device", target_os = "linux"))]
mod alsa;

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Whether each line starts with the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamps {
    /// The time, for logs kept in files (the host tools' long jobs).
    Include,
    /// No time: the device runs under systemd, whose journal stamps every line itself.
    Omit,
}

/// Installs the subscriber for the rest of the process; call it once, first thing in `main`.
pub fn init(timestamps: Timestamps) {
    init_quieting(timestamps, &[]);
}

/// As [`init`], leaving out the lines of the log targets `quiet` unless `RUST_LOG` names them:
/// libraries whose failures the program reports in its own errors (host-tools: the audio
/// decoder, `symphonia`).
pub fn init_quieting(timestamps: Timestamps, quiet: &[&str]) {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let filter = EnvFilter::try_new(directives(rust_log.as_deref(), quiet))
        .unwrap_or_else(|_| EnvFilter::new(directives(None, quiet)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match timestamps {
        Timestamps::Include => builder.init(),
        Timestamps::Omit => builder.without_time().init(),
    }
}

/// The filter directives: `RUST_LOG` (else `info`), then `<target>=off` for each `quiet` target
/// it does not mention.
fn directives(rust_log: Option<&str>, quiet: &[&str]) -> String {
    let mut directives = rust_log
        .filter(|text| !text.trim().is_empty())
        .unwrap_or("info")
        .to_owned();
    for target in quiet {
        if !directives.contains(target) {
            directives.push_str(&format!(",{target}=off"));
        }
    }
    directives
}

/// From now on the ALSA library's error messages are logged at debug level (target `alsa`)
/// instead of being printed to standard error; the first one of the process also gets a warning.
/// Call it after [`init`] and before anything opens a sound card or the MIDI sequencer. Without
/// the `device` feature, or off Linux, there is no ALSA and this does nothing.
pub fn route_alsa_errors() {
    #[cfg(all(feature = "device", target_os = "linux"))]
    alsa::route_errors();
}

/// Runs `f` with every event it logs on this thread recorded as one line, `LEVEL message`.
#[cfg(test)]
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    use std::sync::{Arc, Mutex, PoisonError};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            lines.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let bytes = lines.0.lock().unwrap_or_else(PoisonError::into_inner);
    let text = String::from_utf8_lossy(&bytes);
    (
        result,
        text.lines().map(|line| line.trim().to_owned()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_targets_are_off_unless_rust_log_names_them() {
        assert_eq!(directives(None, &["symphonia"]), "info,symphonia=off");
        assert_eq!(directives(Some(" "), &[]), "info");
        assert_eq!(
            directives(Some("debug"), &["symphonia"]),
            "debug,symphonia=off"
        );
        assert_eq!(
            directives(Some("info,symphonia=debug"), &["symphonia"]),
            "info,symphonia=debug"
        );
    }
}
