"""Which decoder reads each image format in this install: OpenCV where its build has the codec,
else Pillow where the ``heif`` extra put it there (:mod:`.optional_decoders`), else none, and
then what to install."""

from __future__ import annotations

import functools

from edge_runtime.media.formats import HEIF, HEIF_EXTRA, SIGNATURES, ImageFormat
from edge_runtime.media.optional_decoders import pillow_decodes


@functools.cache
def decoder_for(kind: ImageFormat) -> str | None:
    """The first of ``kind``'s decoders (``opencv``, ``pillow``) this install has, or None."""
    for decoder in kind.decoders:
        if decoder == "opencv" and kind.opencv_key not in _missing_opencv_codecs():
            return decoder
        if decoder == "pillow" and pillow_decodes(kind):
            return decoder
    return None


def missing_decoder(kind: ImageFormat) -> str:
    """Why nothing here decodes ``kind``, and what to install."""
    if kind is HEIF:
        return f"HEIC/HEIF photos need the heif extra: {HEIF_EXTRA}"
    from edge_runtime.media.opencv import cv2

    return (f"this OpenCV ({cv2.__version__}) has no {kind.name} decoder; {HEIF_EXTRA} adds "
            "one (Pillow)")


@functools.cache
def _missing_opencv_codecs() -> frozenset[str]:
    """The image codecs that OpenCV's build information lists as NO, or leaves out (GIF and
    AVIF came in later releases: older builds never mention them)."""
    from edge_runtime.media.opencv import cv2

    media = cv2.getBuildInformation().partition("Media I/O:")[2].partition("Video I/O:")[0]
    listed = {key.strip(): value.strip() for key, _, value in
              (line.partition(":") for line in media.splitlines() if ":" in line)}
    if not listed:  # a layout this code does not know: let every decoder try
        return frozenset()
    keys = {kind.opencv_key for kind, _ in SIGNATURES if kind.opencv_key}
    return frozenset(k for k in keys if listed.get(k, "NO").upper().startswith("NO"))
