#!/usr/bin/env bash
# Installs what building and testing open-nsynth needs, and only what is
# missing. Safe to run again and again; a second run changes nothing.
#
# Usage: scripts/setup.sh [--native] [--lint] [--cross] [--nvrtc] [--slurm] [--fuzz] [--image]
#
#   --native  (always on) a C linker, pkg-config, the ALSA headers and
#             e2fsprogs, enough to build and test open-nsynth on this machine.
#   --lint    the rustfmt and clippy rustup components.
#   --cross   the Raspberry Pi targets: the aarch64 and armv7 rustup targets,
#             the cross C toolchains, the arm64 and armhf ALSA libraries
#             (Debian multiarch) and qemu-user to run the ARM binaries.
#   --nvrtc   CUDA's run-time compiler library (NVIDIA's nvidia-cuda-nvrtc
#             wheel, through pip) in <target>/nvrtc/lib, so that the GPU
#             kernels can be compiled and checked on a machine without a GPU.
#   --slurm   SLURM (slurm-wlm), munge and python3, for scripts/slurm-test.sh.
#   --fuzz    a nightly Rust toolchain (through rustup), a C++ compiler and
#             cargo-fuzz (cargo install --locked), for scripts/fuzz.sh.
#   --image   what scripts/image-test.sh needs: mmdebstrap, qemu-user-static
#             and binfmt-support (arm64 package scripts), qemu-system-arm,
#             dosfstools, fdisk, mtools, e2fsprogs and python3.
#
# Debian 12 and Ubuntu are supported. Needs root or sudo for apt. Never asks a
# question: it runs unattended in CI.
#
# Environment:
#   SETUP_APT_ATTEMPTS  how many update+install rounds before giving up (4)
#   SETUP_APT_PAUSE     seconds to wait after the first failed round; doubles
#                       after each (15)

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

want_lint=0
want_cross=0
want_nvrtc=0
want_slurm=0
want_fuzz=0
want_image=0
for arg in "$@"; do
    case "$arg" in
    --native) ;;
    --lint) want_lint=1 ;;
    --cross) want_cross=1 ;;
    --nvrtc) want_nvrtc=1 ;;
    --slurm) want_slurm=1 ;;
    --fuzz) want_fuzz=1 ;;
    --image) want_image=1 ;;
    -h | --help)
        sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "setup.sh: unknown argument '$arg' (try --help)" ;;
    esac
done

CROSS_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
FOREIGN_ARCHES=(arm64 armhf)

# ---------------------------------------------------------------- apt ---

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    fi
fi

as_root() {
    if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        return 1
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "$@"
}

# True when the package is installed. A name without ":arch" means the
# machine's own architecture (or an "all" package): asking dpkg-query about a
# bare name would also report the arm64/armhf copies once those are in.
pkg_installed() {
    local -a names=("$1")
    if [[ "$1" != *:* ]]; then
        names=("$1:$(dpkg --print-architecture)" "$1:all")
    fi
    local name status
    for name in "${names[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$name" 2>/dev/null)" || continue
        [[ "$status" == "install ok installed" ]] && return 0
    done
    return 1
}

# What the apt package list needs, as "package" or "package:arch", for the
# requested parts; each entry only when what it provides is absent.
wanted_packages() {
    local -a pkgs=()
    if ! command -v cc >/dev/null 2>&1; then
        pkgs+=(gcc libc6-dev)
    fi
    pkgs+=(pkg-config libasound2-dev)
    # mke2fs and debugfs: `open-nsynth image` and `install --read-only` make and edit ext4 file
    # systems with them, and their tests run them.
    pkgs+=(e2fsprogs)
    if [[ $want_nvrtc -eq 1 ]] && ! python3 -m pip --version >/dev/null 2>&1; then
        pkgs+=(python3-pip)
    fi
    if [[ $want_slurm -eq 1 ]]; then
        pkgs+=(slurm-wlm munge python3)
    fi
    # cargo-fuzz builds libFuzzer, which is C++, from source.
    if [[ $want_fuzz -eq 1 ]] && ! command -v c++ >/dev/null 2>&1; then
        pkgs+=(g++)
    fi
    if [[ $want_image -eq 1 ]]; then
        pkgs+=(mmdebstrap qemu-user-static binfmt-support qemu-system-arm)
        pkgs+=(dosfstools fdisk mtools e2fsprogs python3)
    fi
    if [[ $want_cross -eq 1 ]]; then
        # The C library for the cross linkers is only a Recommends of the
        # cross gcc packages, and we install without recommends.
        pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
        pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
        local arch
        for arch in "${FOREIGN_ARCHES[@]}"; do
            pkgs+=("libasound2-dev:$arch")
        done
    fi
    printf '%s\n' "${pkgs[@]}"
}

missing_packages() {
    local pkg
    while IFS= read -r pkg; do
        pkg_installed "$pkg" || printf '%s\n' "$pkg"
    done < <(wanted_packages)
    if [[ $want_cross -eq 1 ]] && ! qemu_present; then
        printf '%s\n' "$(qemu_package)"
    fi
}

# qemu-user provides qemu-aarch64 and qemu-arm; qemu-user-static provides
# the same emulators (named with or without a -static suffix, depending on
# the release). Either will do.
qemu_present() {
    { command -v qemu-aarch64 || command -v qemu-aarch64-static; } >/dev/null 2>&1 &&
        { command -v qemu-arm || command -v qemu-arm-static; } >/dev/null 2>&1
}

qemu_package() {
    if apt-cache show qemu-user >/dev/null 2>&1 || ! apt-cache show qemu-user-static >/dev/null 2>&1; then
        echo qemu-user
    else
        echo qemu-user-static
    fi
}

add_foreign_arches() {
    local arch current
    current=" $(dpkg --print-architecture) $(dpkg --print-foreign-architectures | tr '\n' ' ') "
    for arch in "${FOREIGN_ARCHES[@]}"; do
        if [[ "$current" != *" $arch "* ]]; then
            info "setup: dpkg --add-architecture $arch"
            as_root dpkg --add-architecture "$arch"
        fi
    done
}

APT_OPTS=(
    -q
    -o Acquire::Retries=3
    -o DPkg::Lock::Timeout=300
    -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold
)

apt_round() {
    # The exit status of `apt-get update` is not a verdict: one
    # architecture's index being out of sync with the others on a mirror, or
    # a source that does not carry a foreign architecture, makes it fail
    # while what we need is there. Success is judged afterwards by what got
    # installed.
    if ! as_root apt-get "${APT_OPTS[@]}" update; then
        info "setup: apt-get update reported errors; trying the installs anyway"
    fi
    # Host packages first, foreign-architecture ones apart: a foreign index
    # that is missing or out of sync must not hold back the native build.
    local -a all host=() foreign=()
    local pkg
    mapfile -t all < <(missing_packages)
    for pkg in "${all[@]}"; do
        if [[ "$pkg" == *:* ]]; then foreign+=("$pkg"); else host+=("$pkg"); fi
    done
    [[ ${#host[@]} -gt 0 ]] && apt_install "${host[@]}"
    [[ ${#foreign[@]} -gt 0 ]] && apt_install "${foreign[@]}"
    return 0
}

apt_install() {
    info "setup: apt-get install $*"
    as_root apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "$@" || true
}

ensure_apt_packages() {
    local -a missing
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -eq 0 ]]; then
        info "setup: system packages present"
        return 0
    fi
    info "setup: missing system packages: ${missing[*]}"

    command -v apt-get >/dev/null 2>&1 ||
        die "setup: no apt-get here; install the equivalents of: ${missing[*]}"
    if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        die "setup: not root and no sudo; as root run: apt-get install ${missing[*]}"
    fi

    if [[ $want_cross -eq 1 ]]; then
        add_foreign_arches
    fi

    local attempts="${SETUP_APT_ATTEMPTS:-4}"
    local pause="${SETUP_APT_PAUSE:-15}"
    local attempt
    for ((attempt = 1; attempt <= attempts; attempt++)); do
        apt_round
        mapfile -t missing < <(missing_packages)
        if [[ ${#missing[@]} -eq 0 ]]; then
            ok "setup: system packages installed"
            return 0
        fi
        if ((attempt < attempts)); then
            info "setup: still missing after round $attempt/$attempts: ${missing[*]}; retrying in ${pause}s"
            sleep "$pause"
            pause=$((pause * 2))
        fi
    done

    err "setup: could not install: ${missing[*]}"
    if [[ $want_cross -eq 1 ]] && grep -qs '^ID=ubuntu' /etc/os-release &&
        printf '%s\n' "${missing[@]}" | grep -q ':\(arm64\|armhf\)$'; then
        err "setup: Ubuntu serves arm64/armhf packages from its separate 'ports' archive."
        err "setup: restrict the existing apt sources to amd64 (Architectures: amd64) and add"
        err "setup: the ports archive for arm64 and armhf, or run with SKIP_CROSS=1."
    fi
    exit 1
}

# ------------------------------------------------------------- rustup ---

# The Rust the workspace declares (rust-version in Cargo.toml), updated through rustup when the
# installed one is older.
ensure_rust_version() {
    local wanted have
    wanted="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
    have="$(rustc --version | cut -d' ' -f2 | cut -d- -f1)"
    [[ -n "$wanted" ]] || return 0
    if [[ "$(printf '%s\n%s\n' "$wanted" "$have" | sort -V | head -n 1)" == "$wanted" ]]; then
        return 0
    fi
    command -v rustup >/dev/null 2>&1 ||
        die "setup: Rust $have is older than the $wanted this project needs, and there is no rustup to update it"
    info "setup: Rust $have is older than $wanted: rustup update stable"
    rustup update stable
}

ensure_rust() {
    ensure_cargo_on_path
    cd "$REPO_ROOT"
    ensure_rust_version

    local -a components=() targets=()
    [[ $want_lint -eq 1 ]] && components=(rustfmt clippy)
    [[ $want_cross -eq 1 ]] && targets=("${CROSS_TARGETS[@]}")
    if [[ ${#components[@]} -eq 0 && ${#targets[@]} -eq 0 ]]; then
        return 0
    fi

    if ! command -v rustup >/dev/null 2>&1; then
        # Without rustup the toolchain must already have what we need.
        if [[ $want_lint -eq 1 ]]; then
            cargo fmt --version >/dev/null 2>&1 || die "setup: cargo fmt missing and no rustup to add rustfmt"
            cargo clippy --version >/dev/null 2>&1 || die "setup: cargo clippy missing and no rustup to add clippy"
        fi
        if [[ $want_cross -eq 1 ]]; then
            die "setup: no rustup: install the Rust standard library for ${CROSS_TARGETS[*]} yourself"
        fi
        return 0
    fi

    local installed c t
    local -a add_c=() add_t=()
    installed="$(rustup component list --installed 2>/dev/null || true)"
    for c in "${components[@]}"; do
        grep -q "^$c" <<<"$installed" || add_c+=("$c")
    done
    installed="$(rustup target list --installed 2>/dev/null || true)"
    for t in "${targets[@]}"; do
        grep -qx "$t" <<<"$installed" || add_t+=("$t")
    done

    if [[ ${#add_c[@]} -gt 0 ]]; then
        info "setup: rustup component add ${add_c[*]}"
        rustup component add "${add_c[@]}"
    fi
    if [[ ${#add_t[@]} -gt 0 ]]; then
        info "setup: rustup target add ${add_t[*]}"
        rustup target add "${add_t[@]}"
    fi
    if [[ ${#add_c[@]} -eq 0 && ${#add_t[@]} -eq 0 ]]; then
        info "setup: rustup components and targets present"
    fi
}

# ------------------------------------------------------------- NVRTC ---

# The NVRTC release whose library the kernel check compiles with (any CUDA 12
# or 13 NVRTC works; pinned so that every run checks against the same one).
NVRTC_WHEEL="nvidia-cuda-nvrtc==13.0.88"

ensure_nvrtc() {
    local dir lib
    dir="$(cargo_target_dir)/nvrtc"
    lib="$dir/lib"
    if compgen -G "$lib/libnvrtc.so*" >/dev/null && compgen -G "$lib/libnvrtc-builtins.so*" >/dev/null; then
        info "setup: NVRTC present in $lib"
        return 0
    fi
    local wheels="$dir/wheels" attempt
    mkdir -p "$wheels" "$lib"
    for attempt in 1 2 3 4; do
        if python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_12_x86_64 \
            --platform manylinux2010_x86_64 --platform manylinux_2_17_x86_64 --python-version 3 \
            -d "$wheels" "$NVRTC_WHEEL"; then
            break
        fi
        ((attempt < 4)) || die "setup: could not download $NVRTC_WHEEL"
        info "setup: pip download failed; retrying in $((attempt * 15))s"
        sleep $((attempt * 15))
    done
    # Only the shared libraries: the wheel's nvidia/cu*/lib/*.so*.
    python3 - "$wheels" "$lib" <<'PY'
import pathlib, shutil, sys, zipfile
wheels, lib = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for wheel in wheels.glob("*.whl"):
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if "/lib/" in name and ".so" in name:
                with archive.open(name) as src, open(lib / pathlib.Path(name).name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
PY
    compgen -G "$lib/libnvrtc.so*" >/dev/null || die "setup: the NVRTC wheel held no libnvrtc"
    ok "setup: NVRTC in $lib"
}

# --------------------------------------------------------------- fuzz ---

# cargo-fuzz needs nightly for the sanitizer and coverage flags; the project
# itself keeps building on stable.
ensure_fuzz() {
    command -v rustup >/dev/null 2>&1 ||
        die "setup: no rustup: install a nightly toolchain and cargo-fuzz yourself"
    if rustup run nightly rustc --version >/dev/null 2>&1; then
        info "setup: nightly toolchain present"
    else
        info "setup: rustup toolchain install nightly --profile minimal"
        rustup toolchain install nightly --profile minimal
    fi
    if cargo fuzz --version >/dev/null 2>&1; then
        info "setup: cargo-fuzz present"
    else
        info "setup: cargo install cargo-fuzz --locked"
        cargo install cargo-fuzz --locked
    fi
}

ensure_apt_packages
ensure_rust
if [[ $want_nvrtc -eq 1 ]]; then
    ensure_nvrtc
fi
if [[ $want_fuzz -eq 1 ]]; then
    ensure_fuzz
fi
ok "setup: done"
