"""SIGINT and SIGTERM during a live run: the first asks the loop to stop (it flushes what it
wrote and exits 0), a second ends the process at once.

A Python signal handler runs only when the main thread is back in Python code, so a main thread
stuck in a camera driver or a stalled network stream would never see either Ctrl-C. Python's
own C-level handler, though, writes each signal's number to the wakeup fd the moment the signal
arrives, in whichever thread the kernel delivered it to; a thread reading that pipe acts on
every signal at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_FINISHED = b"\0"  # written by the run itself when it ends: no signal has number 0


@contextlib.contextmanager
def stop_on_signals(prog: str = "fashion-classify") -> Iterator[threading.Event]:
    """Yield an event that the first SIGINT/SIGTERM sets; a second one exits the process at
    once with status 128 + the signal number (records already written stay written). Messages
    name the command ``prog``. Call from the main thread."""

    def say(line: str) -> None:
        print(f"{prog}: {line}", file=sys.stderr, flush=True)

    stop = threading.Event()
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # the C handler must never block on it

    def watch() -> None:
        while (byte := os.read(read_fd, 1)) not in (b"", _FINISHED):
            if byte[0] not in SIGNALS:
                continue
            if stop.is_set():
                say("interrupted again: exiting now")
                os._exit(128 + byte[0])
            say("stopping (interrupt again to exit at once)")
            stop.set()

    # The handlers do nothing themselves: installing them makes Python's C-level handler (the
    # one that writes the wakeup fd) take these signals, and keeps KeyboardInterrupt out.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in SIGNALS}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name=f"{prog} signals", daemon=True)
    watcher.start()
    try:
        yield stop
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.write(write_fd, _FINISHED)
        watcher.join()
        os.close(read_fd)
        os.close(write_fd)
