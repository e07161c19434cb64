//! The model commands of `host-tools` on the fixture model: `encode` and `logits` give what
//! TensorFlow computed and `encode` skips what it has done, `encode` skips bad recordings (exit
//! status 2) unless `--strict`, `generate` is resumable and repeatable, `grains` writes the
//! tutorial's array, and bad inputs are named.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nsynth_small")
        .join(name)
}

/// Runs a model command on the fixture checkpoint.
fn host_tools(command: &str, args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .arg(command)
        .arg("--checkpoint")
        .arg(fixture("model.ckpt"))
        .args(["--encoder-stages", "3", "--decoder-stages", "4"])
        .args(args)
        .output()
        .unwrap()
}

fn npy<T: npyz::Deserialize>(path: &Path) -> (Vec<u64>, Vec<T>) {
    let bytes = std::fs::read(path).unwrap();
    let file = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = file.shape().to_vec();
    (shape, file.into_vec().unwrap())
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn encode_and_logits_reproduce_tensorflow() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("embeddings");
    let input = fixture("input.wav");
    let encode = || {
        let args: [&OsStr; 4] = [
            "--input".as_ref(),
            input.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        let output = host_tools("encode", &args);
        ok(&output);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(encode().contains("wrote 1 embeddings"));
    let embedding = out.join("input_embeddings.npy");
    let (shape, ours) = npy::<f32>(&embedding);
    assert_eq!(shape, [3, 16]);
    let (_, theirs) = npy::<f32>(&fixture("embeddings.npy"));
    assert!(max_abs_difference(&ours, &theirs) < 1e-4);
    let again = encode();
    assert!(
        again.contains("wrote 0 embeddings") && again.contains(", 1 reused"),
        "{again}"
    );

    let logits = dir.path().join("logits.npy");
    let args: [&OsStr; 6] = [
        "--audio".as_ref(),
        input.as_os_str(),
        "--encoding".as_ref(),
        embedding.as_os_str(),
        "--out".as_ref(),
        logits.as_os_str(),
    ];
    ok(&host_tools("logits", &args));
    let (shape, ours) = npy::<f32>(&logits);
    assert_eq!(shape, [1536, 256]);
    let (_, theirs) = npy::<f32>(&fixture("logits.npy"));
    assert!(max_abs_difference(&ours, &theirs) < 1e-4);
}

#[test]
fn encode_skips_bad_recordings_with_exit_status_2_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("recordings");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(fixture("input.wav"), input.join("good.wav")).unwrap();
    std::fs::write(input.join("empty.wav"), b"").unwrap();
    std::fs::write(input.join("notes.wav"), b"not audio at all\n").unwrap();
    let mut silent = hound::WavWriter::create(
        input.join("silent.wav"),
        hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .unwrap();
    for _ in 0..2048 {
        silent.write_sample(0i16).unwrap();
    }
    silent.finalize().unwrap();
    let out = dir.path().join("embeddings");
    let encode = |strict: bool| {
        let mut args: Vec<&OsStr> = vec![
            "--input".as_ref(),
            input.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        if strict {
            args.push("--strict".as_ref());
        }
        host_tools("encode", &args)
    };

    let output = encode(false);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(out.join("good_embeddings.npy").exists());
    assert!(stdout.contains("skipped 3 of 4 recordings:"), "{stdout}");
    assert!(
        stdout.contains("empty.wav is an empty file (0 bytes)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "notes.wav is not a WAV, AIFF or FLAC file: the decoder found no header it knows in \
             its 17 bytes"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("silent.wav is silent"), "{stdout}");
    assert!(
        stdout.ends_with(&format!("wrote 1 embeddings to {}\n", out.display())),
        "{stdout}"
    );
    // One warning per recording, and none from the decoding library itself.
    assert_eq!(
        stderr.matches("skipping a recording").count(),
        3,
        "{stderr}"
    );
    assert!(
        !stderr.contains("symphonia") && !stderr.contains("ERROR"),
        "{stderr}"
    );

    let output = encode(true);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: ") && stderr.contains("empty.wav is an empty file"),
        "{stderr}"
    );
}

#[test]
fn generate_is_repeatable_and_skips_finished_files() {
    let dir = tempfile::tempdir().unwrap();
    let embeddings = fixture("embeddings.npy");
    let run_with = |out: &Path, weights: &str| {
        let args: [&OsStr; 8] = [
            "--embeddings".as_ref(),
            embeddings.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--seed".as_ref(),
            "3".as_ref(),
            "--weights".as_ref(),
            weights.as_ref(),
        ];
        let output = host_tools("generate", &args);
        ok(&output);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let run = |out: &Path| run_with(out, "f32");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(run(&a).contains("generated 1 files"));
    assert!(run(&b).contains("generated 1 files"));
    let wav = "gen_embeddings.wav";
    let first = std::fs::read(a.join(wav)).unwrap();
    assert_eq!(first, std::fs::read(b.join(wav)).unwrap());
    let samples = hound::WavReader::open(a.join(wav)).unwrap().len();
    assert_eq!(samples, 1536);
    assert!(
        run(&a).contains("generated 0 files"),
        "a finished file is skipped"
    );
    // Sixteen-bit weights make other numbers: the file is made again, then kept.
    let redone = run_with(&a, "bf16");
    assert!(
        redone.contains("generated 1 files") && redone.contains("(1 redone: model changed)"),
        "{redone}"
    );
    assert_ne!(std::fs::read(a.join(wav)).unwrap(), first);
    assert!(run_with(&a, "bf16").contains("generated 0 files"));
    assert!(run(&a).contains("generated 1 files"));
    assert_eq!(std::fs::read(a.join(wav)).unwrap(), first);
}

#[test]
fn grains_writes_the_cloud_array() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grains.npy");
    let huge = dir.path().join("huge.npy");
    let input = fixture("input.wav");
    let args: [&OsStr; 10] = [
        "--a".as_ref(),
        input.as_os_str(),
        "--b".as_ref(),
        input.as_os_str(),
        "--count".as_ref(),
        "3".as_ref(),
        "--grain-length".as_ref(),
        "512".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    ok(&host_tools("grains", &args));
    let (shape, values) = npy::<f32>(&out);
    assert_eq!(shape, [3, 512]);
    assert!(values.iter().any(|v| *v != 0.0));

    // A cloud larger than the memory (4 TB) is refused before anything is made.
    let mut args = args;
    args[5] = "1000000000".as_ref();
    args[9] = huge.as_os_str();
    let output = host_tools("grains", &args);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1000000000 grains of 512 samples are 1907.3 GiB of audio")
            && stderr.contains("use --count "),
        "{stderr}"
    );
    assert!(!huge.exists());
}

#[test]
fn a_missing_checkpoint_and_a_bad_device_are_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .args([
            "encode",
            "--checkpoint",
            "nowhere/model.ckpt",
            "--input",
            "x.wav",
            "--out",
            "o",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nowhere/model.ckpt"));

    let output = host_tools(
        "encode",
        &[
            "--device".as_ref(),
            "cuda:0".as_ref(),
            "--input".as_ref(),
            "x".as_ref(),
            "--out".as_ref(),
            "o".as_ref(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    // Without a driver: "cannot use cuda:0: libcuda.so was not found … or use --device cpu";
    // with a GPU the missing input is what fails.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cuda:0") || stderr.contains("x"),
        "{stderr}"
    );
    let output = host_tools(
        "encode",
        &[
            "--device".as_ref(),
            "tpu".as_ref(),
            "--input".as_ref(),
            "x".as_ref(),
            "--out".as_ref(),
            "o".as_ref(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--device \"tpu\": use cpu, cuda, cuda:N"),
        "{stderr}"
    );
}

/// `encode` of the fixture recording with only the given stage flags: its exit code and error.
fn encode_with_stages(stages: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .arg("encode")
        .arg("--checkpoint")
        .arg(fixture("model.ckpt"))
        .arg("--input")
        .arg(fixture("input.wav"))
        .arg("--out")
        .arg(dir.path())
        .args(stages)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn stage_flags_that_contradict_the_checkpoint_are_refused_with_both_numbers() {
    let (code, stderr) = encode_with_stages(&["--encoder-stages", "10", "--decoder-stages", "4"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "--encoder-stages 10 contradicts the checkpoint: the encoder's 6 dilated layers \
             (ae_dilatedconv_1/W … ae_dilatedconv_6/W) fit whole cycles of 1, 2, 3 or 6 only"
        ),
        "{stderr}"
    );
    let (code, stderr) = encode_with_stages(&["--encoder-stages", "3", "--decoder-stages", "3"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--decoder-stages 3 contradicts the checkpoint: the decoder's 8 dilated"),
        "{stderr}"
    );
}

#[test]
fn a_layer_count_that_several_cycles_divide_needs_the_flag() {
    let (code, stderr) = encode_with_stages(&[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "the checkpoint does not say how many of the encoder's 6 dilated layers \
             (ae_dilatedconv_1/W … ae_dilatedconv_6/W) form one dilation cycle: whole cycles of \
             1, 2, 3 or 6 fit; give it with --encoder-stages"
        ),
        "{stderr}"
    );
    let (code, stderr) = encode_with_stages(&["--encoder-stages", "3"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("decoder's 8 dilated layers") && stderr.contains("--decoder-stages"),
        "{stderr}"
    );
}

#[test]
fn cpu_flags_on_a_gpu_and_no_threads_or_groups_are_refused() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--device", "cuda:0", "--weights", "bf16"],
            "--weights bf16 is for the CPU, and the model would run on GPUs",
        ),
        (
            &["--device", "cuda:0", "--groups", "2"],
            "--groups is for the CPU, and the model would run on GPUs",
        ),
        (&["--threads", "0"], "--threads must be at least 1"),
        (&["--threads", "1000000"], "--threads 1000000: at most "),
        (&["--groups", "0"], "--groups must be at least 1"),
    ];
    for (flags, message) in cases {
        let mut args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
        args.extend(["--input", "x.wav", "--out", "o"].map(OsStr::new));
        let output = host_tools("encode", &args);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
    // Cluster tasks with GPUs (the default) are refused the CPU's flags before a script is
    // written.
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--workdir".as_ref(),
        dir.path().as_os_str(),
        "--tasks".as_ref(),
        "2".as_ref(),
        "--embeddings".as_ref(),
        dir.path().as_os_str(),
        "--out".as_ref(),
        dir.path().as_os_str(),
        "--groups".as_ref(),
        "2".as_ref(),
    ];
    let output = host_tools("slurm", &args);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--groups is for the CPU"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn cluster_tasks_may_ask_for_more_threads_than_the_machine_writing_them_has() {
    let dir = tempfile::tempdir().unwrap();
    let embeddings = dir.path().join("emb");
    std::fs::create_dir(&embeddings).unwrap();
    std::fs::copy(fixture("embeddings.npy"), embeddings.join("a.npy")).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = (16 * cores + 1).to_string();
    let out = dir.path().join("out");
    let mut args: Vec<&OsStr> = [
        "--workdir".as_ref(),
        dir.path().as_os_str(),
        "--embeddings".as_ref(),
        embeddings.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]
    .to_vec();
    args.extend(["--tasks", "1", "--device", "cpu", "--threads", &threads].map(OsStr::new));
    let output = host_tools("slurm", &args);
    assert!(output.status.success(), "{output:?}");
    // Checked where the task starts its threads, on the cluster's machine.
    let script = std::fs::read_to_string(dir.path().join("open-nsynth-generate.sbatch")).unwrap();
    assert!(
        script.contains(&format!(" --threads {threads} ")),
        "{script}"
    );
}

#[test]
fn a_precision_on_the_cpu_is_refused_not_ignored() {
    for device in [&["--device", "cpu"][..], &[]] {
        let mut args: Vec<&OsStr> = device.iter().map(OsStr::new).collect();
        args.extend(["--precision", "bf16", "--input", "x.wav", "--out", "o"].map(OsStr::new));
        let output = host_tools("encode", &args);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(
                "--precision bf16 is for GPUs, and the model would run on the CPU, which always \
                 computes in float32"
            ),
            "{stderr}"
        );
    }
}
