#!/usr/bin/env bash
# Prove the device stage on arm64: 64-bit Raspberry Pi OS is Debian arm64, Trixie (Python 3.13,
# numpy 2 from apt) today and Bookworm (Python 3.11, numpy 1.24) before it, and both run here
# under QEMU user emulation. For each release this script
#   1. builds (or reuses) a Debian arm64 root filesystem, cached outside the repository
#      (debootstrap, qemu-user-static and binfmt-support from apt, installed when missing), and
#      installs into it from apt what a Pi user has: python3-numpy, and on Trixie
#      python3-libcamera with picamera2's compiled dependencies;
#   2. installs the device part into it as the README tells a Pi user: a venv made with
#      --system-site-packages and ".[picamera]" (ai-edge-litert on the system numpy), on Trixie
#      with picamera2 from PyPI standing in for Raspberry Pi OS's python3-picamera2 (its apt
#      archive is out of reach here); on Bookworm also a venv with ".[legacy]" (tflite-runtime
#      2.14); from a copy of the working tree's files (tracked, and untracked but not ignored;
#      models/ as they are in the tree); then checks that venv (scripts/inspect_install.py):
#      numpy is the system's, picamera2 imports (Trixie; its DRM preview's pykms, from Raspberry
#      Pi OS's archive only, is a stand-in), "fashion-classify --help" runs;
#   3. classifies the same inputs with every models/*.tflite on the release's runtimes, on
#      arm64 and on the host (.venv-edge, .venv-legacy): 500 test-set PNGs, rendered garments, a few real
#      photos (when ../shared/real-photos exists), a short video twice (lossless FFV1, and
#      MJPEG as a USB webcam sends it) and the bad-input corpus (scripts/make_check_inputs.py);
#      models whose input is larger than 28x28 (photo models, slow under emulation) get 20 of
#      the PNGs;
#   4. compares the records (scripts/compare_records.py): the same labels for every input, the
#      same errors and refusals, top-1 scores within one quantization step (int8 models), 1e-3
#      (dynamic-range models) or 1e-5 (float models) where the inputs decode to the same pixels
#      (not MJPEG: FFmpeg's decoder differs by a few grey levels between architectures; not
#      photo models, whose resized inputs do too: their labels may differ only on a near tie);
#      prints a one-screen report and exits 1 on any mismatch.
#
# Needs root (debootstrap, chroot, bind mounts, binfmt_misc):  sudo bash scripts/check_arm64.sh
# Exit status: 0 arm64 agrees with the host on every release, 1 a mismatch or a broken install,
# 2 it cannot run here (one line why).
# Not in .ci/run: it takes many minutes (emulation is 50-100x slower than native). It checks
# correctness, not speed. Two traps of emulation, handled here: ai-edge-litert crashes unless the
# chroot sees an ARM /proc/cpuinfo (the Pi's is bind-mounted over it), and with QEMU's default CPU
# model ("max") XNNPACK's int8 kernels give wrong outputs: QEMU_CPU emulates the Pi's own core.
set -euo pipefail

usage() {
    cat <<EOF
usage: sudo bash scripts/check_arm64.sh [--release trixie|bookworm] [--cpu cortex-a72|cortex-a76]
                                       [--cache DIR] [--rebuild]

Install the device part on arm64 (Debian under QEMU) as the README tells a Pi user, classify
fixed inputs with every shipped model there and on this host, and compare the records. Needs root.

  --release R   trixie (today's Raspberry Pi OS: Python 3.13, numpy 2, ai-edge-litert) or
                bookworm (Python 3.11, numpy 1.24, ai-edge-litert and tflite-runtime);
                default: both, trixie first
  --cpu MODEL   emulated core: cortex-a72 (Raspberry Pi 4, default) or cortex-a76 (Pi 5)
  --cache DIR   where the arm64 roots, package caches and the last run's records live
                (default /var/cache/fashion-edge, or \$FASHION_ARM64_CACHE)
  --rebuild     build the root filesystems again even when cached ones are there
Exit status: 0 arm64 agrees with the host, 1 a mismatch or a broken install, 2 cannot run here.
EOF
}

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FASHION_ARM64_CACHE:-/var/cache/fashion-edge}
CPU=cortex-a72
REBUILD=0
RELEASES=(trixie bookworm)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT_PACKAGES=python3,python3-venv,ca-certificates
PROJECT=/root/fashion-edge  # where a Pi user would clone it
# What each release's Pi user installs. apt: the system packages (python3-libcamera and, for
# picamera2 from PyPI, what builds PiDNG and python-prctl; on Raspberry Pi OS apt's
# python3-picamera2 brings them built). pip: installed into the camera venv after the project,
# standing in for python3-picamera2. The camera venv runs ai-edge-litert on the system numpy.
declare -A APT=(
    [trixie]="python3-numpy python3-libcamera python3-prctl gcc python3-dev"
    [bookworm]="python3-numpy")
declare -A PIP_CAMERA=([trixie]=picamera2 [bookworm]="")
# picamera2 imports its DRM preview, which needs pykms: python3-kms++ on Raspberry Pi OS, in
# neither Debian nor PyPI. The check puts this stand-in beside picamera2 (its import works, any
# use raises) and says so in the report; a headless check has no display to preview on anyway.
PYKMS_STAND_IN='"""Stand-in for python3-kms++ (check_arm64.sh): names only, no DRM bindings."""
class _Names:
    def __getattr__(self, name):
        return name
PixelFormat = PlaneType = _Names()
def __getattr__(name):
    raise AttributeError(f"pykms.{name}: a stand-in without DRM bindings (check_arm64.sh)")
'

declare -A RELEASE_RUNTIMES=([trixie]="ai-edge-litert" [bookworm]="ai-edge-litert tflite-runtime")
declare -A EXTRAS=([ai-edge-litert]=picamera [tflite-runtime]=legacy)
declare -A VENV_OPTIONS=([ai-edge-litert]=--system-site-packages [tflite-runtime]="")
declare -A HOST_VENVS=([ai-edge-litert]=.venv-edge [tflite-runtime]=.venv-legacy)

die() { echo "check_arm64: $*" >&2; exit 2; }
log() { echo "check_arm64: $*" >&2; }
minutes() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

while [ $# -gt 0 ]; do
    case $1 in
        --release) RELEASES=("${2:?--release needs a value}"); shift 2 ;;
        --cpu) CPU=${2:?--cpu needs a value}; shift 2 ;;
        --cache) CACHE=${2:?--cache needs a value}; shift 2 ;;
        --rebuild) REBUILD=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
# The emulated core and the /proc/cpuinfo of the Pi that has it.
case $CPU in
    cortex-a72)
        CPU_FEATURES="fp asimd evtstrm crc32 cpuid" CPU_VARIANT=0x0 CPU_PART=0xd08 CPU_REVISION=3
        PI_MODEL="Raspberry Pi 4 Model B Rev 1.4" PI_REVISION=d03114 ;;
    cortex-a76)
        CPU_FEATURES="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid"
        CPU_FEATURES+=" asimdrdm lrcpc dcpop asimddp"
        CPU_VARIANT=0x4 CPU_PART=0xd0b CPU_REVISION=1
        PI_MODEL="Raspberry Pi 5 Model B Rev 1.0" PI_REVISION=c04170 ;;
    *) die "--cpu $CPU: expected cortex-a72 (Pi 4) or cortex-a76 (Pi 5)" ;;
esac
case ${RELEASES[*]} in
    "trixie bookworm"|trixie|bookworm) ;;
    *) die "--release ${RELEASES[*]}: expected trixie or bookworm" ;;
esac
HOST_PY=$REPO/.venv-edge/bin/python

# ------------------------------------------------------------------ can it run here?
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, bind mounts, binfmt_misc):" \
    "run 'sudo bash scripts/check_arm64.sh'"
[ "$(uname -m)" = x86_64 ] || die "compares an x86_64 host with emulated arm64; this host is $(uname -m)"
for runtime in ai-edge-litert tflite-runtime; do
    venv=$REPO/${HOST_VENVS[$runtime]}
    [ -x "$venv/bin/fashion-classify" ] \
        || die "no host environment $venv for $runtime: run 'bash scripts/setup_env.sh' first"
done
git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1 \
    || die "$REPO is not a git checkout (the arm64 copy is made of the files git tracks)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -n 9 || die "another check_arm64 run holds $CACHE/.lock"

missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
[ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
command -v update-binfmts >/dev/null || missing+=(binfmt-support)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
        >"$CACHE/apt.log" 2>&1 || die "apt-get install ${missing[*]} failed (see $CACHE/apt.log)"
fi

BINFMT=/proc/sys/fs/binfmt_misc
if [ ! -e "$BINFMT/register" ]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
        || die "cannot mount binfmt_misc at $BINFMT (a container without the privilege?);" \
            "run it on a machine or VM where root can"
fi
if ! grep -qx enabled "$BINFMT/qemu-aarch64" 2>/dev/null; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    grep -qx enabled "$BINFMT/qemu-aarch64" 2>/dev/null \
        || die "cannot register qemu-aarch64 with binfmt_misc ($BINFMT not writable here?)"
fi

# ------------------------------------------------------------------ mounts, cleaned up on any exit
mounts_under() {  # mount points at or below $1, deepest first
    awk -v dir="$1" '{ p = $5; gsub(/\\040/, " ", p)
                       if (p == dir || index(p, dir "/") == 1) print p }' /proc/self/mountinfo | sort -r
}
unmount_under() {  # succeeds when nothing is mounted under $1 any more
    local point
    while IFS= read -r point; do
        umount "$point" 2>/dev/null || umount -l "$point" 2>/dev/null || true
    done < <(mounts_under "$1")
    [ -z "$(mounts_under "$1")" ]
}
remove_tree() {  # never through a mount: a bound /dev or /proc left over must not be emptied
    unmount_under "$1" || die "cannot unmount everything under $1; not removing it"
    rm -rf --one-file-system "$1"
}
ROOT=""  # the release's root filesystem, set by check_release
cleanup() {
    [ -n "$ROOT" ] || return 0
    unmount_under "$ROOT" || log "warning: still mounted: $(mounts_under "$ROOT" | tr '\n' ' ')"
    unmount_under "$ROOT.partial" || true
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

bind() {  # bind $1 onto $2, private so that nothing mounted on it reaches the host's copy
    mount --bind "$1" "$2" && mount --make-private "$2"
}
mount_root() {  # /proc (with the Pi's cpuinfo), /sys read-only, /dev, the pip cache
    mount -t proc proc "$ROOT/proc" && mount --make-private "$ROOT/proc" \
        && bind "$CACHE/cpuinfo-$CPU" "$ROOT/proc/cpuinfo" \
        && bind /sys "$ROOT/sys" && mount -o remount,bind,ro "$ROOT/sys" \
        && bind /dev "$ROOT/dev" && bind "$CACHE/pip-arm64" "$ROOT/root/.cache/pip"
}

write_cpuinfo() {  # the Pi's /proc/cpuinfo, four cores
    local i
    for i in 0 1 2 3; do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' \
            "$i" "$CPU_FEATURES"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
            "$CPU_VARIANT" "$CPU_PART" "$CPU_REVISION"
    done
    printf 'Revision\t: %s\nSerial\t\t: 10000000c0ffee00\nModel\t\t: %s\n' "$PI_REVISION" "$PI_MODEL"
}

in_root() {  # in_root DIR CMD...: run CMD in the arm64 root, in DIR, with a clean environment
    local dir=$1; shift
    QEMU_CPU=$CPU chroot "$ROOT" /usr/bin/env -i -C "$dir" HOME=/root LANG=C.UTF-8 \
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin QEMU_CPU="$CPU" \
        PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
        PIP_DEFAULT_TIMEOUT=120 "$@"
}
# shellcheck disable=SC2317  # called as classify_all's runner
on_host() {  # on_host DIR CMD...
    local dir=$1; shift
    env -C "$dir" "$@"
}

# ------------------------------------------------------------------ 1. the root filesystem
build_root() {  # debootstrap SUITE into $ROOT unless a root of the same recipe is cached
    local suite=$1
    local recipe="debootstrap --arch=arm64 --variant=minbase --include=$ROOT_PACKAGES $suite"
    unmount_under "$ROOT" || die "cannot unmount what an earlier run left under $ROOT"
    if [ "$REBUILD" = 1 ] || [ ! -f "$ROOT.ok" ] || [ "$(cat "$ROOT.ok")" != "$recipe" ]; then
        log "building the arm64 $suite root in $ROOT (3-7 minutes; log: $CACHE/debootstrap-$suite.log)"
        rm -f "$ROOT.ok" "$ROOT.apt"
        remove_tree "$ROOT.partial"
        mkdir -p "$CACHE/debs-arm64"
        debootstrap --arch=arm64 --variant=minbase --include="$ROOT_PACKAGES" \
            --cache-dir="$CACHE/debs-arm64" "$suite" "$ROOT.partial" "$MIRROR" \
            >"$CACHE/debootstrap-$suite.log" 2>&1 \
            || die "debootstrap failed (see $CACHE/debootstrap-$suite.log)"
        remove_tree "$ROOT"
        mv "$ROOT.partial" "$ROOT"
        echo "$recipe" >"$ROOT.ok"
        TIMINGS+=("root filesystem built $(minutes $((SECONDS - START)))")
    else
        log "reusing the arm64 $suite root in $ROOT (--rebuild to build it again)"
        TIMINGS+=("root filesystem cached")
    fi
    if ! grep -q '^flags:.*F' "$BINFMT/qemu-aarch64"; then
        # Without the fix-binary flag the kernel looks for the interpreter inside the chroot.
        local interpreter
        interpreter=$(sed -n 's/^interpreter //p' "$BINFMT/qemu-aarch64")
        install -D /usr/bin/qemu-aarch64-static "$ROOT$interpreter"
    fi
    write_cpuinfo >"$CACHE/cpuinfo-$CPU"
    mkdir -p "$CACHE/pip-arm64" "$ROOT/root/.cache/pip"
    mount_root 2>"$CACHE/mount.log" \
        || die "cannot mount /proc, /sys and /dev into $ROOT: $(head -1 "$CACHE/mount.log")"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # pip in the root trusts what the host trusts (a TLS-intercepting proxy's CA, say).
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-certificates.crt"
    in_root / /bin/true || die "arm64 programs do not run in $ROOT (binfmt_misc, qemu-aarch64-static)"
    in_root / grep -q "^CPU part.*$CPU_PART" /proc/cpuinfo || die "the root does not see the Pi's cpuinfo"
    local packages=${APT[$suite]}
    if [ "$(cat "$ROOT.apt" 2>/dev/null)" != "$packages" ]; then
        log "apt install $packages (emulated)"
        # shellcheck disable=SC2086  # one word per package
        { in_root / apt-get update -q && in_root / env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends $packages; } >"$CACHE/apt-$suite.log" 2>&1 \
            || die "apt-get install $packages failed in the arm64 root (see $CACHE/apt-$suite.log)"
        echo "$packages" >"$ROOT.apt"
    fi
}

# ------------------------------------------------------------------ 2. the project, as on a Pi
install_project() {  # the working tree's files at $PROJECT, one venv per runtime, then its check
    local suite=$1 runtime extra phase=$SECONDS
    INSTALL_NOTES=""
    log "copying the working tree to $PROJECT and installing ${RUNTIMES[*]} (pip, emulated)"
    remove_tree "$ROOT$PROJECT"
    mkdir -p "$ROOT$PROJECT"
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' file; do  # a tracked file deleted in the tree is not copied
            if [ -e "$file" ] || [ -L "$file" ]; then printf '%s\0' "$file"; fi
        done | tar --null -T - -cf -) | tar -xf - -C "$ROOT$PROJECT"
    for runtime in "${RUNTIMES[@]}"; do
        extra=${EXTRAS[$runtime]}
        remove_tree "$ROOT/root/venv-$extra"
        # shellcheck disable=SC2086  # VENV_OPTIONS is empty or one option
        in_root "$PROJECT" python3 -m venv ${VENV_OPTIONS[$runtime]} "/root/venv-$extra"
        in_root "$PROJECT" "/root/venv-$extra/bin/pip" install -q -e ".[$extra]" \
            >"$CACHE/pip-$suite-$extra.log" 2>&1 \
            || die "pip install -e '.[$extra]' failed in the $suite root (see $CACHE/pip-$suite-$extra.log)"
    done
    local camera=/root/venv-${EXTRAS[ai-edge-litert]} imports=(edge_runtime ai_edge_litert cv2)
    if [ -n "${PIP_CAMERA[$suite]}" ]; then
        # shellcheck disable=SC2086  # one word per package
        in_root "$PROJECT" "$camera/bin/pip" install -q ${PIP_CAMERA[$suite]} \
            >>"$CACHE/pip-$suite-picamera.log" 2>&1 \
            || die "pip install ${PIP_CAMERA[$suite]} failed in the $suite root (see $CACHE/pip-$suite-picamera.log)"
        imports+=(${PIP_CAMERA[$suite]})
        local purelib
        purelib=$(in_root / "$camera/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
        printf '%s' "$PYKMS_STAND_IN" >"$ROOT$purelib/pykms.py"
        INSTALL_NOTES="install: pykms is the check's stand-in for python3-kms++ (DRM preview only)"
    fi
    TIMINGS+=("arm64 install $(minutes $((SECONDS - phase)))")
    INSTALL_REPORT=$(in_root "$PROJECT" "$camera/bin/python" scripts/inspect_install.py \
        --system numpy --import "${imports[@]}" 2>&1) || true
    [ -z "$INSTALL_NOTES" ] || INSTALL_REPORT+=$'\n'"$INSTALL_NOTES"
    if in_root "$PROJECT" "$camera/bin/fashion-classify" --help >/dev/null 2>"$CACHE/help-$suite.err"; then
        INSTALL_REPORT+=$'\n'"install: fashion-classify --help runs in $camera"
    else
        INSTALL_REPORT+=$'\n'"install: MISMATCH fashion-classify --help in $camera: $(head -1 "$CACHE/help-$suite.err")"
    fi
}

# ------------------------------------------------------------------ 3. inputs, then both platforms
MODELS=()
shopt -s nullglob
for path in "$REPO"/models/*.tflite; do MODELS+=("$(basename "$path" .tflite)"); done
shopt -u nullglob
[ ${#MODELS[@]} -gt 0 ] || die "no models in $REPO/models"

VERSIONS_PY='import importlib.metadata as m, json, platform, sys
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
print(json.dumps({"runtime": sys.argv[1], "runtime_version": version(sys.argv[1]),
                  "numpy": version("numpy"), "opencv": version("opencv-python-headless"),
                  "python": platform.python_version(), "machine": platform.machine()}))'

declare -A PHOTO_SIZED=()  # models whose input is larger than 28x28x1: slow under emulation
for model in "${MODELS[@]}"; do
    if "$HOST_PY" -c 'import json, math, sys
shape = json.load(open(sys.argv[1])).get("input", {}).get("shape") or [1, 28, 28]
sys.exit(0 if math.prod(shape[1:]) > 28 * 28 else 1)' "$REPO/models/$model.json" 2>/dev/null; then
        PHOTO_SIZED[$model]=1
    fi
done

classify_all() {  # classify_all PLATFORM RUNTIME BIN MODELS RUNNER...: every model, every input
    local platform=$1 runtime=$2 bin=$3 models=$4
    shift 4
    local out=$WORK/out/$platform/$runtime rel=../out/$platform/$runtime model rc
    mkdir -p "$out"
    "$@" "$bin/python" -c "$VERSIONS_PY" "$runtime" >"$out/versions.json"
    for model in "${MODELS[@]}"; do
        local inputs=(fmnist photos bad empty_dir missing.png)
        if [ -n "${PHOTO_SIZED[$model]:-}" ]; then  # the first 20 PNGs: fmnist/0000-0019
            inputs=('fmnist/000*.png' 'fmnist/001*.png' photos bad empty_dir missing.png)
        fi
        rc=0
        "$@" "$bin/fashion-classify" --model "$models/$model.tflite" --backend "$runtime" \
            --output "$rel/$model.files.jsonl" "${inputs[@]}" 2>"$out/$model.files.err" || rc=$?
        echo "$rc" >"$out/$model.files.rc"
        for video in ffv1 mjpeg; do
            rc=0
            "$@" "$bin/fashion-classify" --model "$models/$model.tflite" --backend "$runtime" \
                --video "video/$video.avi" --output "$rel/$model.$video.jsonl" \
                2>"$out/$model.$video.err" || rc=$?
            echo "$rc" >"$out/$model.$video.rc"
        done
    done
}

classify_both() {  # inputs into $WORK/in, then every model on the release's runtimes, both platforms
    local runtime phase=$SECONDS photos=()
    remove_tree "$WORK"
    mkdir -p "$WORK"
    [ -d "$REPO/../shared/real-photos" ] && photos=(--real-photos "$REPO/../shared/real-photos")
    INPUTS=$("$HOST_PY" "$REPO/scripts/make_check_inputs.py" "$WORK/in" "${photos[@]}") \
        || die "could not make the inputs (scripts/make_check_inputs.py)"
    log "host: ${#MODELS[@]} models x ${#RUNTIMES[@]} runtimes"
    for runtime in "${RUNTIMES[@]}"; do
        classify_all host "$runtime" "$REPO/${HOST_VENVS[$runtime]}/bin" "$REPO/models" \
            on_host "$WORK/in"
    done
    TIMINGS+=("host $(minutes $((SECONDS - phase)))")
    phase=$SECONDS
    log "arm64 ($CPU, emulated): ${#MODELS[@]} models x ${#RUNTIMES[@]} runtimes"
    for runtime in "${RUNTIMES[@]}"; do
        classify_all arm64 "$runtime" "/root/venv-${EXTRAS[$runtime]}/bin" "$PROJECT/models" \
            in_root /srv/fashion-check/in
    done
    TIMINGS+=("arm64 $(minutes $((SECONDS - phase)))" "total $(minutes $((SECONDS - START)))")
}

# ------------------------------------------------------------------ 4. the comparison
compare() {  # the report of one release; returns 1 on a mismatch or a broken install
    local suite=$1 qemu project few="" status=0 headers=() line
    qemu=$(qemu-aarch64-static --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
    project=$(git -C "$REPO" describe --always --dirty)
    [ ${#PHOTO_SIZED[@]} -eq 0 ] || few="; ${!PHOTO_SIZED[*]} (input > 28x28): 20 of the PNGs"
    while IFS= read -r line; do  # the install check's lines; a MISMATCH fails the release
        case $line in
            "install: MISMATCH "*) headers+=(--failure "${line#install: MISMATCH }") ;;
            *) headers+=(--header "$line") ;;
        esac
    done <<<"$INSTALL_REPORT"
    "$HOST_PY" "$REPO/scripts/compare_records.py" "$WORK/out/host" "$WORK/out/arm64" \
        --models "$REPO/models" --report "$WORK/report.txt" \
        --header "arm64 check $(date -u +%F), project $project: Debian $suite arm64 under" \
        --header "  qemu-aarch64 $qemu with QEMU_CPU=$CPU ($PI_MODEL's core) vs the $(uname -m) host" \
        --header "inputs: $INPUTS$few" "${headers[@]}" \
        "${TIMINGS[@]/#/--timing=}" || status=$?
    log "records and report: $WORK"
    return "$status"
}

check_release() {  # check_release SUITE: steps 1-4 for one release
    local suite=$1
    ROOT=$CACHE/arm64-$suite
    WORK=$ROOT/srv/fashion-check  # inputs and records; /srv/fashion-check inside the root
    read -r -a RUNTIMES <<<"${RELEASE_RUNTIMES[$suite]}"
    START=$SECONDS
    TIMINGS=()
    build_root "$suite"
    install_project "$suite"
    classify_both
    cleanup
    compare "$suite"
}

declare -A RESULTS=()
overall=0
for release in "${RELEASES[@]}"; do
    rc=0
    check_release "$release" || rc=$?
    RESULTS[$release]=$([ "$rc" = 0 ] && echo PASS || echo FAIL)
    [ "$rc" = 0 ] || overall=1
done
for release in "${RELEASES[@]}"; do log "$release ($CPU): ${RESULTS[$release]}"; done
exit "$overall"
