#!/usr/bin/env bash
# Hear open-nsynth without any hardware: builds it, writes a synthetic demo
# pad set with its settings and a short MIDI song, and renders the song to a
# WAV file.
#
#   scripts/demo.sh
#
# Installs what the build needs first (scripts/setup.sh; apt packages need
# root or sudo). Writes into ./demo, or into DEMO_DIR when that is set.

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

demo_dir="${DEMO_DIR:-demo}"

header "Checking what the build needs"
bash scripts/setup.sh
ensure_cargo_on_path

header "Building open-nsynth (release)"
cargo build --release -p open-nsynth
bin="$(cargo_target_dir)/release/open-nsynth"

header "Writing the demo pad set, settings and song into $demo_dir"
"$bin" demo --dir "$demo_dir"

header "Rendering the demo song"
"$bin" render \
    --settings "$demo_dir/settings.json" \
    --midi "$demo_dir/demo.mid" \
    --out "$demo_dir/demo.wav"

[[ -s "$demo_dir/demo.wav" ]] || die "the render wrote no $demo_dir/demo.wav"
wav="$(cd "$(dirname "$demo_dir/demo.wav")" && pwd)/demo.wav"

header "Done"
echo "The demo WAV is at: $wav"
echo "Play it with e.g.: aplay '$wav'"
