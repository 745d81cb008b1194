#!/usr/bin/env bash
# Rebuild the Fashion-MNIST models in models/: the MLP's default training run and its four
# TFLite conversions (fashion_mlp_*), then the CNN's (about 8 minutes on 2 cores) and its
# float32 and int8 conversions (fashion_cnn_*). Every conversion is gated on accuracy; a model
# that fails the gate, or is not clearly better than the shipped one on the same pictures,
# leaves the shipped bundle as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/default}
CNN_RUN=${CNN_RUN:-runs/cnn}
legacy=()
[ -x .venv-legacy/bin/python ] && legacy=(--legacy-python .venv-legacy/bin/python)
.venv/bin/fashion-train --out "$RUN"
.venv/bin/fashion-convert --model "$RUN/model.keras" --quantization float32 float16 dynamic int8 \
    --out models "${legacy[@]}"
.venv/bin/fashion-train --arch cnn --out "$CNN_RUN"
.venv/bin/fashion-convert --model "$CNN_RUN/model.keras" --quantization float32 int8 \
    --out models "${legacy[@]}"
echo "build_models.sh: the photo model is kept as shipped; scripts/build_photo_model.sh" \
    "rebuilds it from the real photos of every source" >&2
