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
# (train/augment.py) and on the dev part of the real photos (train/real_photos.py);
# fashion-classify uses it for inputs that the photo path prepared.
source scripts/photo_recipe.sh
photo_data=("${PHOTO_REAL_ARGS[@]}")
if [ ! -d "$PHOTOS" ]; then
    echo "build_models.sh: warning: $PHOTOS not found: the photo model learns from" \
        "Fashion-MNIST alone and reads real photos far worse (README, Real photos)" >&2
    photo_data=("${PHOTO_ALONE_ARGS[@]}")
fi
.venv/bin/fashion-train "${PHOTO_TRAIN_ARGS[@]}" "${photo_data[@]}" --out "${RUN}-photo"
.venv/bin/fashion-convert --model "${RUN}-photo/model.keras" --name fashion_mlp_photo \
    --quantization int8 --out models "${legacy[@]}"
