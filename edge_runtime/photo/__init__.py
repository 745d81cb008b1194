"""The photo path: preparing photos and camera frames for a model (segmentation, rendering),
and labelled photo collections (folds) for evaluation and training."""
