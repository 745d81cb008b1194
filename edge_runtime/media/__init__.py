"""Decoding and sources: image files (the only OpenCV module, :mod:`.imaging`), command-line
PATHs, and camera/video frame sources (the only picamera2 import, :mod:`.sources`)."""
