# The photo model's training recipe, sourced by build_photo_model.sh, so that the model that
# ships and the cross-validated fold models are trained alike. The defaults of fashion-train
# --arch photo-lite0 were chosen by cross-validation on the development photos
# (docs/decisions.md, "The photo model's recipe"), never on fold 0.
PHOTOS=${PHOTOS:-data/photos}
PHOTO_TRAIN_ARGS=(--arch photo-lite0 --photos "$PHOTOS")
