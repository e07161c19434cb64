//! Progress display for the long steps: `indicatif` bars with a rate and an ETA on stderr when it
//! is a terminal, nothing otherwise (batch jobs' logs get the step summaries from `tracing`).
//! It never affects what the steps compute.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Whether steps draw progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Bars on stderr when stderr is a terminal; hidden otherwise.
    pub fn terminal() -> Self {
        Self {
            visible: std::io::stderr().is_terminal(),
        }
    }

    /// No bars at all (tests, library use).
    pub fn hidden() -> Self {
        Self { visible: false }
    }

    /// A bar for `len` units of `unit` labelled `step`.
    pub(crate) fn bar(&self, step: &str, len: u64, unit: &str) -> ProgressBar {
        if !self.visible {
            return ProgressBar::hidden();
        }
        let template = format!(
            "{{prefix:>10}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} \
             ({{per_sec}}, ETA {{eta}})"
        );
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::new(len)
            .with_style(style)
            .with_prefix(step.to_string())
    }
}
