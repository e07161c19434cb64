#!/usr/bin/env bash
# The checks of host-tools' CUDA back end that need a GPU, in one run (a few
# minutes): not part of the default test suite, which runs the same kernels
# on a CPU emulator instead.
#
# Usage: scripts/gpu-check.sh [HOST_TOOLS]   (default: target/release/host-tools)
#
#   logits     teacher-forced logits of the fixture model, CPU against cuda:0
#              in fp32, tf32 and bf16 (fp32 must agree within 1e-3)
#   encode     the fixture recording's embedding, CPU against cuda:0 (fp32)
#   generate   the fixture embedding generated on the CPU and on cuda:0 (fp32):
#              whether the WAVs are identical (and where they first differ)
#   bench      `host-tools bench` in tf32 and bf16 with the PyTorch baseline
#              (host-tools/bench/fastgen_torch.py) on the same GPU
#
# Needs python3 with NumPy (and PyTorch for the baseline). Writes its files to
# $OUT if set, else to a temporary folder, and ends with
# "gpu-check.sh: N passed, M failed".

set -uo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT" || exit 1

bin="${1:-target/release/host-tools}"
[[ -x "$bin" ]] || die "gpu-check.sh: $bin is not an executable host-tools (build it with cargo build --release -p host-tools)"
fixture=host-tools/tests/fixtures/nsynth_small
model=("--checkpoint" "$fixture/model.ckpt" "--encoder-stages" "3" "--decoder-stages" "4")
work="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")}"
mkdir -p "$work"
passed=0
failed=0

check() {
    local name="$1"
    shift
    header "$name"
    if "$@"; then
        passed=$((passed + 1))
        ok "--- ok: $name"
    else
        failed=$((failed + 1))
        err "--- failed: $name"
    fi
}

# compare A B LIMIT: prints the largest absolute and relative differences of
# two .npy arrays; fails when the absolute one exceeds LIMIT.
compare() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys
import numpy as np
a, b = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
assert a.shape == b.shape, (a.shape, b.shape)
diff = np.abs(a - b)
rel = diff / np.maximum(np.abs(b), 1e-3)
print(f"shape={list(a.shape)} max_abs_diff={diff.max():.3e} max_rel_diff={rel.max():.3e} "
      f"mean_abs_diff={diff.mean():.3e}")
sys.exit(0 if diff.max() <= float(sys.argv[3]) else 1)
PY
}

logits() {
    local precision="$1" limit="$2"
    "$bin" logits "${model[@]}" --audio "$fixture/input.wav" --encoding "$fixture/embeddings.npy" \
        --out "$work/logits-cpu.npy" --device cpu >/dev/null || return 1
    "$bin" logits "${model[@]}" --audio "$fixture/input.wav" --encoding "$fixture/embeddings.npy" \
        --out "$work/logits-$precision.npy" --device cuda:0 --precision "$precision" || return 1
    printf 'logits precision=%s ' "$precision"
    compare "$work/logits-$precision.npy" "$work/logits-cpu.npy" "$limit"
}

encode() {
    "$bin" encode "${model[@]}" --input "$fixture/input.wav" --out "$work/enc-cpu" --device cpu >/dev/null &&
        "$bin" encode "${model[@]}" --input "$fixture/input.wav" --out "$work/enc-gpu" \
            --device cuda:0 --precision fp32 >/dev/null || return 1
    printf 'encode precision=fp32 '
    compare "$work/enc-gpu/input_embeddings.npy" "$work/enc-cpu/input_embeddings.npy" 1e-4
}

generate() {
    mkdir -p "$work/emb" && cp "$fixture/embeddings.npy" "$work/emb/fixture.npy"
    "$bin" generate "${model[@]}" --embeddings "$work/emb" --out "$work/gen-cpu" --device cpu --seed 3 &&
        "$bin" generate "${model[@]}" --embeddings "$work/emb" --out "$work/gen-gpu" \
            --device cuda:0 --precision fp32 --seed 3 || return 1
    # Sampled runs agree exactly unless a draw falls within rounding of a class boundary.
    if cmp -s "$work/gen-cpu/gen_fixture.wav" "$work/gen-gpu/gen_fixture.wav"; then
        echo "generate precision=fp32 identical=true"
    else
        echo "generate precision=fp32 identical=false (cmp: $(cmp "$work/gen-cpu/gen_fixture.wav" "$work/gen-gpu/gen_fixture.wav" | head -1))"
    fi
}

check "logits fp32" logits fp32 1e-3
check "logits tf32" logits tf32 1e9
check "logits bf16" logits bf16 1e9
check "encode" encode
check "generate" generate
check "bench tf32" "$bin" bench --device cuda:0 --precision tf32 --baseline host-tools/bench/fastgen_torch.py
check "bench bf16" "$bin" bench --device cuda:0 --precision bf16 --batches 64,512,max
echo "gpu-check.sh: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
