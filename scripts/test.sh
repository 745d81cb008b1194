#!/usr/bin/env bash
# The whole test suite, in every environment that scripts/setup_env.sh made:
#   .venv          everything (TensorFlow, ai-edge-litert, OpenCV)
#   .venv-edge     the device tests without TensorFlow installed
#   .venv-legacy   the device tests on tflite-runtime 2.14 with numpy < 2 (when it exists)
# Extra arguments go to every pytest run. Fails when any run fails or collects no test.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
run() {
    local venv=$1; shift
    if [ ! -x "$venv/bin/python" ]; then
        echo "test.sh: $venv missing: run scripts/setup_env.sh first" >&2
        status=1
        return
    fi
    echo "=== $venv: pytest $*"
    "$venv/bin/python" -m pytest "$@"
    local rc=$?
    [ $rc -eq 5 ] && echo "test.sh: $venv ran no test" >&2
    [ $rc -ne 0 ] && status=1
}
# The device environments add "not tensorflow" to any -m the caller gives (pytest keeps only
# the last -m, so the two are joined into one expression).
marker="" rest=()
while [ $# -gt 0 ]; do
    case $1 in
        -m) marker=$2; shift 2 ;;
        -m*) marker=${1#-m}; shift ;;
        *) rest+=("$1"); shift ;;
    esac
done
device="not tensorflow${marker:+ and ($marker)}"
run .venv ${marker:+-m "$marker"} "${rest[@]}"
run .venv-edge -m "$device" "${rest[@]}"
if [ -x .venv-legacy/bin/python ]; then
    run .venv-legacy -m "$device" "${rest[@]}"
fi
exit $status
