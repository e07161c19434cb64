#!/bin/sh
# The half of scripts/sound-test.sh that runs inside the emulated Pi, as root, once the
# instrument's service has started: scripts/sound-test.sh copies it into the image as
# /usr/local/sbin/sound-test-guest with examples/sound_probe.rs as /usr/local/bin/sound_probe,
# and boots the image with `systemd.wants=sound-test.service`. Everything it says goes to the
# console as "sound-test: ..." lines, each check ending in "sound-test: PASS NAME" or
# "sound-test: FAIL NAME"; the host reads them from there. It powers the guest off at the end.
#
# Kernel arguments (from the host):
#   sound_test.notes=N         notes per latency run (100)
#   sound_test.load=S          seconds of each run under load (300)
#   sound_test.load_buffer=F   audio.bufferSize of the runs under load (1024)

set -u
exec >/dev/console 2>&1

say() { echo "sound-test: $*"; }
argument() { sed -n "s/.*sound_test\\.$1=\\([0-9]*\\).*/\\1/p" /proc/cmdline | grep . || echo "$2"; }
notes="$(argument notes 100)"
load_seconds="$(argument load 300)"
load_buffer="$(argument load_buffer 1024)"
settings=/opt/open-nsynth/settings.json
tracing=/sys/kernel/tracing

# probe ARGUMENTS...: the sound probe, its output on the console.
probe() {
    sound_probe "$@" >/tmp/probe.out 2>&1
    status=$?
    sed 's/^/sound-test:   /' /tmp/probe.out
    return "$status"
}

# verdict NAME COMMAND...: runs a check and says how it went.
verdict() {
    name="$1"
    shift
    say "begin $name"
    if "$@"; then say "PASS $name"; else say "FAIL $name"; fi
}

# The log of the service's current run.
service_log() {
    journalctl -o cat "_SYSTEMD_INVOCATION_ID=$(systemctl show -p InvocationID --value open-nsynth)"
}

# Waits (120 s at most) for the current run to say it is ready to play with sound.
wait_ready() {
    tries=0
    until service_log | grep -q "ready to play in"; do
        tries=$((tries + 1))
        [ "$tries" -le 120 ] || { say "the instrument did not get ready"; return 1; }
        sleep 1
    done
    service_log | grep -e "ready to play in" -e "priority" -e "audio on" | sed 's/^/sound-test:   /'
    # The knobs come back at every start: set the short envelope the checks expect.
    probe knobs
}

# restart_with FRAMES: the service again with audio.bufferSize FRAMES.
restart_with() {
    sed -i "s/\"bufferSize\": *[0-9]*/\"bufferSize\": $1/" "$settings"
    grep -q "\"bufferSize\": $1" "$settings" || { say "no bufferSize in $settings"; return 1; }
    systemctl restart open-nsynth && wait_ready
}

# The kernel's count of xruns on every PCM, from a probe on ALSA's own xrun handler.
xruns() {
    while read -r event hits _; do
        [ "$event" = xrun ] && echo "$hits"
    done <"$tracing/kprobe_profile"
}

count_xruns() {
    mountpoint -q "$tracing" || mount -t tracefs tracefs "$tracing" || return 1
    echo 'p:xrun snd_pcm:__snd_pcm_xrun' >>"$tracing/kprobe_events" &&
        echo 1 >"$tracing/events/kprobes/xrun/enable" &&
        say "xruns counted by a kprobe on snd_pcm's __snd_pcm_xrun: $(xruns) so far"
}

check_sound() {
    probe note osc 60 500 && probe note midi 72 500
}

# A sequencer client comes, is connected, plays, goes; twice more; each change logged once.
check_midi_comes_and_goes() {
    before="$(service_log | grep -c "sound-probe")"
    probe note midi 67 300 && sleep 2 && probe note midi 64 300 || return 1
    # The instrument rescans once a second: give it two to see the last client go.
    sleep 2
    service_log | grep "sound-probe" | tail -n 4 | sed 's/^/sound-test:   /'
    changes=$(($(service_log | grep -c "sound-probe") - before))
    say "log lines about the sequencer client: $changes for 4 changes (2 came, 2 went)"
    [ "$changes" -eq 4 ]
}

# small_buffer FRAMES: audio.bufferSize FRAMES, shorter than the loopback's clock step (it moves
# its position once per kernel tick, 4 ms at HZ=250), underruns at once and over and over: the
# instrument keeps trying, and says so once rather than at every attempt.
check_small_buffer() {
    restart_with "$1" || return 1
    before="$(xruns)"
    sleep 10
    failures="$(service_log | grep -c "no sound")"
    say "bufferSize $1: $(($(xruns) - before)) xruns in 10 s, $failures log line(s) about it, service $(systemctl is-active open-nsynth)"
    systemctl -q is-active open-nsynth && [ "$failures" -le 1 ]
}

# latency FRAMES: note-on to sound over $notes notes with audio.bufferSize FRAMES; notes are
# lost only to underruns.
check_latency() {
    restart_with "$1" || return 1
    before="$(xruns)"
    probe latency "$notes" || return 1
    xruns_seen=$(($(xruns) - before))
    lost="$(sed -n 's/^lost //p' /tmp/probe.out)"
    say "latency at bufferSize $1: $lost notes lost, $xruns_seen xruns during the run"
    # Only underruns may take notes: the sound stops while the stream is opened again, the note in
    # the gap sounds late, and the next may start while it still sounds (two per underrun at most).
    [ "$lost" -le $((2 * xruns_seen)) ]
}

# load REAL_TIME: the song for $load_seconds s with a busy loop per processor at normal priority;
# passes with REAL_TIME=yes when nothing underran, with no when the log says why there was no
# real-time priority.
check_load() {
    if [ "$1" = no ]; then
        mkdir -p /run/systemd/system/open-nsynth.service.d
        printf '[Service]\nLimitRTPRIO=0\n' >/run/systemd/system/open-nsynth.service.d/no-real-time.conf
        systemctl daemon-reload
    fi
    restart_with "$load_buffer" || return 1
    loops=""
    for _ in $(seq "$(nproc)"); do
        sh -c 'while :; do :; done' &
        loops="$loops $!"
    done
    before="$(xruns)"
    probe song "$load_seconds"
    xruns_seen=$(($(xruns) - before))
    # shellcheck disable=SC2086
    kill $loops
    say "under load, real-time priority $1: $xruns_seen xruns in $load_seconds s at bufferSize $load_buffer"
    if [ "$1" = yes ]; then
        service_log | grep -q "runs at real-time priority" && [ "$xruns_seen" -eq 0 ]
    else
        service_log | grep -q "runs at normal priority"
    fi
}

say "begin (latency over $notes notes, $load_seconds s under load at bufferSize $load_buffer)"
say "machine: $(nproc) processors, $(uname -r), $(awk '/MemTotal/ { print $2 / 1024 " MiB" }' /proc/meminfo)"
verdict ready wait_ready
verdict xrun-counter count_xruns
verdict sound check_sound
verdict midi-comes-and-goes check_midi_comes_and_goes
for frames in 64 128; do
    verdict "small-buffer-$frames" check_small_buffer "$frames"
done
for frames in 256 512 1024; do
    verdict "latency-$frames" check_latency "$frames"
done
verdict load-real-time check_load yes
verdict load-normal-priority check_load no
say "end"
systemctl poweroff
