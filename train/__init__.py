"""Desktop training stage: Fashion-MNIST IDX loading, the MLP, training and its report.

Importing the package is cheap; TensorFlow loads only in the modules that need it.
"""
