//! The sound card: opens the output stream and runs the engine in its callback.
//!
//! This is the one choke point between ALSA and the engine. [`start`] allocates everything the
//! callback needs; the callback itself only calls [`Engine::process`] into a preallocated mono
//! buffer and copies it to every channel: no allocation, lock, log or I/O.

use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Context as _};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::engine::Engine;
use crate::settings::AudioSettings;

/// Largest block the callback renders at once; longer periods are rendered in several blocks.
const SCRATCH_FRAMES: usize = 4096;

/// A running output stream; dropping it stops the sound.
pub struct AudioOutput {
    _stream: cpal::Stream,
    /// The device's name, for the log.
    pub device: String,
    /// The first error the stream reported (for example, the device was unplugged).
    failure: Arc<OnceLock<String>>,
}

impl AudioOutput {
    /// Why the stream failed, once it has, and should be opened again.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}

/// Names of the output devices, in the order `audio.deviceId` counts them.
pub fn output_device_names() -> anyhow::Result<Vec<String>> {
    let devices = cpal::default_host()
        .output_devices()
        .context("cannot list audio output devices")?;
    Ok(devices
        .map(|device| device.name().unwrap_or_else(|_| "unnamed device".into()))
        .collect())
}

/// The output device: `audio.deviceId` if set, else the board's sound card (looked up by the
/// ALSA card name), else the system default.
pub fn choose_device(settings: &AudioSettings, card: Option<&str>) -> anyhow::Result<cpal::Device> {
    let host = cpal::default_host();
    let default = || {
        host.default_output_device()
            .ok_or_else(|| anyhow!("no audio output device"))
    };
    let devices = || {
        host.output_devices()
            .context("cannot list audio output devices")
    };
    if let Some(index) = settings.device_id {
        return devices()?.nth(index).ok_or_else(|| {
            anyhow!("audio.deviceId {index}: there is no output device with that index")
        });
    }
    let Some(card) = card else {
        return default();
    };
    let found = devices()?.find(|device| device.name().is_ok_and(|name| card_matches(&name, card)));
    match found {
        Some(device) => Ok(device),
        None => {
            tracing::warn!(
                "the board's sound card {card} is not there; using the default output (set \
                 audio.deviceId to choose another)"
            );
            default()
        }
    }
}

/// Whether the device called `name` is the ALSA card `card` (the name in brackets in
/// `aplay -l`, which is how ALSA names a card's device).
pub fn card_matches(name: &str, card: &str) -> bool {
    name.eq_ignore_ascii_case(card) || name.contains(&format!("CARD={card}"))
}

/// Starts rendering `engine` into `device` (see [`choose_device`]) at the configured rate and
/// buffer size.
pub fn start(
    device: cpal::Device,
    mut engine: Engine,
    settings: &AudioSettings,
) -> anyhow::Result<AudioOutput> {
    let name = device.name().unwrap_or_else(|_| "unnamed device".into());
    let channels = device
        .default_output_config()
        .with_context(|| format!("audio device {name} has no output configuration"))?
        .channels()
        .max(1);
    let config = cpal::StreamConfig {
        channels,
        sample_rate: cpal::SampleRate(settings.sample_rate),
        buffer_size: cpal::BufferSize::Fixed(settings.buffer_size as u32),
    };
    let mut mono = vec![0.0f32; SCRATCH_FRAMES];
    let channels = usize::from(channels);
    let callback = move |data: &mut [f32], _: &cpal::OutputCallbackInfo| {
        for period in data.chunks_mut(SCRATCH_FRAMES * channels) {
            let frames = period.len() / channels;
            let mono = &mut mono[..frames];
            engine.process(mono);
            for (frame, &sample) in period.chunks_exact_mut(channels).zip(mono.iter()) {
                frame.fill(sample);
            }
        }
    };
    let failure = Arc::new(OnceLock::new());
    let report = Arc::clone(&failure);
    let stream = device
        .build_output_stream(
            &config,
            callback,
            // Kept for the control thread, which logs it: a failing stream may report again and
            // again, and the first error says why.
            move |error| {
                let _ = report.set(error.to_string());
            },
            None,
        )
        .with_context(|| {
            format!(
                "cannot open audio device {name} at {} Hz with {}-frame buffers (audio.sampleRate, audio.bufferSize)",
                settings.sample_rate, settings.buffer_size
            )
        })?;
    stream
        .play()
        .with_context(|| format!("cannot start audio device {name}"))?;
    Ok(AudioOutput {
        _stream: stream,
        device: name,
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::card_matches;

    #[test]
    fn the_board_card_is_found_by_its_alsa_name() {
        assert!(card_matches("IQaudIODAC", "IQaudIODAC"));
        assert!(card_matches("iqaudiodac", "IQaudIODAC"));
        assert!(card_matches("sysdefault:CARD=IQaudIODAC", "IQaudIODAC"));
        assert!(!card_matches("bcm2835 Headphones", "IQaudIODAC"));
        assert!(!card_matches("default", "IQaudIODAC"));
    }
}
