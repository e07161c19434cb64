//! What each output of a pipeline run is made from, as the record it must carry to be reused
//! ([`Provenance`]): the model, the note length and the digests of the recordings it mixes for
//! every interpolated embedding and sound, the seed for generated and cleaned sounds, and the pad
//! layout for pads and the device settings. A sound or pad that needs a recording that was
//! skipped has no record: it cannot be made. It reads nothing and writes nothing.

use std::collections::{BTreeMap, HashMap};

use super::config::PipelineConfig;
use super::encode::{EncodeLength, Note};
use super::grid::{PadPlan, Plan, Sound};
use super::provenance::Provenance;
use crate::synth::ModelIdentity;

/// The inputs of one run.
pub(super) struct RunInputs<'a> {
    config: &'a PipelineConfig,
    plan: &'a Plan,
    /// Model and note length: what every output shares.
    base: Provenance,
    seed: u64,
    /// File name and digest of every usable note's recording.
    recordings: &'a HashMap<Note, (String, String)>,
}

impl<'a> RunInputs<'a> {
    pub fn new(
        config: &'a PipelineConfig,
        plan: &'a Plan,
        model: ModelIdentity,
        seed: u64,
        recordings: &'a HashMap<Note, (String, String)>,
    ) -> Self {
        let base = Provenance {
            note_length: Some(EncodeLength::Exactly(config.note_length)),
            ..Provenance::new(model)
        };
        Self {
            config,
            plan,
            base,
            seed,
            recordings,
        }
    }

    /// The record of `sound`'s generated and cleaned audio (its interpolated embedding's is the
    /// same without the seed); `None` when a recording it mixes (weights above zero) was skipped.
    pub fn sound(&self, sound: &Sound) -> Option<Provenance> {
        let midi = self.config.layout.pitches[sound.pitch];
        let mixed = self.plan.mix(sound).map(|(name, _)| (name.clone(), midi));
        Some(Provenance {
            seed: Some(self.seed),
            recordings: self.digests(mixed)?,
            ..self.base.clone()
        })
    }

    /// The record of a pad: its corners' recordings at every pitch, the seed and the layout;
    /// `None` when one of them was skipped.
    pub fn pad(&self, pad: &PadPlan) -> Option<Provenance> {
        let notes = pad.corners.iter().flat_map(|name| {
            self.config
                .layout
                .pitches
                .iter()
                .map(move |&midi| (name.clone(), midi))
        });
        Some(Provenance {
            recordings: self.digests(notes)?,
            ..self.layout_record()
        })
    }

    /// The record of the device settings: the layout and every usable recording.
    pub fn settings(&self) -> Provenance {
        Provenance {
            recordings: self.recordings.values().cloned().collect(),
            ..self.layout_record()
        }
    }

    /// Model, note length, seed and pad layout.
    fn layout_record(&self) -> Provenance {
        let layout = &self.config.layout;
        Provenance {
            seed: Some(self.seed),
            final_length: Some(layout.length),
            resolution: Some(layout.resolution),
            pitches: Some(layout.pitches.clone()),
            ..self.base.clone()
        }
    }

    /// The digests of the recordings of `notes`, or `None` if one was skipped.
    fn digests(&self, notes: impl Iterator<Item = Note>) -> Option<BTreeMap<String, String>> {
        notes
            .map(|note| self.recordings.get(&note).cloned())
            .collect()
    }
}
