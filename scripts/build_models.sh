#!/usr/bin/env bash
# Rebuild models/ from scratch: the default training run, then the four TFLite conversions
# (gated on accuracy; a model that fails the gate leaves the shipped one in place).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/default}
.venv/bin/fashion-train --out "$RUN"
legacy=()
[ -x .venv-legacy/bin/python ] && legacy=(--legacy-python .venv-legacy/bin/python)
.venv/bin/fashion-convert --model "$RUN/model.keras" --quantization float32 float16 dynamic int8 \
    --out models "${legacy[@]}"
# The photo-robust variant: same architecture, trained on augmented renderings of the data
# (train/augment.py); fashion-classify uses it for inputs that the photo path prepared.
.venv/bin/fashion-train --photo-copies 2 --epochs 20 --batch-size 256 --learning-rate 0.002 \
    --out "${RUN}-photo"
.venv/bin/fashion-convert --model "${RUN}-photo/model.keras" --name fashion_mlp_photo \
    --quantization int8 --out models "${legacy[@]}"
