#!/usr/bin/env bash
# Cross-validate the photo-robust recipe on real photos: for each of the three folds of
# $PHOTOS (default ../shared/real-photos), train without that fold, convert to int8, and let
# fashion-evaluate score every photo with the model that never saw it. About 20 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/photo_recipe.sh
OUT=${OUT:-runs/crossval}
models=()
for fold in 0 1 2; do
    .venv/bin/fashion-train "${PHOTO_TRAIN_ARGS[@]}" "${PHOTO_REAL_ARGS[@]}" \
        --holdout-fold "$fold" --out "$OUT/fold$fold"
    .venv/bin/fashion-convert --model "$OUT/fold$fold/model.keras" \
        --name "fashion_mlp_photo_fold$fold" --quantization int8 --out "$OUT/fold$fold"
    models+=("$OUT/fold$fold/fashion_mlp_photo_fold${fold}_int8.tflite")
done
.venv/bin/fashion-evaluate "$PHOTOS" --fold-models "${models[@]}" --out "$OUT/evaluation"
