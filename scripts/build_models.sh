#!/usr/bin/env bash
# Rebuild the Fashion-MNIST models in models/: the default training run, then the four TFLite
# conversions (gated on accuracy; a model that fails the gate, measures worse than the shipped
# one, or is byte-identical to it leaves the shipped bundle as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/default}
.venv/bin/fashion-train --out "$RUN"
legacy=()
[ -x .venv-legacy/bin/python ] && legacy=(--legacy-python .venv-legacy/bin/python)
.venv/bin/fashion-convert --model "$RUN/model.keras" --quantization float32 float16 dynamic int8 \
    --out models "${legacy[@]}"
echo "build_models.sh: the photo model is kept as shipped; scripts/build_photo_model.sh" \
    "rebuilds it from the real photos (about 30 minutes)" >&2
