#!/usr/bin/env bash
# The whole test suite, in order, stopping at the first failure:
#
#   setup        scripts/setup.sh: installs whatever is missing
#   fmt          cargo fmt --all -- --check
#   clippy       cargo clippy --workspace --all-targets -- -D warnings
#   test         cargo test --workspace
#   kernels      host-tools' model tests again with the AVX2 and the portable
#                products forced (HOST_TOOLS_KERNEL), as on CPUs without AVX-512
#   doc          cargo doc --workspace --no-deps, warnings as errors
#   nvrtc        the GPU kernels compiled by NVRTC for every supported GPU
#                architecture (no GPU needed; setup fetches the library)
#   fuzz         scripts/fuzz.sh 20: every fuzz target for 20 s from its seeds
#                (setup.sh --fuzz installs nightly and cargo-fuzz)
#   cross        cargo build --release -p open-nsynth for aarch64 and armv7
#   native       cargo build --release -p open-nsynth
#   demo         open-nsynth demo --dir <tmp>/demo
#   render       the demo, natively and with each ARM binary under qemu-user
#   compare      each ARM WAV against the native one with examples/wav_diff.rs
#
# The last line is "test.sh: N passed, 0 failed" when everything passed, and
# "test.sh: N passed, 1 failed" (with a non-zero exit) when a step failed.
#
# Environment:
#   SKIP_CROSS=1    leave out the ARM builds, renders and comparisons (quick
#                   local runs; CI runs everything)
#   WAV_TOLERANCE   largest sample difference accepted between an ARM render
#                   and the native one, in the WAV's units (LSBs for integer
#                   PCM, sample values for float); default `auto`: wav_diff
#                   takes it from the sample format (2 LSBs, or 1e-4 for float)
#   KEEP_WORK=1     keep the temporary directory with the demo and the WAVs
#   CI=true         debug builds with line tables only, and each build output
#                   removed once no later step reads it (a clean clone's run
#                   peaks at about 2.5 GB of build output)

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

case "${SKIP_CROSS:-0}" in
0 | false | no) SKIP_CROSS=0 ;;
*) SKIP_CROSS=1 ;;
esac

# target triple, qemu emulator name
ARM_TARGETS=(
    "aarch64-unknown-linux-gnu aarch64"
    "armv7-unknown-linux-gnueabihf arm"
)

# In CI every build starts from nothing: incremental artefacts only cost time,
# and full debug info doubles the test binaries (3.5 GB against 1.8 GB with
# line tables, which still give backtraces their file and line). What a
# finished step leaves behind is removed once nothing later reads it, so the
# run fits a machine with little disk.
in_ci=0
if [[ "${CI:-}" == true ]]; then
    in_ci=1
    export CARGO_INCREMENTAL=0
    export CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi

work=""
started="$(now_s)"
target_dir=""
# The space left is the first thing to know when a build fails to write.
trap 'finish report_disk' EXIT

# ----------------------------------------------------------- helpers ---

qemu_for() {
    local name="qemu-$1"
    if command -v "$name" >/dev/null 2>&1; then
        echo "$name"
    elif command -v "$name-static" >/dev/null 2>&1; then
        echo "$name-static"
    else
        err "$name not found (scripts/setup.sh --cross installs qemu-user)"
        return 1
    fi
}

# The space left where the build goes, as df prints it.
report_disk() {
    local free
    free="$(df -h --output=avail "${target_dir:-$REPO_ROOT}" | tail -n 1 | tr -d ' ')"
    info "disk: $free free where the build goes"
}

# drop_build_output WHAT PATH: in CI, removes a build output no later step
# reads (the clone is thrown away after the run); elsewhere keeps it.
drop_build_output() {
    [[ $in_ci -eq 1 && -e "$2" ]] || return 0
    info "removing $1 ($(du -sh "$2" | cut -f1)): no later step reads it"
    rm -rf -- "$2"
}

require_file() {
    [[ -s "$1" ]] || {
        err "expected $1 to exist and not be empty"
        return 1
    }
}

# ------------------------------------------------------------- the steps ---

setup_args=(--lint --nvrtc)
[[ $SKIP_CROSS -eq 0 ]] && setup_args+=(--cross)
step "setup" bash scripts/setup.sh "${setup_args[@]}"
ensure_cargo_on_path

step "cargo fmt" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "cargo test" cargo test --workspace
for kernel in avx2 portable; do
    step "model tests, $kernel products" env HOST_TOOLS_KERNEL="$kernel" \
        cargo test -p host-tools --lib model::
done
step "cargo doc" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

target_dir="$(cargo_target_dir)"
nvrtc_lib="$target_dir/nvrtc/lib"
step "kernels compile with NVRTC" env LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo test -p host-tools --test nvrtc -- --ignored
drop_build_output "the debug build" "$target_dir/debug"
drop_build_output "the NVRTC library" "$target_dir/nvrtc"

step "fuzz" bash scripts/fuzz.sh 20
# cargo fuzz builds for the host triple, in fuzz/target or under CARGO_TARGET_DIR.
drop_build_output "the fuzz build" "fuzz/target"
drop_build_output "the fuzz build" "$target_dir/$(rustc -vV | sed -n 's/^host: //p')"

if [[ $SKIP_CROSS -eq 0 ]]; then
    for entry in "${ARM_TARGETS[@]}"; do
        read -r triple _ <<<"$entry"
        step "cross build $triple" cargo build --release -p open-nsynth --target "$triple"
    done
fi

step "native release build" cargo build --release -p open-nsynth

native_bin="$target_dir/release/open-nsynth"
work="$(mktemp -d "${TMPDIR:-/tmp}/open-nsynth-test.XXXXXX")"
demo="$work/demo"

make_demo() {
    printf '$ %s\n' "$native_bin demo --dir $demo"
    "$native_bin" demo --dir "$demo"
    require_file "$demo/settings.json"
    require_file "$demo/demo.mid"
}
step "demo pad set" make_demo

# render OUT COMMAND...: renders the demo song with COMMAND (the binary,
# possibly behind an emulator) into OUT.
render() {
    local out="$1"
    shift
    local -a cmd=("$@" render --settings "$demo/settings.json" --midi "$demo/demo.mid" --out "$out")
    printf '$ %s\n' "${cmd[*]}"
    "${cmd[@]}"
    require_file "$out"
    info "$out: $(wc -c <"$out") bytes"
}

step "render native" render "$work/native.wav" "$native_bin"

if [[ $SKIP_CROSS -eq 0 ]]; then
    # wav_diff derives the tolerance from the WAVs' sample format.
    tolerance="${WAV_TOLERANCE:-auto}"

    for entry in "${ARM_TARGETS[@]}"; do
        read -r triple emu <<<"$entry"
        qemu="$(qemu_for "$emu")"
        # The ARM binaries are dynamically linked. setup.sh installs the
        # target's libasound2 through Debian multiarch, which brings the
        # target's libc6 with it: the ARM dynamic loader lies in /lib and the
        # libraries in /usr/lib/<multiarch triple>, where it searches. So the
        # host root is the sysroot.
        step "render $triple (qemu)" render "$work/$triple.wav" \
            "$qemu" -L / "$target_dir/$triple/release/open-nsynth"
    done

    for entry in "${ARM_TARGETS[@]}"; do
        read -r triple _ <<<"$entry"
        step "compare $triple with native" cargo run --release --example wav_diff -- \
            "$work/native.wav" "$work/$triple.wav" --tolerance "$tolerance"
    done
fi

header "done in $(($(now_s) - started))s"
if [[ $SKIP_CROSS -eq 1 ]]; then
    info "(SKIP_CROSS=1: ARM builds, renders and comparisons left out)"
fi
