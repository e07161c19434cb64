#!/usr/bin/env bash
# Tests `open-nsynth image` for real: builds a stand-in for Raspberry Pi OS
# Lite from Debian's arm64 packages (scripts/standin-base.sh; Raspberry Pi's
# own servers are not needed), makes an image of it, boots that image twice in
# qemu's arm64 `virt` machine and checks it from here. NOT part of the default
# test suite (scripts/test.sh): it takes about ten minutes on two cores. Run
# it as root (loop-free, but mmdebstrap and binfmt_misc need root) when the
# image, the installer's read-only layout or the service unit change.
#
#   setup        mmdebstrap, qemu, mtools... (scripts/setup.sh --image --cross)
#   binfmt       binfmt_misc mounted and qemu-aarch64 registered
#   build        open-nsynth for this machine and for aarch64 (release)
#   standin      the stand-in base image (kept in target/image-test/ and
#                reused while scripts/standin-base.sh is unchanged)
#   image        open-nsynth image with the demo pad (1024-frame sound buffers
#                for the slow emulated processor), a host name and an SSH key,
#                for the Pi 3 board with the loopback sound card of the
#                emulated machine in place of the DAC; its size and how long it
#                took
#   same bytes   the same image made again is byte for byte the same
#   refusals     a cut-short base, a gzip base and a base without a boot
#                partition are refused, and no output is left
#   boot         first boot: the service logs "ready to play" (the time since
#                the kernel started is quoted), systemd-analyze blame and the
#                critical chain are printed from inside the guest
#   osc          /state answered through qemu's forwarded UDP port
#   save         /attack and /patch/save 2 over OSC, answered with
#                /state/patch 2, then qemu is killed (kill -9: a power cut)
#   second boot  ready again; /patch/load 2 brings the saved attack back
#   read-only    the root partition's bytes are what the image held before
#                either boot: nothing was ever written to it
#
# The last line is "image-test.sh: N passed, M failed".
#
# Environment:
#   IMAGE_TEST_PORT     the host's UDP port forwarded to the guest's OSC port (18000)
#   IMAGE_TEST_TIMEOUT  seconds a boot may take to reach "ready to play" (300)
#   STANDIN_MIRROR      a Debian mirror for the stand-in (mmdebstrap's default)
#   KEEP_WORK=1         keep the images and console logs in the work folder

set -uo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"
ensure_cargo_on_path

port="${IMAGE_TEST_PORT:-18000}"
boot_timeout="${IMAGE_TEST_TIMEOUT:-300}"
# shellcheck source=scripts/emulated.sh
. scripts/emulated.sh
trap 'finish stop_qemu' EXIT

do_build() {
    cargo build --release --locked &&
        cargo build --release --locked --target aarch64-unknown-linux-gnu
}

make_image() {
    emulated_image "$1" --hostname nsynth-test --ssh-key "$work/key.pub"
}

do_image() {
    emulated_pads || return 1
    echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uta2V5LWZvci10aGUtaW1hZ2UtdGVzdA image-test" >"$work/key.pub"
    local t0 t1
    t0="$(date +%s.%N)"
    make_image "$work/nsynth.img" || return 1
    t1="$(date +%s.%N)"
    image_bytes="$(stat -c %s "$work/nsynth.img")"
    info "image: $((image_bytes >> 20)) MiB from a $(($(stat -c %s "$cache/standin.img") >> 20)) MiB base, made in $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
    sfdisk -d "$work/nsynth.img"
}

do_same_bytes() {
    make_image "$work/again.img" >/dev/null || return 1
    cmp "$work/nsynth.img" "$work/again.img" || return 1
    info "the second image is byte for byte the first ($(sha256sum "$work/nsynth.img" | cut -c1-16)…)"
    rm -f "$work/again.img"
}

# refused NAME BASE EXPECTED: the image command refuses BASE saying EXPECTED,
# and leaves no output (nor a partial file) behind.
refused() {
    local out="$work/refused.img" message
    message="$("$nsynth" image --base "$2" --board rpi3 --out "$out" --binary "$arm_binary" 2>&1)" &&
        { err "$1: accepted"; return 1; }
    if [[ "$message" != *"$3"* ]]; then
        err "$1: said \"$message\", not \"$3\""
        return 1
    fi
    if compgen -G "$work/refused.img*" >/dev/null || compgen -G "$work/.open-nsynth-*" >/dev/null; then
        err "$1: left $(ls "$work"/refused.img* "$work"/.open-nsynth-* 2>/dev/null)"
        return 1
    fi
    info "$1: refused: $message"
}

do_refusals() {
    head -c $((1 << 30)) "$cache/standin.img" >"$work/cut.img"
    refused "cut-short base" "$work/cut.img" "cut short" || return 1
    gzip -c <"$work/cut.img" | head -c 1000000 >"$work/base.img.gz"
    refused "gzip base" "$work/base.img.gz" "compressed with gzip" || return 1
    truncate -s 16M "$work/noboot.img"
    printf 'label: dos\nstart=8192, size=8192, type=83\nstart=16384, size=8192, type=83\n' |
        sfdisk --quiet "$work/noboot.img"
    refused "base without a boot partition" "$work/noboot.img" "not a FAT boot partition" || return 1
    rm -f "$work/cut.img" "$work/base.img.gz" "$work/noboot.img"
}

# The root partition's bytes, hashed.
root_hash() {
    local start size
    read -r start size < <(sfdisk -d "$1" | sed -n 's/.*img2 : start= *\([0-9]*\), size= *\([0-9]*\).*/\1 \2/p')
    dd if="$1" bs=512 skip="$start" count="$size" status=none | sha256sum | cut -d' ' -f1
}

# boot N: boots the image with the stand-in's boot report, its console in $work/console-N.log,
# and waits for the instrument to be ready.
boot() {
    local log="$work/console-$1.log"
    start_guest "$work/nsynth.img" "$log" systemd.wants=boot-report.service
    wait_console "$log" "ready to play in" "$boot_timeout" || return 1
    grep -a -e "ready to play in" -e "but without sound yet" "$log" | sed 's/^.*open-nsynth\[[0-9]*\]: *//'
}

# The guest's network comes up on its own schedule, after the instrument: asks for /state until
# an answer comes (60 s at most) and prints it.
state() {
    local answer tries=0
    until answer="$(osc /state)" && [[ -n "$answer" ]]; do
        ((tries++ < 60)) || { err "no answer to /state"; return 1; }
    done
    printf '%s\n' "$answer"
}

# osc ADDRESS [TYPE VALUE]...: sends one OSC message to the guest and prints
# every message that comes back within a second, one per line.
osc() {
    python3 - "$port" "$@" <<'EOF'
import socket, struct, sys
port, address, rest = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
def pad(b): return b + b"\0" * (4 - len(b) % 4)
tags, args = ",", b""
for kind, value in zip(rest[::2], rest[1::2]):
    tags += kind
    args += struct.pack(">i", int(value)) if kind == "i" else struct.pack(">f", float(value))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.sendto(pad(address.encode()) + pad(tags.encode()) + args, ("127.0.0.1", port))
def text(b, i):
    end = b.index(b"\0", i)
    return b[i:end].decode(), (end // 4 + 1) * 4
try:
    while True:
        data = s.recv(65536)
        name, i = text(data, 0)
        kinds, i = text(data, i)
        out = []
        for k in kinds[1:]:
            if k == "i": out.append(str(struct.unpack(">i", data[i:i+4])[0])); i += 4
            elif k == "f": out.append("%.3f" % struct.unpack(">f", data[i:i+4])[0]); i += 4
            elif k == "s": v, i = text(data, i); out.append(v)
        print(name, *out)
except socket.timeout:
    pass
EOF
}

do_boot() {
    root_before="$(root_hash "$work/nsynth.img")"
    boot 1 || return 1
    wait_console "$work/console-1.log" "boot-report: end" 60 || return 1
    sed -n '/boot-report: begin/,/boot-report: end/p' "$work/console-1.log" | tr -d '\r'
}

do_osc() {
    local answer
    answer="$(state)"
    printf '%s\n' "$answer"
    [[ "$answer" == *"/state/knobs"* && "$answer" == *"/state/patch"* ]]
}

do_save() {
    osc /attack f 0.25 >/dev/null
    osc /patch/save i 1 >/dev/null
    local answer
    answer="$(osc /state)"
    printf '%s\n' "$answer"
    [[ "$answer" == *"/state/patch 2"* ]] || { err "the save was not answered with patch 2"; return 1; }
    info "power cut: kill -9 of qemu right after the save"
    stop_qemu
}

do_second_boot() {
    boot 2 || return 1
    local before after
    before="$(state | grep /state/knobs)"
    osc /patch/load i 1 >/dev/null
    after="$(osc /state)"
    printf 'before loading: %s\nafter loading patch 2:\n%s\n' "$before" "$after"
    stop_qemu
    [[ "$after" == *"/state/patch 2"* && "$(grep /state/knobs <<<"$after" | awk '{print $3}')" == "0.247" ]] ||
        { err "patch 2 did not come back with attack 0.247 (63/255)"; return 1; }
}

do_read_only() {
    local after
    after="$(root_hash "$work/nsynth.img")"
    info "root partition before the boots: $root_before"
    info "root partition after both boots: $after"
    [[ "$after" == "$root_before" ]]
}

step "setup" do_setup || exit 1
step "binfmt" do_binfmt || exit 1
step "build" do_build || exit 1
step "standin" do_standin || exit 1
step "image" do_image || exit 1
step "same bytes" do_same_bytes
step "refusals" do_refusals
step "boot" do_boot || exit 1
step "osc" do_osc
step "save" do_save || exit 1
step "second boot" do_second_boot
step "read-only" do_read_only
exit 0
