//! The process's stop request: after [`install`], SIGINT and SIGTERM only set a flag, which the
//! long-running loops (render, play, the instrument's control loop) poll between blocks, so they
//! can finish a recording or remove a half-written file before they return. A second signal
//! while the first is being handled ends the process at once, for a stop that hangs. Nothing here
//! runs in the signal handler but the flag's store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Exit status of a process ended by a second signal: 128 + SIGINT, as shells report it.
const FORCED_EXIT: i32 = 130;

fn flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Routes SIGINT and SIGTERM to the stop flag. Safe to call more than once.
pub fn install() -> std::io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_shutdown(signal, FORCED_EXIT, Arc::clone(flag()))?;
        signal_hook::flag::register(signal, Arc::clone(flag()))?;
    }
    let _ = INSTALLED.set(());
    Ok(())
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// The error a loop returns when it stopped because a stop was asked for.
#[derive(Debug, thiserror::Error)]
#[error("stopped by a signal (SIGINT or SIGTERM)")]
pub struct Stopped;

/// `Err(Stopped)` once a stop was asked for: for loops that give up their work when stopped.
pub fn check() -> Result<(), Stopped> {
    if requested() {
        Err(Stopped)
    } else {
        Ok(())
    }
}
