# The photo-robust variant's training recipe, sourced by build_models.sh and photo_crossval.sh
# so that the model that ships and the cross-validated ones are trained alike.
PHOTOS=${PHOTOS:-../shared/real-photos}
PHOTO_TRAIN_ARGS=(--epochs 20 --batch-size 256 --learning-rate 0.002)
# With real photos (train/real_photos.py) the Fashion-MNIST garments go in only as rendered:
# their augmented copies took real photos' share of the training and cost 1-3 points there.
PHOTO_REAL_ARGS=(--real-photos "$PHOTOS" --real-photo-copies 160)
# Without them, the augmented copies are what the model has.
PHOTO_ALONE_ARGS=(--photo-copies 2)
