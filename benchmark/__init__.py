"""``fashion-bench``: the device runtime measured on this machine, every model variant on every
interpreter, and the end-to-end figures (the Python call: :func:`benchmark.run.run_benchmark`).
It reports figures and comparisons; limits are a file the caller passes (``--check``).
Importing the package is cheap; TensorFlow loads only in a Keras row's worker."""
