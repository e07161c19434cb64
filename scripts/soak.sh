#!/usr/bin/env bash
# Soak test: a headless instrument on a stand-in sound card, fed random MIDI (through a
# pseudo-terminal serial port) and random OSC (notes, knobs, grid moves, pad switches, patch
# loads and saves, garbage) for MINUTES, reporting each minute its memory, callback overruns and
# dropped input. Fails if the instrument dies, stops uncleanly or its memory grows.
#
# Usage: scripts/soak.sh [MINUTES]   (default 5)

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

minutes="${1:-5}"
[[ "$minutes" =~ ^[1-9][0-9]*$ ]] || die "soak.sh: MINUTES must be a whole number above 0, not '$minutes'"

ensure_cargo_on_path
bash scripts/setup.sh
info "soak.sh: building"
cargo build --release --bin open-nsynth --example soak
target="$(cargo_target_dir)/release"
exec "$target/examples/soak" "$minutes" "$target/open-nsynth"
