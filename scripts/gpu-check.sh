#!/usr/bin/env bash
# The checks of host-tools' CUDA back end that need a GPU, in one run (a few
# minutes): not part of the default test suite, which runs the same kernels
# on a CPU emulator instead.
#
# Usage: scripts/gpu-check.sh [--device DEVICE] [HOST_TOOLS]
#
#   HOST_TOOLS  the host-tools binary (default: target/release/host-tools)
#   DEVICE      the device checked against the CPU (default: cuda:0); `cpu`
#               checks the CPU against itself and leaves the benchmarks out,
#               which tries this script on a machine without a GPU
#
#   reference  the fixture model's logits, embedding and generation on the CPU
#   logits     teacher-forced logits of the fixture recording on DEVICE in
#              fp32, tf32 and bf16, against the CPU's
#   encode     the fixture recording's embedding on DEVICE (fp32)
#   generate   the fixture embedding generated as 8 notes (fixture0.npy to
#              fixture7.npy, seed 3) on DEVICE in fp32, tf32 and bf16: the
#              share of their samples equal to the CPU's
#   bench      `host-tools bench` in tf32 and bf16 with the PyTorch baseline
#              (host-tools/bench/fastgen_torch.py) on the same GPU
#
# Logits and embeddings are compared as host-tools' tests compare them: the
# largest |device - cpu| / (1 + |cpu|). Sampled audio is not close or far: a
# draw within rounding of a class boundary picks the neighbouring class, so it
# is compared as the share of samples that are equal.
#
# The limits come from the CUDA emulator (host-tools/src/cuda/emulator.rs: the
# same kernels on the CPU, TF32 products rounding their inputs first) run on
# these very inputs against the CPU. To measure again (minutes):
#
#   cargo test -p host-tools --lib gpu_check_measurements -- --ignored --nocapture
#
# (host-tools/src/cuda/tests.rs), which printed
#
#              logits   embedding  equal samples
#   fp32       2.9e-6   1.9e-7     1.0000
#   tf32       7.5e-3   1.5e-3     0.9678
#   bf16       3.9e-2   8.6e-3     0.8903
#   unrelated notes (other seeds, CPU)  0.0339
#
# fp32 differs from the CPU only in the order of its sums. Its limits (logits
# 1e-3, embedding 1e-4, at least 0.99 of the samples equal) leave cuBLAS that
# room, and a GPU that multiplies in TF32 when asked for fp32 fails all three
# (7.5e-3, 1.5e-3, 0.97 above). tf32 and bf16 may differ three times as much
# as on the emulator, rounded up, since tensor cores also sum in their own
# order: logits 2.5e-2 and 0.12; at least 0.90 and 0.67 of the samples equal
# (3.2% and 11% differ on the emulator). Broken kernels differ by far more:
# unrelated notes share 3% of their samples.
#
# Needs python3 with NumPy (and PyTorch for the baseline). Writes its files to
# $OUT if set, else to a temporary folder, and ends with
# "gpu-check.sh: N passed, M failed".

set -uo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT" || exit 1

device=cuda:0
bin=target/release/host-tools
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    --device)
        [[ $# -ge 2 ]] || die "gpu-check.sh: --device needs a value (try --help)"
        device="$2"
        shift 2
        ;;
    --device=*)
        device="${1#--device=}"
        shift
        ;;
    -*) die "gpu-check.sh: unknown option '$1' (try --help)" ;;
    *)
        bin="$1"
        shift
        ;;
    esac
done

[[ -x "$bin" ]] || die "gpu-check.sh: $bin is not an executable host-tools (build it with cargo build --release -p host-tools)"
fixture=host-tools/tests/fixtures/nsynth_small
model=("--checkpoint" "$fixture/model.ckpt" "--encoder-stages" "3" "--decoder-stages" "4")
notes=8
seed=3
out_dir="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")}"
mkdir -p "$out_dir"
trap finish EXIT

# compare_arrays DEVICE CPU LIMIT: prints how two .npy arrays differ; fails
# when the largest |device - cpu| / (1 + |cpu|) is above LIMIT.
compare_arrays() {
    python3 - "$@" <<'PY'
import sys
import numpy as np
a, b = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
limit = float(sys.argv[3])
if a.shape != b.shape:
    sys.exit(f"{sys.argv[1]} has shape {list(a.shape)}, {sys.argv[2]} {list(b.shape)}")
diff = np.abs(a - b)
rel = (diff / (1.0 + np.abs(b))).max()
print(f"shape={list(a.shape)} max_rel_diff={rel:.3e} (limit {limit:g}) "
      f"max_abs_diff={diff.max():.3e} mean_abs_diff={diff.mean():.3e}")
# NaN compares false, so it fails too.
sys.exit(0 if rel <= limit else 1)
PY
}

# compare_samples CPU_DIR DEVICE_DIR LEAST: prints the share of samples equal
# in the WAVs of two folders (the same names); fails when it is below LEAST
# over all of them.
compare_samples() {
    python3 - "$@" <<'PY'
import os
import struct
import sys
import numpy as np
cpu_dir, device_dir, least = sys.argv[1], sys.argv[2], float(sys.argv[3])
def wavs(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".wav"))
names = wavs(cpu_dir)
if not names or wavs(device_dir) != names:
    sys.exit(f"different WAVs: {cpu_dir} has {names}, {device_dir} has {wavs(device_dir)}")
def samples(path):
    """The format (tag, channels, rate, bits) and samples of a PCM or float WAV."""
    data = open(path, "rb").read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        sys.exit(f"{path}: not a WAV file")
    fmt, pos = None, 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", data, pos + 8)
            bits = struct.unpack_from("<H", data, pos + 22)[0]
            if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the tag opens the sub-format
                tag = struct.unpack_from("<H", data, pos + 32)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data" and fmt is not None:
            dtype = {(1, 16): "<i2", (3, 32): "<f4"}.get((fmt[0], fmt[3]))
            if dtype is None:
                sys.exit(f"{path}: format {fmt[0]} with {fmt[3]}-bit samples, not 16-bit or float")
            return fmt, np.frombuffer(data[pos + 8:pos + 8 + size], dtype=dtype)
        pos += 8 + size + (size & 1)
    sys.exit(f"{path}: no fmt and data chunks")
equal = total = 0
for name in names:
    (cpu_format, cpu), (device_format, dev) = (
        samples(os.path.join(cpu_dir, name)), samples(os.path.join(device_dir, name)))
    if cpu_format != device_format or cpu.shape != dev.shape:
        sys.exit(f"{name}: {cpu.size} samples {cpu_format} on the CPU, "
                 f"{dev.size} samples {device_format} on the device")
    same = cpu == dev
    first = "" if same.all() else f", first difference at sample {int(np.argmin(same))}"
    print(f"{name}: {same.mean():.4f} of {same.size} samples equal{first}")
    equal += int(same.sum())
    total += same.size
share = equal / total
print(f"notes={len(names)} equal_share={share:.4f} (at least {least:g})")
sys.exit(0 if share >= least else 1)
PY
}

# fresh DIR: an empty folder (host-tools skips outputs that already exist).
fresh() {
    rm -rf -- "$1" && mkdir -p "$1"
}

reference() {
    fresh "$out_dir/emb"
    local i
    for ((i = 0; i < notes; i++)); do
        cp "$fixture/embeddings.npy" "$out_dir/emb/fixture$i.npy" || return 1
    done
    fresh "$out_dir/enc-cpu" || return 1
    fresh "$out_dir/gen-cpu" || return 1
    "$bin" logits "${model[@]}" --audio "$fixture/input.wav" --encoding "$fixture/embeddings.npy" \
        --out "$out_dir/logits-cpu.npy" --device cpu >/dev/null &&
        "$bin" encode "${model[@]}" --input "$fixture/input.wav" --out "$out_dir/enc-cpu" \
            --device cpu >/dev/null &&
        "$bin" generate "${model[@]}" --embeddings "$out_dir/emb" --out "$out_dir/gen-cpu" \
            --device cpu --seed "$seed"
}

# on_device PRECISION: the flags that run a command on DEVICE at PRECISION, in
# on_device (no --precision for the CPU, which always computes in float32 and
# refuses one).
on_device() {
    on_device=(--device "$device")
    [[ "$device" == cpu ]] || on_device+=(--precision "$1")
}

# logits PRECISION LIMIT
logits() {
    local precision="$1" limit="$2"
    on_device "$precision"
    "$bin" logits "${model[@]}" --audio "$fixture/input.wav" --encoding "$fixture/embeddings.npy" \
        --out "$out_dir/logits-$precision.npy" "${on_device[@]}" || return 1
    compare_arrays "$out_dir/logits-$precision.npy" "$out_dir/logits-cpu.npy" "$limit"
}

# encode LIMIT
encode() {
    fresh "$out_dir/enc-device" || return 1
    on_device fp32
    "$bin" encode "${model[@]}" --input "$fixture/input.wav" --out "$out_dir/enc-device" \
        "${on_device[@]}" >/dev/null || return 1
    compare_arrays "$out_dir/enc-device/input_embeddings.npy" "$out_dir/enc-cpu/input_embeddings.npy" "$1"
}

# generate PRECISION LEAST
generate() {
    local precision="$1" least="$2"
    fresh "$out_dir/gen-$precision" || return 1
    on_device "$precision"
    "$bin" generate "${model[@]}" --embeddings "$out_dir/emb" --out "$out_dir/gen-$precision" \
        "${on_device[@]}" --seed "$seed" || return 1
    compare_samples "$out_dir/gen-cpu" "$out_dir/gen-$precision" "$least"
}

# The limits are explained, and their numbers sourced, in the header.
step "reference on the CPU" reference
step "logits fp32" logits fp32 1e-3
step "logits tf32" logits tf32 2.5e-2
step "logits bf16" logits bf16 0.12
step "encode fp32" encode 1e-4
step "generate fp32" generate fp32 0.99
step "generate tf32" generate tf32 0.90
step "generate bf16" generate bf16 0.67
if [[ "$device" == cpu ]]; then
    info "(--device cpu: the benchmarks, which need a GPU, are left out)"
else
    step "bench tf32" "$bin" bench --device "$device" --precision tf32 --baseline host-tools/bench/fastgen_torch.py
    step "bench bf16" "$bin" bench --device "$device" --precision bf16 --batches 64,512,max
fi
info "gpu-check.sh: files in $out_dir"
