#!/usr/bin/env bash
# The two tool environments beside the project's own, each with only its tool installed
# (not the project), because their dependencies clash with .venv's TensorFlow 2.21:
#   .venv-metadata   tflite-support: writes and reads TFLite model metadata (convert/metadata.py);
#                    it needs protobuf < 4, TensorFlow 2.21 needs protobuf >= 6.31
#   .venv-mediapipe  mediapipe: MediaPipe Tasks, to check that our models load there unchanged;
#                    it pulls opencv-contrib-python, which clashes with opencv-python-headless
# tflite-support's native library links libusb-1.0 (apt package libusb-1.0-0).
# Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
TFLITE_SUPPORT_PIN="tflite-support==0.4.4"   # its last release (2023); wheels up to Python 3.11
MEDIAPIPE_PIN="mediapipe==1.2.2"

make_tool_venv() {
    local venv=$1; shift
    [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "$@"
    echo "setup_extra_envs: $venv ready ($*)"
}

if "$PYTHON" -c 'import sys; sys.exit(sys.version_info >= (3, 12))'; then
    if ! /sbin/ldconfig -p 2>/dev/null | grep -q 'libusb-1\.0\.so\.0'; then
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0
    fi
    make_tool_venv .venv-metadata "$TFLITE_SUPPORT_PIN"
    # Fail here, not later in a test, when the writer cannot load (e.g. libusb missing).
    .venv-metadata/bin/python -c 'from tflite_support.metadata_writers import image_classifier'
else
    echo "setup_extra_envs: Python > 3.11 has no tflite-support wheel; skipping .venv-metadata"
fi
make_tool_venv .venv-mediapipe "$MEDIAPIPE_PIN"
.venv-mediapipe/bin/python -c 'from mediapipe.tasks.python import vision'
