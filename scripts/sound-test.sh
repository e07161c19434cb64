#!/usr/bin/env bash
# Tests the instrument on a real Linux sound stack: the image of scripts/image-test.sh (the
# stand-in Raspberry Pi OS with the demo pad) booted in qemu's arm64 `virt` machine, whose Debian
# kernel has the loopback sound card (snd-aloop, the instrument's output) and the sequencer's
# dummy client (snd-seq-dummy), with one emulated processor. The checks run inside the guest
# (scripts/sound-test-guest.sh, with examples/sound_probe.rs built for arm64), started by
# systemd once the instrument's service is up; this side reads their verdicts from the console.
# NOT part of the default test suite (scripts/test.sh): it takes about twenty minutes on two
# cores. Run it as root (mmdebstrap and binfmt_misc need root) when the sound output, the MIDI
# input or the service unit change.
#
#   setup, binfmt, build, standin, image    as image-test.sh (and the probe for arm64)
#   guest        the probe and the guest script copied into a copy of the image's root, which
#                boots with the checks; its console is kept in the work folder
#   ready        the service says "ready to play", with its audio thread's priority
#   xrun-counter a kprobe on ALSA's xrun handler, snd_pcm's __snd_pcm_xrun, counts underruns
#   sound        a note over OSC (60) and one from a sequencer port (72), each held 500 ms, are
#                heard on the loopback's capture side at their pitch (within 20 cents) and for
#                as long as they were held
#   midi-comes-and-goes
#                a sequencer client appears after the service started, is connected within 2 s
#                and heard; it goes, comes back, is connected and heard again; the service logs
#                each of the four changes once
#   small-buffer-64, small-buffer-128
#                audio.bufferSize 64 and 128 (1.3 and 2.7 ms) are shorter than the loopback's
#                clock step (it moves sound once per kernel tick, 4 ms at the kernel's HZ=250),
#                so they underrun over and over: the service keeps running and trying, and logs
#                it once; the xruns are counted
#   latency-256, latency-512, latency-1024
#                note-on handed to the sequencer to the first sound captured, over 100 notes,
#                at that audio.bufferSize: median, max and the kernel's xrun count
#   load-real-time
#                5 minutes of a busy song from the sequencer with a busy loop per processor at
#                normal priority, at audio.bufferSize 1024: no underrun (the audio thread at
#                SCHED_FIFO); SOUND_TEST_LOAD_BUFFER=256 runs it closer to the emulated
#                machine's limit, where the priority makes a difference
#   load-normal-priority
#                the same with the service's LimitRTPRIO at 0: the log says the audio thread
#                could not have real-time priority; the underruns are counted
#
# The last line is "sound-test.sh: N passed, M failed".
#
# Environment:
#   SOUND_TEST_NOTES        notes per latency run (100)
#   SOUND_TEST_LOAD         seconds of each run under load (300)
#   SOUND_TEST_LOAD_BUFFER  audio.bufferSize of the runs under load (1024)
#   SOUND_TEST_PORT         the host's UDP port forwarded to the guest's OSC port (18001)
#   STANDIN_MIRROR          a Debian mirror for the stand-in (mmdebstrap's default)
#   KEEP_WORK=1             keep the image and the console log in the work folder

set -uo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT" || exit 1
ensure_cargo_on_path

notes="${SOUND_TEST_NOTES:-100}"
load="${SOUND_TEST_LOAD:-300}"
load_buffer="${SOUND_TEST_LOAD_BUFFER:-1024}"
port="${SOUND_TEST_PORT:-18001}"
# One emulated processor: qemu then needs a host core for it and one for its own timers and
# devices, which two cores give. With two emulated processors kept busy on two host cores, qemu's
# own thread waits for a core and the guest's clock interrupts come late, whatever the guest's
# priorities (underruns at any priority).
guest_cpus=1
# shellcheck source=scripts/emulated.sh
. scripts/emulated.sh
trap 'finish stop_qemu' EXIT

probe="$target_dir/aarch64-unknown-linux-gnu/release/examples/sound_probe"
console="$work/console.log"
checks=(ready xrun-counter sound midi-comes-and-goes small-buffer-64 small-buffer-128
    latency-256 latency-512 latency-1024 load-real-time load-normal-priority)

do_build() {
    cargo build --release --locked &&
        cargo build --release --locked --target aarch64-unknown-linux-gnu --bin open-nsynth --example sound_probe
}

do_image() {
    emulated_pads && emulated_image "$work/sound.img"
}

# The probe, the guest script and its unit go into the image's root partition.
do_guest() {
    local unit="$work/sound-test.service"
    cat >"$unit" <<'EOF'
[Unit]
Description=The sound test's checks (scripts/sound-test.sh)
After=open-nsynth.service

[Service]
Type=simple
ExecStart=/usr/local/sbin/sound-test-guest
EOF
    debugfs -w -f - "$work/sound.img?offset=$(root_offset "$work/sound.img")" >/dev/null <<EOF || return 1
write $probe /usr/local/bin/sound_probe
sif /usr/local/bin/sound_probe mode 0100755
write scripts/sound-test-guest.sh /usr/local/sbin/sound-test-guest
sif /usr/local/sbin/sound-test-guest mode 0100755
write $unit /etc/systemd/system/sound-test.service
sif /etc/systemd/system/sound-test.service mode 0100644
EOF
    start_guest "$work/sound.img" "$console" modules-load=snd-seq-dummy systemd.wants=sound-test.service \
        "sound_test.notes=$notes" "sound_test.load=$load" "sound_test.load_buffer=$load_buffer"
    wait_console "$console" "sound-test: end" $((900 + 3 * notes + 2 * load)) || return 1
    # The guest powers itself off.
    local waited=0
    while kill -0 "$qemu_pid" 2>/dev/null && ((waited++ < 60)); do sleep 1; done
    stop_qemu
}

# check NAME: what the guest said during its check NAME, and whether it passed.
check() {
    local said
    said="$(tr -d '\r' <"$console" | sed -n "s/^.*sound-test: //p" |
        sed -n "/^begin $1\$/,/^\(PASS\|FAIL\) $1\$/p")"
    [[ -n "$said" ]] || { err "the guest never ran $1"; return 1; }
    sed '1d;$d' <<<"$said"
    [[ "$(tail -n 1 <<<"$said")" == "PASS $1" ]]
}

step "setup" do_setup || exit 1
step "binfmt" do_binfmt || exit 1
step "build" do_build || exit 1
step "standin" do_standin || exit 1
step "image" do_image || exit 1
step "guest" do_guest
tr -d '\r' <"$console" | sed -n 's/^.*sound-test: \(begin (.*\|machine: .*\)$/\1/p'
for name in "${checks[@]}"; do
    step "$name" check "$name"
done
exit 0
