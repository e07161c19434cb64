//! Faithfulness to Magenta: the checkpoint that TensorFlow wrote for `tests/fixtures/nsynth_small`
//! (a small-width model built by Magenta's own graph code, see the fixture's README) is read with
//! our checkpoint reader, and our encoder, teacher-forced decoder and incremental generator must
//! reproduce what TensorFlow computed from it.

use std::path::{Path, PathBuf};

use host_tools::checkpoint::TfCheckpoint;
use host_tools::model::mulaw::{inv_mu_law, mu_law, CLASSES};
use host_tools::model::{sample_class, Generator, GivenStages, Model, Stages, HOP_LENGTH};

/// Largest absolute difference from TensorFlow allowed for embeddings and logits.
const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nsynth_small")
        .join(name)
}

fn npy<T: npyz::Deserialize>(name: &str) -> Vec<T> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap()
}

/// The fixture's model: dilation cycles of 3 (encoder) and 4 (decoder) layers.
fn model() -> Model {
    let checkpoint = TfCheckpoint::open(&fixture("model.ckpt")).unwrap();
    Model::load(
        &checkpoint,
        Stages {
            encoder: 3,
            decoder: 4,
        },
    )
    .unwrap()
}

fn max_abs_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// The fixture's 6 encoder and 8 decoder layers split into whole cycles of several lengths and
/// nothing else in its checkpoint tells which, so its cycles must be given; Magenta's 10 does
/// not fit either stack.
#[test]
fn the_fixture_needs_its_cycles_given_and_refuses_the_released_ones() {
    let checkpoint = TfCheckpoint::open(&fixture("model.ckpt")).unwrap();
    let error = Model::load(&checkpoint, GivenStages::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the encoder's 6 dilated layers") && error.contains("1, 2, 3 or 6 fit"),
        "{error}"
    );
    let encoder_only = GivenStages {
        encoder: Some(3),
        decoder: None,
    };
    let error = Model::load(&checkpoint, encoder_only)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the decoder's 8 dilated layers") && error.contains("1, 2, 4 or 8 fit"),
        "{error}"
    );
    let error = Model::load(&checkpoint, Stages::MAGENTA)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("--encoder-stages 10 contradicts the checkpoint"),
        "{error}"
    );
    let shape = model().shape().clone();
    assert_eq!(
        shape.stages,
        Stages {
            encoder: 3,
            decoder: 4
        }
    );
    let dilations: Vec<usize> = (0..6).map(|i| shape.encoder_dilation(i)).collect();
    assert_eq!(dilations, [1, 2, 4, 1, 2, 4]);
}

#[test]
fn mu_law_levels_are_tensorflows() {
    let audio: Vec<f32> = npy("input.npy");
    let levels: Vec<i32> = audio.iter().map(|&x| mu_law(x)).collect();
    assert_eq!(levels, npy::<i32>("input_mu_law.npy"));
}

#[test]
fn the_input_wav_is_what_the_model_saw() {
    let audio = host_tools::audio::read_mono_16k(&fixture("input.wav")).unwrap();
    assert_eq!(audio, npy::<f32>("input.npy"));
}

#[test]
fn embeddings_match_tensorflow() {
    let embedding = model().encode(&npy::<f32>("input.npy")).unwrap();
    assert_eq!(embedding.shape, [3, 16]);
    let difference = max_abs_difference(&embedding.data, &npy::<f32>("embeddings.npy"));
    println!("embeddings: max abs difference {difference:e}");
    assert!(difference < TOLERANCE, "embeddings differ by {difference}");
}

#[test]
fn teacher_forced_logits_match_tensorflow() {
    let logits = model()
        .teacher_forced_logits(&npy::<f32>("input.npy"), &npy::<f32>("embeddings.npy"))
        .unwrap();
    assert_eq!(logits.shape, [1536, CLASSES]);
    let difference = max_abs_difference(&logits.data, &npy::<f32>("logits.npy"));
    println!("teacher-forced logits: max abs difference {difference:e}");
    assert!(difference < TOLERANCE, "logits differ by {difference}");
}

#[test]
fn incremental_steps_give_the_full_decoders_logits() {
    let model = model();
    let audio: Vec<f32> = npy("input.npy");
    let embeddings: Vec<f32> = npy("embeddings.npy");
    let full = model.teacher_forced_logits(&audio, &embeddings).unwrap();
    let mut generator = Generator::new(&model, 1).unwrap();
    let mut worst = 0.0f32;
    for time in 0..audio.len() {
        if time % HOP_LENGTH == 0 {
            let frame = time / HOP_LENGTH;
            generator
                .set_conditioning(&embeddings[frame * 16..(frame + 1) * 16])
                .unwrap();
        }
        let previous = if time == 0 { 0.0 } else { audio[time - 1] };
        let logits = generator.step(&[previous]).unwrap();
        let row = &full.data[time * CLASSES..(time + 1) * CLASSES];
        worst = worst.max(max_abs_difference(logits, row));
    }
    println!("incremental against teacher-forced: max abs difference {worst:e}");
    assert!(worst < 1e-5, "incremental logits differ by {worst}");
}

#[test]
fn a_sampled_run_follows_magentas_fast_generation() {
    let model = model();
    let embeddings: Vec<f32> = npy("embeddings.npy");
    let expected_logits: Vec<f32> = npy("fastgen_logits.npy");
    let uniforms: Vec<f64> = npy("fastgen_uniforms.npy");
    let classes: Vec<i32> = npy("fastgen_classes.npy");
    let audio: Vec<f32> = npy("fastgen_audio.npy");
    let mut generator = Generator::new(&model, 1).unwrap();
    generator.set_conditioning(&embeddings[..16]).unwrap();
    let mut previous = 0.0;
    let mut worst = 0.0f32;
    for step in 0..uniforms.len() {
        let logits = generator.step(&[previous]).unwrap();
        let expected = &expected_logits[step * CLASSES..(step + 1) * CLASSES];
        worst = worst.max(max_abs_difference(logits, expected));
        let class = sample_class(logits, uniforms[step]);
        assert_eq!(class as i32, classes[step], "class at step {step}");
        previous = inv_mu_law(class as i32 - 128);
        assert!(
            (previous - audio[step]).abs() <= 1e-6,
            "audio at step {step}: {previous} vs {}",
            audio[step]
        );
    }
    println!("sampled run: logits max abs difference {worst:e}");
    assert!(
        worst < TOLERANCE,
        "fast-generation logits differ by {worst}"
    );
}
