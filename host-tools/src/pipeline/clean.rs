//! Step 05 of the original pipeline (spec §7.6) on `f32` audio: single-sample click removal, then
//! peak normalisation to −12 dBFS, then 16-bit samples. The original's MP3 round trip (LAME, then
//! sox decoding) is left out: it only added encoder delay and loss. [`clean_sounds`] runs it on
//! the generated WAVs of a work folder; the arithmetic itself never touches a file.

use super::grid::Sound;
use super::workdir::Workdir;
use super::PipelineError;
use crate::audio::{read_mono_16k, write_pcm16_wav};
use crate::progress::Progress;

/// Target peak of every cleaned note, as `sox --norm=-12`.
pub const PEAK_DBFS: f64 = -12.0;

/// A jump between neighbouring samples larger than this, on both sides of a sample, marks that
/// sample as a click (the decoder's rare out-of-range draws).
const CLICK_JUMP: f32 = 1.0;

/// Replaces single-sample spikes as the original does: with `d[i] = a[i+1] − a[i]` and `J` the
/// ascending indices where `|d| > 1`, every `i ∈ J` with `i + 1 ∈ J` gets `a[i+1]` set to the
/// mean of `a[i]` and `a[i+2]`, in ascending order and in place (`J` computed once before).
pub fn remove_clicks(audio: &mut [f32]) {
    let jumps: Vec<usize> = audio
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| (pair[1] - pair[0]).abs() > CLICK_JUMP)
        .map(|(i, _)| i)
        .collect();
    for pair in jumps.windows(2) {
        let i = pair[0];
        if pair[1] == i + 1 {
            audio[i + 1] = (audio[i] + audio[i + 2]) / 2.0;
        }
    }
}

/// Scales `audio` so its peak sits at `peak_dbfs` (full scale 1.0). Silence stays silence.
pub fn normalize_peak(audio: &mut [f32], peak_dbfs: f64) {
    let peak = audio.iter().fold(0f32, |peak, s| peak.max(s.abs()));
    if peak == 0.0 {
        return;
    }
    let gain = 10f64.powf(peak_dbfs / 20.0) / f64::from(peak);
    for sample in audio.iter_mut() {
        *sample = (f64::from(*sample) * gain) as f32;
    }
}

/// The whole step: clicks removed, peak at −12 dBFS, rounded to 16-bit samples (full scale
/// 32768, clamped).
pub fn clean(mut audio: Vec<f32>) -> Vec<i16> {
    remove_clicks(&mut audio);
    normalize_peak(&mut audio, PEAK_DBFS);
    audio
        .iter()
        .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// The step for the sounds of this run that are generated but not cleaned yet; returns how
/// many it cleaned.
pub(super) fn clean_sounds(
    sounds: &[&Sound],
    dirs: &Workdir,
    progress: &Progress,
) -> Result<usize, PipelineError> {
    let todo: Vec<&Sound> = sounds
        .iter()
        .copied()
        .filter(|s| !dirs.cleaned(s).exists() && dirs.generated(s).exists())
        .collect();
    let bar = progress.bar("clean", todo.len() as u64, "notes");
    for sound in &todo {
        let audio = read_mono_16k(&dirs.generated(sound))?;
        write_pcm16_wav(&dirs.cleaned(sound), &clean(audio))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(todo.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_sample_spike_is_replaced_by_the_mean_of_its_neighbours() {
        let mut audio = vec![0.1, -0.1, 1.0, -0.1, -0.1, 0.5, -0.2];
        remove_clicks(&mut audio);
        // Index 2 jumps by 1.1 on both sides; index 5 only by 0.6 and 0.7.
        assert_eq!(audio, [0.1, -0.1, -0.1, -0.1, -0.1, 0.5, -0.2]);
    }

    #[test]
    fn a_negative_spike_and_a_lone_jump() {
        let mut audio = vec![0.5, -0.6, 0.6, 0.45, -0.7, -0.69];
        remove_clicks(&mut audio);
        assert_eq!(audio[1], (0.5 + 0.6) / 2.0);
        // 0.45 → −0.7 is one jump above 1 with no partner: a step, not a click.
        assert_eq!(audio[3..], [0.45, -0.7, -0.69]);
    }

    #[test]
    fn consecutive_clicks_use_the_already_repaired_sample() {
        // Jumps at 0, 1, 2: sample 1 is repaired first, then sample 2 from the new sample 1.
        let mut audio = vec![0.0, 1.02, -0.5, 0.6];
        remove_clicks(&mut audio);
        assert_eq!(audio[1], (0.0 + -0.5) / 2.0);
        assert_eq!(audio[2], (audio[1] + 0.6) / 2.0);
    }

    #[test]
    fn cleaning_puts_the_peak_at_minus_12_db() {
        let audio: Vec<f32> = (0..1000).map(|i| 0.7 * (i as f32 * 0.05).sin()).collect();
        let cleaned = clean(audio);
        let peak = cleaned.iter().map(|s| s.unsigned_abs()).max().unwrap();
        // 10^(−12/20) · 32768 = 8230.97.
        assert_eq!(peak, 8231);
        assert!(clean(vec![0.0; 16]).iter().all(|&s| s == 0));
    }

    #[test]
    fn a_click_does_not_set_the_level() {
        let mut audio = vec![0.2f32; 100];
        for (i, sample) in audio.iter_mut().enumerate() {
            if i % 2 == 1 {
                *sample = -0.2;
            }
        }
        audio[50] = 0.978; // neighbours at −0.2: both jumps above 1
        let cleaned = clean(audio);
        assert_eq!(cleaned[50], cleaned[49]);
        assert_eq!(cleaned.iter().map(|s| s.unsigned_abs()).max(), Some(8231));
    }
}
