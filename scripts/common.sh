# shellcheck shell=bash
# Helpers shared by the scripts in this directory. Source it; do not run it.
#
# Sets REPO_ROOT, makes cargo reachable (a fresh rustup install only adds
# ~/.cargo/bin to PATH for login shells), defines small output helpers, and
# `step` and `finish` for the scripts built of steps (test.sh, slurm-test.sh,
# gpu-check.sh, fuzz.sh).

if [[ -z "${BASH_VERSION:-}" ]]; then
    echo "scripts/common.sh: needs bash" >&2
    return 1
fi

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# Never stop for a question: CI has no stdin.
export DEBIAN_FRONTEND=noninteractive

# Colour only on a terminal.
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    _c_bold=$'\033[1m'
    _c_red=$'\033[31m'
    _c_green=$'\033[32m'
    _c_off=$'\033[0m'
else
    _c_bold='' _c_red='' _c_green='' _c_off=''
fi

# A header that stands out in a long CI log.
header() {
    printf '\n%s==> %s%s\n' "$_c_bold" "$*" "$_c_off"
}

info() {
    printf '%s\n' "$*"
}

ok() {
    printf '%s%s%s\n' "$_c_green" "$*" "$_c_off"
}

err() {
    printf '%serror: %s%s\n' "$_c_red" "$*" "$_c_off" >&2
}

die() {
    err "$*"
    exit 1
}

# Make `cargo` and `rustup` callable when rustup installed them but the
# current shell never sourced ~/.cargo/env.
ensure_cargo_on_path() {
    if ! command -v cargo >/dev/null 2>&1; then
        local cargo_home="${CARGO_HOME:-$HOME/.cargo}"
        if [[ -f "$cargo_home/env" ]]; then
            # shellcheck disable=SC1091
            . "$cargo_home/env"
        elif [[ -x "$cargo_home/bin/cargo" ]]; then
            PATH="$cargo_home/bin:$PATH"
            export PATH
        fi
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found. Install Rust with rustup (see the README), then open a new shell or run: . \"\$HOME/.cargo/env\""
}

# Where cargo puts its build output (honours CARGO_TARGET_DIR and
# build.target-dir in any cargo config).
cargo_target_dir() {
    local meta dir
    meta="$(cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps)" ||
        die "cargo metadata failed"
    dir="$(printf '%s' "$meta" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
    [[ -n "$dir" ]] || die "could not read the target directory from cargo metadata"
    printf '%s\n' "$dir"
}

# Seconds since the epoch, for step timings.
now_s() {
    date +%s
}

# ------------------------------------------------------------- steps ---
#
# A script built of steps counts them in `passed` and `failed`, names the one
# running in `current`, and ends with the summary line CI reads:
# "<script>: N passed, M failed".

script_name="${0##*/}"
passed=0
failed=0
current="(before the first step)"

# step NAME COMMAND [ARGS...]: runs one step under a numbered header and counts
# it. Under `set -e` a failing step ends the script there (`finish` reports
# it); without, the failure is counted, step returns its status and the script
# goes on to the next step.
step() {
    current="$1"
    shift
    header "[$((passed + failed + 1))] $current"
    # Shell functions print the commands they run themselves.
    if [[ "$(type -t "$1")" != function ]]; then
        printf '$ %s\n' "$*"
    fi
    local t0 rc
    t0="$(now_s)"
    # Not `"$@" || rc=$?`: that would turn `set -e` off inside the command.
    "$@"
    rc=$?
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1))
        ok "--- ok: $current ($(($(now_s) - t0))s)"
    else
        failed=$((failed + 1))
        err "--- failed: $current (exit status $rc, $(($(now_s) - t0))s)"
    fi
    return "$rc"
}

# finish [CLEANUP...]: the EXIT trap of a script built of steps, as
# `trap finish EXIT`, or `trap 'finish COMMAND' EXIT` to run COMMAND first
# (stopping what the script started). Removes the script's `work` folder, if
# any, after a success unless KEEP_WORK=1, and names it otherwise (followed by
# `work_note`, if set). A script that stopped early (a failed step under
# `set -e`, `die`, a signal) has that counted as one failure of the current
# step. Prints the summary line and exits non-zero when anything failed.
finish() {
    local rc=$?
    trap - EXIT
    if [[ $# -gt 0 ]]; then
        "$@" || true
    fi
    if [[ -n "${work:-}" && -d "$work" ]]; then
        if [[ $rc -eq 0 && $failed -eq 0 && "${KEEP_WORK:-0}" == 0 ]]; then
            rm -rf -- "$work"
        else
            info "$script_name: work files kept in $work"
            if [[ -n "${work_note:-}" ]]; then
                info "$script_name: $work_note"
            fi
        fi
    fi
    if [[ $rc -ne 0 && $failed -eq 0 ]]; then
        err "step '$current' failed (exit status $rc)"
        failed=1
    fi
    echo "$script_name: $passed passed, $failed failed"
    if [[ $rc -eq 0 && $failed -gt 0 ]]; then
        rc=1
    fi
    exit "$rc"
}
