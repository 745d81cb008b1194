"""Decoding and sources: what an image is (:mod:`.formats`) and which decoder reads it here
(:mod:`.decoders`), what a file's header says (:mod:`.headers`), image files decoded and
encoded (:mod:`.image_io`), pixel operations (:mod:`.imaging`), video capture, recording and
windows (:mod:`.video`), command-line PATHs, and camera/video frame sources (the only
picamera2 import, :mod:`.sources`); :mod:`.opencv` loads OpenCV with its pixel limit set."""
