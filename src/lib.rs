//! Open NSynth Super runtime.
