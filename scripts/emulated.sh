# shellcheck shell=bash
# The emulated Raspberry Pi shared by image-test.sh and sound-test.sh: the
# stand-in base, the board and settings for the emulated machine, an image of
# them, and qemu's arm64 `virt` machine booting it. Source it after common.sh,
# with `port` set (the host's UDP port for the guest's OSC port) and
# `guest_cpus` if not 2 (the emulated machine's processors); do not run it. It
# refuses to go on without root, and sets `target_dir`, `cache` (the stand-in,
# kept between runs) and `work` (this run's scratch folder, which `finish`
# removes).

[[ "$(id -u)" -eq 0 ]] || die "$script_name: run it as root (mmdebstrap and binfmt_misc need root)"
target_dir="$(cargo_target_dir)"
cache="$target_dir/image-test"
mkdir -p "$cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/${script_name%.sh}.XXXXXX")"
qemu_pid=""
nsynth="$target_dir/release/open-nsynth"
arm_binary="$target_dir/aarch64-unknown-linux-gnu/release/open-nsynth"

stop_qemu() {
    if [[ -n "$qemu_pid" ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -9 "$qemu_pid" 2>/dev/null
        wait "$qemu_pid" 2>/dev/null
    fi
    qemu_pid=""
}

do_setup() {
    scripts/setup.sh --image --cross
}

do_binfmt() {
    mountpoint -q /proc/sys/fs/binfmt_misc ||
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || return 1
    update-binfmts --enable qemu-aarch64 2>/dev/null || true
    grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
        { err "qemu-aarch64 is not registered with binfmt_misc"; return 1; }
    info "binfmt_misc: qemu-aarch64 enabled"
}

# The stand-in base, kept in the cache and reused while standin-base.sh is unchanged.
do_standin() {
    local recipe
    recipe="$(sha256sum scripts/standin-base.sh | cut -c1-16)"
    if [[ -f "$cache/standin.img" && "$(cat "$cache/standin.recipe" 2>/dev/null)" == "$recipe" ]]; then
        info "reusing $cache/standin.img (delete it to build it again)"
        return 0
    fi
    rm -f "$cache/standin.img" "$cache/standin.recipe"
    scripts/standin-base.sh "$cache/standin.img" && echo "$recipe" >"$cache/standin.recipe"
}

# emulated_pads: the demo pad in $work/demo, with $work/demo/emulated.json: its settings with
# 1024-frame sound buffers, since the emulated processor is several times slower than a Pi's.
emulated_pads() {
    "$nsynth" demo --dir "$work/demo" >/dev/null || return 1
    sed 's/"bufferSize": 128/"bufferSize": 1024/' "$work/demo/settings.json" >"$work/demo/emulated.json"
    grep -q '"bufferSize": 1024' "$work/demo/emulated.json" || { err "no bufferSize in the demo's settings"; return 1; }
}

# emulated_image OUT [IMAGE OPTIONS...]: an image of the stand-in with the demo pad
# (emulated_pads first) for the Pi 3 board with the emulated machine's sound card (the loopback
# one) in place of the DAC.
emulated_image() {
    local out="$1"
    shift
    sed -e 's/^name = "rpi3"/name = "rpi3-emulated"/' -e 's/^card = "IQaudIODAC"/card = "Loopback"/' \
        boards/rpi3.toml >"$work/rpi3-emulated.toml"
    "$nsynth" image --base "$cache/standin.img" --board "$work/rpi3-emulated.toml" --out "$out" \
        --pads "$work/demo" --settings "$work/demo/emulated.json" --binary "$arm_binary" "$@"
}

# root_offset IMAGE: the byte offset of the image's root partition (its second).
root_offset() {
    echo $(($(sfdisk -d "$1" | sed -n 's/.*img2 : start= *\([0-9]*\),.*/\1/p') * 512))
}

# start_guest IMAGE LOG [KERNEL ARGUMENTS...]: boots IMAGE in the background (qemu_pid), its
# console in LOG. qemu boots Debian's kernel from the image's /boot, as the Pi's firmware boots
# its own, with the kernel command line the image's boot partition holds, plus: the console on
# qemu's serial port, the journal on the console, the loopback sound card, and the arguments
# given. The guest's OSC port is forwarded to the host's UDP port $port.
start_guest() {
    local image="$1" log="$2" root cmdline kernel initrd
    shift 2
    root="$image?offset=$(root_offset "$image")"
    kernel="$(debugfs -R "ls /boot" "$root" 2>/dev/null | tr ' ' '\n' | grep -m1 '^vmlinuz-')"
    initrd="$(debugfs -R "ls /boot" "$root" 2>/dev/null | tr ' ' '\n' | grep -m1 '^initrd.img-')"
    debugfs -R "dump /boot/$kernel $work/vmlinuz" "$root" 2>/dev/null
    debugfs -R "dump /boot/$initrd $work/initrd.img" "$root" 2>/dev/null
    cmdline="$(mtype -i "$image@@4M" ::cmdline.txt | tr -d '\r\n')"
    cmdline+=" console=ttyAMA0 modules-load=snd-aloop systemd.journald.forward_to_console=1 $*"
    info "kernel command line: $cmdline"
    qemu-system-aarch64 -M virt -cpu cortex-a53 -smp "${guest_cpus:-2}" -m 1024 \
        -display none -monitor none -serial "file:$log" \
        -kernel "$work/vmlinuz" -initrd "$work/initrd.img" -append "$cmdline" \
        -drive "file=$image,if=virtio,format=raw" \
        -netdev "user,id=n,hostfwd=udp:127.0.0.1:$port-:8000" -device virtio-net-device,netdev=n &
    qemu_pid=$!
}

# wait_console LOG TEXT SECONDS: waits until the guest's console shows TEXT; fails (with the
# console's last lines) when qemu ends first or SECONDS pass.
wait_console() {
    local log="$1" text="$2" waited=0
    until grep -aqF -- "$text" "$log" 2>/dev/null; do
        if ! kill -0 "$qemu_pid" 2>/dev/null; then
            err "qemu ended before the console showed \"$text\""; tail -n 40 "$log"; return 1
        fi
        if ((waited >= $3)); then
            err "no \"$text\" on the console after $3 s"; tail -n 40 "$log"; return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}
