"""What native libraries print: OpenCV, libjpeg, libpng, libtiff and the TFLite runtimes write
their warnings straight to file descriptor 2, where Python cannot filter them. Around a decode
or an interpreter's creation they are caught here instead, so a command's stderr keeps to its
own lines and a file's messages can go into that file's record; ``set_verbose(True)`` (the
commands' ``--verbose``) lets them through as they come.

Catching means pointing descriptor 2 at a temporary file for the duration, so it is done under
one lock: whatever another thread writes to stderr meanwhile is caught with it.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_verbose = False
_sink = None  # the temporary file, made on first use and kept for the process

# OpenCV's log prefix ("[ERROR:0@0.010] global loadsave.cpp:1377 imdecode_ "), the name of the
# buffer or of the temporary file some decoders read ("imdecode_(''): "), the location of a
# cv::Exception ("OpenCV(5.1.0) /io/.../grfmt_avif.cpp:253: error: (-212:Parsing error) "), and
# its tail (" in function 'readHeader'"): the message is what is left.
_NOISE = re.compile(r"\[\s*[A-Z]+:[^\]]*\]\s+\S+\s+\S+:\d+\s+\S+\s+|imdecode_\('[^']*'\):\s*"
                    r"|OpenCV\([^)]*\)\s+\S+:\d+:\s+error:\s+\([^)]*\)\s*"
                    r"|\s*in function '[^']*'")
MAX_MESSAGE = 300


def set_verbose(verbose: bool) -> None:
    """Let native messages through to stderr (True) or catch them (False, the default)."""
    global _verbose
    _verbose = verbose


@contextmanager
def caught() -> Iterator[list[str]]:
    """Catch what native code writes to stderr inside the block; the list it yields holds the
    non-empty lines once the block ends (nothing is caught when verbose)."""
    lines: list[str] = []
    if _verbose:
        yield lines
        return
    global _sink
    with _lock:
        if _sink is None:
            _sink = tempfile.TemporaryFile()
        sink = _sink.fileno()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink, 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = os.lseek(sink, 0, os.SEEK_CUR)
            if size:
                text = os.pread(sink, size, 0).decode("utf-8", "replace")
                os.ftruncate(sink, 0)
                os.lseek(sink, 0, os.SEEK_SET)
                lines += [line for line in text.splitlines() if line.strip()]


def one_line(lines: list[str]) -> str:
    """Caught messages as one line: OpenCV's prefixes and source locations taken out, repeats
    dropped, at most MAX_MESSAGE characters."""
    messages: list[str] = []
    for line in lines:
        message = " ".join(_NOISE.sub(" ", line.lstrip("> ")).split())
        if message and message not in messages:
            messages.append(message)
    text = "; ".join(messages)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def pass_on(lines: list[str], drop: str) -> None:
    """Write caught lines to stderr, except those that start with ``drop``."""
    kept = [line for line in lines if not line.startswith(drop)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
