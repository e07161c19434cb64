#!/usr/bin/env bash
# Runs the libFuzzer targets in fuzz/ (cargo-fuzz), one after the other, each
# for a fixed time, starting from its committed seeds.
#
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]
#
#   SECONDS  how long each target runs (default 60)
#   TARGET   the targets to run (default: all, as `cargo fuzz list` gives them)
#
# Each target grows its corpus in fuzz/corpus/<target> from the seeds in
# fuzz/seeds/<target> (libFuzzer only ever adds to the first directory, so the
# seeds stay as committed). A crash, a panic, an input slower than
# FUZZ_TIMEOUT seconds or a run over 2 GB of memory fails the target; libFuzzer
# saves the input to fuzz/artifacts/<target>/ and the run's log goes to
# fuzz/artifacts/<target>.log. To replay one:
#
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
#
# One line per target gives its executions and crashes; the last line is
# "fuzz.sh: N passed, M failed", and the exit status is non-zero when any
# target failed. scripts/setup.sh --fuzz installs nightly and cargo-fuzz.
#
# Environment:
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a hang (10)

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

seconds="${1:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "fuzz.sh: SECONDS must be a whole number above 0, not '$seconds'"
shift $(($# > 0 ? 1 : 0))
timeout="${FUZZ_TIMEOUT:-10}"

# Longest input per target: above every seed of its kind, and short enough that
# the time goes into structure rather than into huge inputs.
max_len() {
    case "$1" in
    midi_stream) echo 4096 ;;
    osc | sim_script | pad_file | npy) echo 8192 ;;
    *) echo 16384 ;;
    esac
}

# A failure before or between the targets (setup, the build) fails the run.
trap finish EXIT

current="setup"
bash scripts/setup.sh --fuzz
ensure_cargo_on_path

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
[[ ${#targets[@]} -gt 0 ]] || die "fuzz.sh: no fuzz targets"

current="build"
header "build"
cargo +nightly fuzz build

# run_target NAME: runs one target and prints its line; fails when it found
# anything.
run_target() {
    local target="$1"
    local corpus="fuzz/corpus/$target" seeds="fuzz/seeds/$target"
    local log="fuzz/artifacts/$target.log"
    [[ -d "$seeds" ]] || die "fuzz.sh: no seeds for $target in $seeds"
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    local rc=0
    cargo +nightly fuzz run "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
        -timeout="$timeout" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    local runs crashes
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    crashes="$(grep -c 'Test unit written to ' "$log" || true)"
    if [[ $rc -ne 0 && $crashes -eq 0 ]]; then
        # Failed without saving an input: the build or libFuzzer itself.
        crashes=1
    fi
    local line="$target: ${runs:-?} runs, $crashes crash(es)"
    if [[ $crashes -eq 0 ]]; then
        ok "$line"
        return 0
    fi
    info "$line"
    err "$target failed (log: $log)"
    sed -n 's/.*Test unit written to /  saved input: /p' "$log" >&2
    return 1
}

header "fuzz ${#targets[@]} target(s), ${seconds}s each"
for target in "${targets[@]}"; do
    # Counted as passed or failed; the next target runs either way.
    step "$target" run_target "$target" || true
done
