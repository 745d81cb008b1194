#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine: the Fashion-MNIST data from apt and three virtual
# environments, each with the project installed in editable mode:
#   .venv         desktop and device: train, convert, edge, ray, serve, heif, dev (TensorFlow,
#                 ai-edge-litert, Ray Data for fashion-classify-ray, pillow-heif for HEIC)
#   .venv-edge    device only, as on a Pi: edge, serve, heif, dev (no TensorFlow)
#   .venv-legacy  device on tflite-runtime 2.14 with numpy < 2: legacy, serve, dev (no heif:
#                 the tests see HEIC refused with the extra named, GIF and AVIF without a decoder)
#   .venv-metadata, .venv-mediapipe: one tool each (tflite-support, mediapipe), made by
#                 scripts/setup_extra_envs.sh; their tests skip when they are absent
# serve is aiohttp, for fashion-serve; its browser test drives Debian's chromium through
# chromium-driver (apt, installed here; the test skips without them).
# Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

need_apt=()
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
"$PYTHON" -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

make_venv() {
    local venv=$1 extras=$2
    [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".[$extras]"
    echo "setup_env: $venv ready ($extras)"
}
make_venv .venv train,backbone,edge,ray,serve,heif,dev
make_venv .venv-edge edge,serve,heif,dev
if "$PYTHON" -c 'import sys; sys.exit(sys.version_info >= (3, 12))'; then
    make_venv .venv-legacy legacy,serve,dev
else
    echo "setup_env: Python > 3.11 has no tflite-runtime wheel; skipping .venv-legacy"
fi
bash scripts/setup_extra_envs.sh
