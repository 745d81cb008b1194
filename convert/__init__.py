"""Desktop conversion stage: Keras model to TFLite variants, measured, gated and shipped with a
manifest (:func:`convert.pipeline.convert_model`; ``fashion-convert`` is its command line).
Importing the package is cheap; TensorFlow loads only in the modules that need it."""
