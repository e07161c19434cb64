//! The process's stop request: after [`install`], SIGINT and SIGTERM only set a flag, which the
//! long-running loops (render, play, the instrument's control loop) poll between blocks, so they
//! can finish a recording or remove a half-written file before they return. A second signal
//! while the first is being handled ends the process at once, for a stop that hangs. A program
//! whose work cannot poll (host-tools) uses [`exit_on_signal`] instead: a thread of its own
//! cleans up and ends the process. Nothing here runs in the signal handler but the flag's store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Exit status of a process ended by a second signal: 128 + SIGINT, as shells report it.
const FORCED_EXIT: i32 = 130;

/// Exit status of a process ended by [`exit_on_signal`]: that of any other failure.
const STOPPED_EXIT: i32 = 1;

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

/// For a program whose work cannot poll the flag (host-tools: one model call runs for
/// minutes): at the first SIGINT or SIGTERM, a thread of its own runs `stopping` (which says
/// what happened and removes what must not be left behind, without waiting on the work) and
/// ends the process with status 1 at once, without running exit handlers (a GPU library's could
/// wait on the work). Instead of [`install`], not with it.
pub fn exit_on_signal(stopping: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::Builder::new()
        .name("stop".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stopping();
                signal_hook::low_level::exit(STOPPED_EXIT);
            }
        })?;
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
