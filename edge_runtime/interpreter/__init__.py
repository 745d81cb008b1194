"""The model and its interpreter: bundles and manifests, choosing and creating the TFLite
interpreter, tensor specs and (de)quantization, invoking, and probing which runtimes load a model."""
