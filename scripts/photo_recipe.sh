# The photo-robust variant's training recipe, sourced by build_models.sh and photo_crossval.sh
# so that the model that ships and the cross-validated ones are trained alike.
PHOTOS=${PHOTOS:-../shared/real-photos}
PHOTO_TRAIN_ARGS=(--epochs 20 --batch-size 256 --learning-rate 0.002)
# With real photos (train/real_photos.py) the Fashion-MNIST garments go in only as rendered:
# two augmented copies beside the photos cost about a point (59.3% against 60.2% cross-validated).
PHOTO_REAL_ARGS=(--real-photos "$PHOTOS" --real-photo-copies 160)
# Without them, the augmented copies are what the model has.
PHOTO_ALONE_ARGS=(--photo-copies 2)
