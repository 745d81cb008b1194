"""Device stage: classify images and frames with a Fashion-MNIST TFLite model, without TensorFlow.

Needs numpy and one interpreter (ai-edge-litert, tflite-runtime or tensorflow.lite); OpenCV is
imported only where images are decoded. ``from edge_runtime import Classifier`` is the API.
"""

from edge_runtime.classifier import Classifier
from edge_runtime.predictions import Candidate, Prediction

__all__ = ["Candidate", "Classifier", "Prediction"]
