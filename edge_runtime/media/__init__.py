"""Decoding and sources: what an image is (:mod:`.formats`) and which decoder reads it here
(:mod:`.decoders`), image files decoded (OpenCV's calls in :mod:`.imaging`), command-line PATHs,
and camera/video frame sources (the only picamera2 import, :mod:`.sources`)."""
