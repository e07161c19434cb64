//! Sharing work between machines, end to end through the `host-tools` binary: `generate` and
//! `pipeline` shards together make exactly what one run makes (records of what made each file
//! included), `--shard` mistakes are named, and
//! `host-tools slurm` writes a batch script that bash accepts and whose tasks, run as SLURM would
//! run them, finish the job.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, write_recordings};
use host_tools::embedding::Embedding;
use host_tools::npy::{read_embedding, write_embedding};

/// The fixture model's shape flags.
const SMALL_MODEL: [&str; 4] = ["--encoder-stages", "3", "--decoder-stages", "4"];

fn host_tools(args: &[&dyn AsRef<OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The stderr of a run that must fail with `code`.
fn failure(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    stderr
}

/// Every file of `dir` by name, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// `count` embeddings made from the fixture's by scaling and shifting it, the last one a frame
/// shorter, so the batches mix lengths.
fn write_embeddings(folder: &Path, count: usize) {
    std::fs::create_dir_all(folder).unwrap();
    let original = read_embedding(&fixture("embeddings.npy")).unwrap();
    for k in 0..count {
        let mut values: Vec<f32> = original
            .values()
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1.0 + 0.2 * k as f32) + 0.05 * k as f32 * (i % 5) as f32)
            .collect();
        if k + 1 == count {
            values.truncate(values.len() - original.frame(0).len());
        }
        let embedding = Embedding::new(values).unwrap();
        write_embedding(&folder.join(format!("note{k}.npy")), &embedding).unwrap();
    }
}

fn generate(embeddings: &Path, out: &Path, shard: Option<&str>) -> Output {
    let checkpoint = fixture("model.ckpt");
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![
        &"generate",
        &"--checkpoint",
        &checkpoint,
        &"--embeddings",
        &embeddings,
        &"--out",
        &out,
        &"--seed",
        &"3",
        &"--batch",
        &"2",
    ];
    args.extend(SMALL_MODEL.iter().map(|a| a as &dyn AsRef<OsStr>));
    let shard_args = shard.map(|shard| ["--shard", shard]);
    if let Some(shard_args) = &shard_args {
        args.extend(shard_args.iter().map(|a| a as &dyn AsRef<OsStr>));
    }
    host_tools(&args)
}

#[test]
fn generate_shards_make_what_one_run_makes() {
    let dir = tempfile::tempdir().unwrap();
    let embeddings = dir.path().join("embeddings");
    write_embeddings(&embeddings, 5);
    let (whole, sharded) = (dir.path().join("whole"), dir.path().join("sharded"));

    assert!(stdout(&generate(&embeddings, &whole, None)).contains("generated 5 files"));
    // Files 1 and 3 of the path order, then 0, 2 and 4.
    let second = stdout(&generate(&embeddings, &sharded, Some("1/2")));
    assert!(second.contains("generated 2 files"), "{second}");
    assert_eq!(
        files(&sharded)
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>(),
        [
            "gen_note1.wav",
            "gen_note1.wav.provenance.json",
            "gen_note3.wav",
            "gen_note3.wav.provenance.json"
        ]
    );
    let first = stdout(&generate(&embeddings, &sharded, Some("0/2")));
    assert!(first.contains("generated 3 files"), "{first}");

    let made = files(&whole);
    assert_eq!(made.len(), 2 * 5);
    assert_eq!(files(&sharded), made, "byte for byte");
    let again = stdout(&generate(&embeddings, &sharded, Some("0/2")));
    assert!(again.contains("generated 0 files"), "{again}");
}

#[test]
fn bad_shards_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let embeddings = dir.path().join("embeddings");
    write_embeddings(&embeddings, 1);
    let out = dir.path().join("out");
    for (shard, message) in [
        ("2/2", "there is no shard 2 of 2: they are numbered 0 to 1"),
        ("0/0", "shard 0/0: there must be at least one shard"),
        ("1", "shard 1 needs the number of shards too: write 1/N"),
        ("one/2", "`one/2` is not a shard: write K/N"),
    ] {
        let stderr = failure(&generate(&embeddings, &out, Some(shard)), 2);
        assert!(stderr.contains(message), "{shard}: {stderr}");
    }
    assert!(!out.exists(), "nothing was started");

    // The pipeline takes a bare index too, counting shards by the settings' `gpus`.
    let config = dir.path().join("settings.json");
    std::fs::write(&config, pipeline_settings(&[48, 60], 3)).unwrap();
    let workdir = dir.path().join("work");
    let stderr = failure(&pipeline(&workdir, &config, &["--shard", "1"]), 1);
    assert!(
        stderr.contains("there is no shard 1: the settings deal the sounds into 1 shards")
            && stderr.contains("--shard 1/N"),
        "{stderr}"
    );
    let stderr = failure(&pipeline(&workdir, &config, &["--shard", "3/3"]), 2);
    assert!(stderr.contains("there is no shard 3 of 3"), "{stderr}");
}

/// Pipeline settings for the recordings of [`write_recordings`], with one shard (`gpus`).
fn pipeline_settings(pitches: &[u8], resolution: usize) -> String {
    format!(
        r#"{{"pads": {{"NW": ["flute"], "NE": ["brass"], "SE": ["reed"], "SW": ["bell"]}},
            "pitches": {pitches:?}, "resolution": {resolution}, "final_length": 1000,
            "note_length": 1536, "gpus": 1}}"#
    )
}

/// A pipeline run with sine tones for the model.
fn pipeline(workdir: &Path, config: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![
        &"pipeline",
        &"--dry-run",
        &"--config",
        &config,
        &"--workdir",
        &workdir,
    ];
    args.extend(extra.iter().map(|a| a as &dyn AsRef<OsStr>));
    host_tools(&args)
}

#[test]
fn pipeline_shards_build_the_pads_of_one_run_and_only_the_last_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("settings.json");
    std::fs::write(&config, pipeline_settings(&[48, 60], 3)).unwrap();
    let (whole, sharded) = (dir.path().join("whole"), dir.path().join("sharded"));
    for workdir in [&whole, &sharded] {
        write_recordings(&workdir.join("audio_input"));
    }

    let one = stdout(&pipeline(&whole, &config, &[]));
    assert!(
        one.contains("18 sounds: 18 generated; 18 cleaned; 1 pads written"),
        "{one}"
    );

    // A dry run's pads are in a folder of their own.
    let pads_output = |workdir: &Path| workdir.join("dry-run").join("pads_output");
    let first = stdout(&pipeline(&sharded, &config, &["--shard", "0/2"]));
    assert!(
        first.contains("18 sounds: 9 generated; 9 cleaned; 0 pads written"),
        "{first}"
    );
    assert!(first.contains("other shards are still to run"), "{first}");
    assert!(files(&pads_output(&sharded)).is_empty());
    let last = stdout(&pipeline(&sharded, &config, &["--shard", "1/2"]));
    assert!(
        last.contains("18 sounds: 9 generated; 9 cleaned; 1 pads written"),
        "{last}"
    );

    let pads = files(&pads_output(&whole));
    let names: Vec<&str> = pads.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "flute_brass_reed_bell.bin",
            "flute_brass_reed_bell.bin.provenance.json",
            "settings.json",
            "settings.json.provenance.json"
        ]
    );
    assert_eq!(files(&pads_output(&sharded)), pads, "byte for byte");
}

/// The text of the script `host-tools slurm` wrote, after checking what it printed: the path,
/// then an `sbatch` command line. The line, with `bash -n` for `sbatch`, must check the script's
/// syntax in a shell.
fn written_script(output: &Output, expected: &Path) -> String {
    let printed = stdout(output);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines[0],
        format!("wrote {}; submit it with:", expected.display())
    );
    let submit = lines[1].strip_prefix("sbatch ").unwrap();
    let check = Command::new("bash")
        .arg("-c")
        .arg(format!("bash -n {submit}"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    std::fs::read_to_string(expected).unwrap()
}

/// `path` as it appears in the script: in single quotes, with `'` written `'\''`.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.to_str().unwrap().replace('\'', r"'\''"))
}

#[test]
fn a_pipeline_script_runs_every_shard_and_its_last_task_builds_the_pads() {
    let dir = tempfile::tempdir().unwrap();
    // Relative paths from a folder with a space and a quote in its name.
    let here = dir.path().join("it's here");
    let workdir = here.join("work dir");
    write_recordings(&workdir.join("audio_input"));
    std::fs::write(here.join("settings.json"), pipeline_settings(&[48], 2)).unwrap();
    for file in ["model.ckpt.index", "model.ckpt.data-00000-of-00001"] {
        std::fs::copy(fixture(file), here.join(file)).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_host-tools"))
        .current_dir(&here)
        .args(["slurm", "--workdir", "work dir", "--tasks", "3"])
        .args(["--config", "settings.json", "--checkpoint", "model.ckpt"])
        .args(SMALL_MODEL)
        // GPUs asked for, but the test's tasks run here, on the CPU.
        .args(["--batch", "1", "--time", "00:30:00", "--device", "cpu"])
        .output()
        .unwrap();
    let path = workdir.join("open-nsynth-pipeline.sbatch");
    let script = written_script(&output, &path);
    assert!(workdir.join("logs").is_dir(), "SLURM needs the log folder");
    for line in [
        "#SBATCH --array=0-2",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --time=00:30:00",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        &format!("#SBATCH --output=\"{}/logs\"/%A_%a.out", workdir.display()),
        "set -euo pipefail",
    ] {
        assert!(script.lines().any(|l| l == line), "{line}\n{script}");
    }
    let program = std::fs::canonicalize(env!("CARGO_BIN_EXE_host-tools")).unwrap();
    let command = script.lines().last().unwrap();
    for part in [
        format!("exec {} pipeline ", program.display()),
        format!("--config {}", quoted(&here.join("settings.json"))),
        format!("--workdir {}", quoted(&workdir)),
        format!("--checkpoint {}", quoted(&here.join("model.ckpt"))),
        "--encoder-stages 3 --decoder-stages 4 --device cpu --batch 1".to_string(),
        "--shard \"${SLURM_ARRAY_TASK_ID}/3\"".to_string(),
    ] {
        assert!(command.contains(&part), "{part}\n{command}");
    }

    // Run the tasks as SLURM would, from elsewhere, in any order.
    let task = |id: Option<&str>| {
        let mut bash = Command::new("bash");
        bash.arg(&path)
            .current_dir("/")
            .env_remove("SLURM_ARRAY_TASK_ID");
        if let Some(id) = id {
            bash.env("SLURM_ARRAY_TASK_ID", id);
        }
        bash.output().unwrap()
    };
    let stderr = failure(&task(None), 1);
    assert!(stderr.contains("SLURM_ARRAY_TASK_ID"), "{stderr}");
    let pad = workdir.join("pads_output/flute_brass_reed_bell.bin");
    for id in ["2", "0"] {
        let report = stdout(&task(Some(id)));
        assert!(report.contains("0 pads written"), "{report}");
        assert!(!pad.exists());
    }
    let report = stdout(&task(Some("1")));
    assert!(report.contains("1 pads written"), "{report}");
    assert!(pad.exists());
}

#[test]
fn a_generate_script_asks_for_what_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let embeddings = dir.path().join("embeddings");
    write_embeddings(&embeddings, 2);
    let (workdir, out): (PathBuf, PathBuf) = (dir.path().join("jobs"), dir.path().join("wavs"));
    let checkpoint = fixture("model.ckpt");
    let args: [&dyn AsRef<OsStr>; 24] = [
        &"slurm",
        &"--workdir",
        &workdir,
        &"--tasks",
        &"2",
        &"--gpus-per-task",
        &"0",
        &"--embeddings",
        &embeddings,
        &"--out",
        &out,
        &"--checkpoint",
        &checkpoint,
        &"--partition",
        &"short",
        &"--cpus-per-task",
        &"4",
        &"--mem",
        &"8G",
        &"--seed",
        &"9",
        &"--checkpoint-every",
        &"60",
        &"--batch=4",
    ];
    let path = workdir.join("open-nsynth-generate.sbatch");
    let script = written_script(&host_tools(&args), &path);
    for line in [
        "#SBATCH --job-name=open-nsynth-generate",
        "#SBATCH --array=0-1",
        "#SBATCH --partition=short",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8G",
    ] {
        assert!(script.lines().any(|l| l == line), "{line}\n{script}");
    }
    assert!(!script.contains("--gres"), "{script}");
    assert!(
        script.contains("partial audio is saved every 60 s"),
        "{script}"
    );
    let command = script.lines().last().unwrap();
    assert!(
        command.contains(&format!(
            " generate --embeddings {} --out {} --checkpoint {} --device cpu \
             --batch 4 --seed 9 \
             --checkpoint-every 60 \
             --shard \"${{SLURM_ARRAY_TASK_ID}}/2\"",
            embeddings.display(),
            out.display(),
            checkpoint.display()
        )),
        "{command}"
    );
}

#[test]
fn slurm_refuses_what_its_tasks_could_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("jobs");
    let checkpoint = fixture("model.ckpt");
    let missing = dir.path().join("missing.json");
    let run = |extra: &[&dyn AsRef<OsStr>]| {
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![
            &"slurm",
            &"--workdir",
            &workdir,
            &"--checkpoint",
            &checkpoint,
        ];
        args.extend_from_slice(extra);
        host_tools(&args)
    };
    let config = dir.path().join("settings.json");
    std::fs::write(&config, pipeline_settings(&[48], 2)).unwrap();

    let stderr = failure(&run(&[&"--tasks", &"0", &"--config", &config]), 1);
    assert!(
        stderr.contains("--tasks 0: a job array needs at least one task"),
        "{stderr}"
    );
    let stderr = failure(&run(&[&"--tasks", &"2", &"--config", &missing]), 1);
    assert!(stderr.contains("missing.json"), "{stderr}");
    let stderr = failure(
        &run(&[
            &"--tasks",
            &"2",
            &"--embeddings",
            &missing,
            &"--out",
            &workdir,
        ]),
        1,
    );
    assert!(stderr.contains("missing.json does not exist"), "{stderr}");
    let stderr = failure(
        &run(&[
            &"--tasks",
            &"2",
            &"--config",
            &config,
            &"--embeddings",
            &dir.path(),
        ]),
        2,
    );
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let stderr = failure(&run(&[&"--tasks", &"2", &"--embeddings", &dir.path()]), 2);
    assert!(stderr.contains("--out"), "{stderr}");
    assert!(!workdir.exists(), "nothing was written");
}

#[test]
fn slurm_checks_what_each_task_asks_for_and_will_need() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("work");
    let checkpoint = fixture("model.ckpt");
    let config = dir.path().join("settings.json");
    std::fs::write(&config, pipeline_settings(&[48], 2)).unwrap();
    let script = workdir.join("open-nsynth-pipeline.sbatch");
    let run = |extra: &[&str]| {
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![
            &"slurm",
            &"--workdir",
            &workdir,
            &"--config",
            &config,
            &"--checkpoint",
            &checkpoint,
        ];
        args.extend(SMALL_MODEL.iter().map(|a| a as &dyn AsRef<OsStr>));
        args.extend(extra.iter().map(|a| a as &dyn AsRef<OsStr>));
        host_tools(&args)
    };

    // What a task asks for, in SLURM's own formats.
    let stderr = failure(&run(&["--tasks", "2", "--time", "banana"]), 2);
    assert!(
        stderr.contains("invalid value 'banana' for '--time <TIME>': not a SLURM time limit")
            && stderr.contains("days-hours:minutes:seconds"),
        "{stderr}"
    );
    let stderr = failure(&run(&["--tasks", "2", "--mem", "lots"]), 2);
    assert!(
        stderr.contains("invalid value 'lots' for '--mem <MEM>': not a SLURM memory size"),
        "{stderr}"
    );
    // The recordings the pipeline's tasks start from.
    let recordings = workdir.join("audio_input");
    let stderr = failure(&run(&["--tasks", "2"]), 1);
    assert!(
        stderr.contains(&format!("{} does not exist", recordings.display())),
        "{stderr}"
    );
    std::fs::create_dir_all(&recordings).unwrap();
    let stderr = failure(&run(&["--tasks", "2"]), 1);
    assert!(
        stderr.contains(&format!("{} holds no recordings", recordings.display())),
        "{stderr}"
    );
    // A precision the tasks' CPUs would ignore.
    write_recordings(&recordings);
    let stderr = failure(
        &run(&[
            "--tasks",
            "2",
            "--gpus-per-task",
            "0",
            "--precision",
            "bf16",
        ]),
        1,
    );
    assert!(
        stderr.contains("--precision bf16 is for GPUs, and the model would run on the CPU"),
        "{stderr}"
    );
    assert!(!script.exists(), "nothing was written");

    for (time, mem) in [
        ("90", "4000"),
        ("30:00", "64k"),
        ("12:00:00", "512M"),
        ("1-12", "32G"),
        ("1-12:30", "1T"),
        ("2-00:00:00", "0"),
    ] {
        let output = run(&["--tasks", "2", "--time", time, "--mem", mem]);
        let text = written_script(&output, &script);
        for line in [
            format!("#SBATCH --time={time}"),
            format!("#SBATCH --mem={mem}"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert!(
            text.lines().any(|l| l == "#SBATCH --open-mode=append"),
            "{text}"
        );
    }

    // More tasks than sounds: written, with a warning.
    let output = run(&["--tasks", "100"]);
    written_script(&output, &script);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "--tasks 100 is more than the 4 sounds of the plan: tasks 4 to 99 will have nothing \
             to generate; --tasks 4 does the same work"
        ),
        "{stderr}"
    );
    let output = run(&["--tasks", "4"]);
    written_script(&output, &script);
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("--tasks"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
