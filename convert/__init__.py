"""Desktop conversion stage: Keras model to TFLite variants, measured, gated and shipped with a
manifest. Importing the package is cheap; TensorFlow loads only in the modules that need it."""
