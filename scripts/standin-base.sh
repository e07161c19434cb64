#!/usr/bin/env bash
# Builds a stand-in for the Raspberry Pi OS Lite (arm64) image from Debian
# packages, for scripts/image-test.sh: Raspberry Pi's own servers cannot be
# reached from where the tests run, Debian's package mirror can.
#
# Usage: scripts/standin-base.sh OUT.img
#
# The stand-in has Raspberry Pi OS's layout and first-boot state:
#   - an MBR disk whose label id is the PARTUUID prefix (root=PARTUUID=xxxxxxxx-02);
#   - partition 1 at 4 MiB: FAT32, 512 MiB, with config.txt and a cmdline.txt
#     that boots the root by PARTUUID through Raspberry Pi OS's first-boot init
#     (`init=/usr/lib/raspberrypi-sys-mods/firstboot`, which the image must
#     drop: the stand-in has no such program, so a card that keeps it fails
#     to boot);
#   - partition 2: ext4 root with systemd, udev, ALSA, the groups Raspberry Pi
#     OS has (audio, dialout, gpio, i2c) and no user account (no `pi`);
#   - Debian's arm64 kernel and an initramfs with only what qemu's `virt`
#     machine needs, in /boot of the root (where the test takes them from:
#     qemu boots them directly, as Raspberry Pi firmware would boot its own).
#   - systemd-networkd with DHCP on every Ethernet port (qemu's user network
#     forwards the OSC port), and boot-report.service, which the test starts
#     with `systemd.wants=boot-report.service` to print `systemd-analyze blame`
#     on the console once the boot has finished. Neither is in Raspberry Pi
#     OS; both belong to the test.
#
# Needs root (mmdebstrap unpacks as root), qemu-user-static with binfmt_misc
# for arm64 (scripts/setup.sh --image; image-test.sh mounts binfmt_misc),
# and takes a few minutes on two cores.
#
# Environment:
#   STANDIN_MIRROR  a Debian mirror URL for mmdebstrap (its default otherwise)

set -euo pipefail

out="${1:?usage: scripts/standin-base.sh OUT.img}"
work="$(mktemp -d "${TMPDIR:-/tmp}/standin.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

# Fixed ids and times, so that the same packages give the same image.
label_id=5e3da7a1
root_uuid=9c3f3c2e-6b0a-4b8e-9d3e-0b1c2d3e4f50
export SOURCE_DATE_EPOCH=1764806400 E2FSPROGS_FAKE_TIME=1764806400

boot_mib=512
root_mib=1536

rootfs="$work/rootfs"
mkdir -p "$rootfs"

# Only the modules qemu's virt machine needs go into the initramfs: building
# one with every module (`MODULES=most`) takes a quarter of an hour under
# emulation. The list is read from initramfs-tools' own modules.d folder,
# which no package owns.
setup_hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"
echo MODULES=list > "$1/etc/initramfs-tools/conf.d/standin.conf"
printf "%s\n" virtio_pci virtio_mmio virtio_blk virtio_net ext4 > "$1/usr/share/initramfs-tools/modules.d/standin"'

customize_hook='set -e
chroot "$1" groupadd --system gpio
chroot "$1" groupadd --system i2c
chroot "$1" systemctl enable systemd-networkd.service
mkdir -p "$1/etc/systemd/network"
printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" > "$1/etc/systemd/network/20-wired.network"
echo raspberrypi > "$1/etc/hostname"
printf "proc /proc proc defaults 0 0\nPARTUUID='"$label_id"'-01 /boot/firmware vfat defaults 0 2\nPARTUUID='"$label_id"'-02 / ext4 defaults,noatime 0 1\n" > "$1/etc/fstab"
mkdir -p "$1/boot/firmware" "$1/usr/local/sbin"
cat > "$1/usr/local/sbin/boot-report" <<"EOF"
#!/bin/sh
# The image test starts this (boot-report.service) to see what the boot spent its time on.
systemctl is-system-running --wait >/dev/null
exec >/dev/console 2>&1
echo "boot-report: begin"
systemd-analyze time
systemd-analyze blame --no-pager | head -n 25
systemd-analyze critical-chain --no-pager open-nsynth.service
echo "boot-report: end"
EOF
chmod 755 "$1/usr/local/sbin/boot-report"
printf "[Unit]\nDescription=Boot report for the image test\n\n[Service]\nType=simple\nExecStart=/usr/local/sbin/boot-report\n" > "$1/etc/systemd/system/boot-report.service"
rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"'

mirror=()
[[ -n "${STANDIN_MIRROR:-}" ]] && mirror=("$STANDIN_MIRROR")

echo "standin-base: mmdebstrap (arm64, Debian bookworm)"
mmdebstrap --arch=arm64 --variant=apt \
    --include=systemd,systemd-sysv,udev,kmod,mount,e2fsprogs,initramfs-tools,linux-image-arm64,libasound2,alsa-utils \
    --setup-hook="$setup_hook" \
    --customize-hook="$customize_hook" \
    bookworm "$rootfs" "${mirror[@]}"

echo "standin-base: boot partition"
bootfs="$work/bootfs"
mkdir -p "$bootfs"
cat >"$bootfs/config.txt" <<'EOF'
# For more options and information see
# http://rptl.io/configtxt
dtparam=audio=on
camera_auto_detect=1
display_auto_detect=1
auto_initramfs=1
dtoverlay=vc4-kms-v3d
max_framebuffers=2
disable_fw_kms_setup=1
arm_64bit=1
disable_overscan=1
arm_boost=1

[cm4]
otg_mode=1

[all]
EOF
printf 'console=serial0,115200 console=tty1 root=PARTUUID=%s-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n' \
    "$label_id" >"$bootfs/cmdline.txt"
truncate -s "${boot_mib}M" "$work/boot.fat"
mkfs.vfat -F 32 -n bootfs -i "${label_id^^}" "$work/boot.fat" >/dev/null
mcopy -i "$work/boot.fat" -m "$bootfs/config.txt" "$bootfs/cmdline.txt" ::/

echo "standin-base: root partition"
mke2fs -q -t ext4 -L rootfs -U "$root_uuid" -E "hash_seed=$root_uuid" \
    -d "$rootfs" "$work/root.ext4" "${root_mib}M"

echo "standin-base: disk"
truncate -s "$((4 + boot_mib + root_mib))M" "$work/disk.img"
sfdisk --quiet "$work/disk.img" <<EOF
label: dos
label-id: 0x$label_id
unit: sectors

start=8192, size=$((boot_mib * 2048)), type=c
start=$(((4 + boot_mib) * 2048)), size=$((root_mib * 2048)), type=83
EOF
dd if="$work/boot.fat" of="$work/disk.img" bs=1M seek=4 conv=notrunc status=none
dd if="$work/root.ext4" of="$work/disk.img" bs=1M seek=$((4 + boot_mib)) conv=notrunc status=none
mv "$work/disk.img" "$out"
echo "standin-base: $out ($(du -h --apparent-size "$out" | cut -f1))"
