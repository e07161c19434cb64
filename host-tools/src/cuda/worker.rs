//! GPUs with the model on them: a [`GpuWorker`] is one executor with the encoder and decoder
//! uploaded, and a [`GpuPool`] lends its workers out one call at a time, so that several
//! threads (one batch each) keep every GPU busy and a GPU that finishes early takes the next
//! batch. It never decides what to generate.

use super::decoder::DecoderWeights;
use super::device::CudaDevice;
use super::encoder::EncoderWeights;
use super::error::GpuError;
use super::executor::Executor;
use super::Precision;
use crate::lending::Lending;
use crate::model::Model;

/// One executor with the model's weights on it.
pub struct GpuWorker<E: Executor> {
    pub label: String,
    pub executor: E,
    pub decoder: DecoderWeights,
    pub encoder: EncoderWeights,
}

impl<E: Executor> GpuWorker<E> {
    /// Uploads `model` to `executor`.
    pub fn new(
        label: String,
        mut executor: E,
        model: &Model,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let decoder = DecoderWeights::upload(&mut executor, model, precision)?;
        let encoder = EncoderWeights::upload(&mut executor, model, precision)?;
        Ok(Self {
            label,
            executor,
            decoder,
            encoder,
        })
    }
}

/// Workers lent out one at a time.
pub struct GpuPool<E: Executor> {
    workers: Lending<GpuWorker<E>>,
    labels: Vec<String>,
}

impl GpuPool<CudaDevice> {
    /// Opens the GPUs `ordinals` and uploads `model` to each.
    pub fn open(model: &Model, ordinals: &[usize], precision: Precision) -> Result<Self, GpuError> {
        let workers = ordinals
            .iter()
            .map(|&ordinal| {
                let device = CudaDevice::open(ordinal)?;
                let label = device.label().to_string();
                tracing::info!(
                    "{label}: loading the model ({} precision)",
                    precision.name()
                );
                GpuWorker::new(label, device, model, precision)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(workers))
    }
}

impl<E: Executor> GpuPool<E> {
    pub fn new(workers: Vec<GpuWorker<E>>) -> Self {
        let labels = workers.iter().map(|w| w.label.clone()).collect();
        Self {
            workers: Lending::new(workers),
            labels,
        }
    }

    /// The workers' devices, e.g. `cuda:0 (NVIDIA H200)`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Runs `work` on the first idle worker, waiting for one if all are busy.
    pub fn with_worker<T>(&self, work: impl FnOnce(&mut GpuWorker<E>) -> T) -> T {
        self.workers.with(work)
    }
}
