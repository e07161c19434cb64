//! The ALSA library's error messages, which it would otherwise print to standard error as raw
//! `ALSA lib …` lines (over the simulator's screen, and into the journal without a level). The C
//! shim `alsa.c` (built by `build.rs`) is installed as ALSA's error handler and hands each
//! formatted message to [`open_nsynth_alsa_message`], which logs it at debug level under the
//! `alsa` target and counts it; the first message of the process also gets one warning. It never
//! changes what ALSA does about an error.

use std::borrow::Cow;
use std::ffi::{c_char, c_int, CStr};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

extern "C" {
    /// The shim: an `snd_lib_error_handler_t`.
    fn open_nsynth_alsa_error(
        file: *const c_char,
        line: c_int,
        function: *const c_char,
        err: c_int,
        fmt: *const c_char,
        ...
    );
}

/// Messages the ALSA library has reported in this process.
static REPORTED: AtomicU64 = AtomicU64::new(0);

/// Installs the shim as ALSA's error handler, once per process.
pub(super) fn route_errors() {
    static ROUTED: Once = Once::new();
    ROUTED.call_once(|| {
        // SAFETY: the shim has the handler type ALSA declares and lives as long as the program.
        let status = unsafe { alsa_sys::snd_lib_error_set_handler(Some(open_nsynth_alsa_error)) };
        if status < 0 {
            tracing::debug!("cannot route the ALSA library's messages (error {status})");
        }
    });
}

/// How many messages the ALSA library has reported so far.
#[cfg(test)]
fn reported() -> u64 {
    REPORTED.load(Ordering::Relaxed)
}

/// Called by the shim for every message, on whatever thread ALSA reported it. `err` is an errno
/// value, 0 when the message is all there is.
///
/// # Safety
///
/// Each pointer is null or a NUL-terminated string that outlives the call.
#[unsafe(no_mangle)]
unsafe extern "C" fn open_nsynth_alsa_message(
    file: *const c_char,
    line: c_int,
    function: *const c_char,
    err: c_int,
    message: *const c_char,
) {
    // SAFETY: the caller's promise, passed on.
    let (file, function, message) = unsafe { (text(file), text(function), text(message)) };
    let reason = Reason(err);
    tracing::debug!(target: "alsa", "{file}:{line} ({function}) {message}{reason}");
    if REPORTED.fetch_add(1, Ordering::Relaxed) == 0 {
        tracing::warn!(
            "the ALSA library reported a problem ({message}{reason}); its messages are logged at \
             debug level (RUST_LOG=info,alsa=debug shows them)"
        );
    }
}

/// `: ` and what an errno value means, as ALSA's own handler appends it; nothing for 0. Formatted
/// only when a line is written, so a message nobody logs costs no allocation.
struct Reason(c_int);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return Ok(());
        }
        // SAFETY: `snd_strerror` returns a static string for any value.
        let meaning = unsafe { text(alsa_sys::snd_strerror(self.0)) };
        write!(f, ": {meaning}")
    }
}

/// # Safety
///
/// `pointer` is null or a NUL-terminated string that outlives the returned text.
unsafe fn text<'a>(pointer: *const c_char) -> Cow<'a, str> {
    if pointer.is_null() {
        return Cow::Borrowed("?");
    }
    // SAFETY: the caller's promise.
    unsafe { CStr::from_ptr(pointer) }.to_string_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::capture;

    #[test]
    fn the_shim_formats_the_message_and_hands_it_to_rust() {
        let before = reported();
        let ((), lines) = capture(|| unsafe {
            open_nsynth_alsa_error(
                c"pcm.c".as_ptr(),
                2666,
                c"snd_pcm_open_noupdate".as_ptr(),
                -2,
                c"Unknown PCM %s, %d tries".as_ptr(),
                c"nowhere".as_ptr(),
                3 as c_int,
            );
        });
        assert!(reported() > before);
        assert!(
            lines.iter().any(|line| line
                == "DEBUG pcm.c:2666 (snd_pcm_open_noupdate) Unknown PCM nowhere, 3 tries: \
                    No such file or directory"),
            "{lines:#?}"
        );
    }

    #[test]
    fn an_error_inside_alsa_arrives_as_a_debug_event() {
        route_errors();
        let before = reported();
        let name = c"open_nsynth_no_such_pcm";
        let (status, lines) = capture(|| {
            let mut pcm = std::ptr::null_mut();
            // SAFETY: a valid out-pointer and a NUL-terminated name; a PCM that opens is closed.
            unsafe {
                let status = alsa_sys::snd_pcm_open(
                    &mut pcm,
                    name.as_ptr(),
                    alsa_sys::SND_PCM_STREAM_PLAYBACK,
                    0,
                );
                if status == 0 {
                    alsa_sys::snd_pcm_close(pcm);
                }
                status
            }
        });
        assert!(status < 0, "a PCM that does not exist opened");
        assert!(reported() > before);
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("DEBUG") && line.contains("open_nsynth_no_such_pcm")),
            "{lines:#?}"
        );
    }
}
