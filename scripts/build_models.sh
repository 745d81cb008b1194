#!/usr/bin/env bash
# Rebuild models/ from scratch: the default training run, then the float32 and int8 conversions
# (gated on accuracy; a model that fails the gate leaves the shipped one in place).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/default}
.venv/bin/fashion-train --out "$RUN"
legacy=()
[ -x .venv-legacy/bin/python ] && legacy=(--legacy-python .venv-legacy/bin/python)
.venv/bin/fashion-convert --model "$RUN/model.keras" --quantization float32 int8 \
    --out models "${legacy[@]}"
