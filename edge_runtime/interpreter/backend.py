"""The one place that chooses and creates a TFLite interpreter.

Order for ``auto``: ai-edge-litert (maintained), tflite-runtime (legacy, Python <= 3.11 with
numpy < 2), tensorflow.lite (a desktop that has TensorFlow anyway).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from edge_runtime import native_messages
from edge_runtime.interpreter.legacy_xnnpack import legacy_interpreter
from edge_runtime.interpreter.model_pages import release_model_pages

BACKENDS = ("ai-edge-litert", "tflite-runtime", "tensorflow")
_MODULES = {
    "ai-edge-litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite.python.interpreter",
}
INSTALL_COMMANDS = {
    "ai-edge-litert": "pip install ai-edge-litert",
    "tflite-runtime": "pip install 'numpy<2' tflite-runtime  (Python <= 3.11)",
    "tensorflow": "pip install tensorflow-cpu",
}
# Interpreter threads when none are asked for: XNNPACK's pool on ai-edge-litert gets up to a
# Pi's four cores, which a live stream otherwise leaves idle; tflite-runtime 2.14's pool spins,
# and slows down many times over once another process wants the cores (scripts/bench_threads.py).
MAX_DEFAULT_THREADS = 4


class BackendUnavailableError(ImportError):
    """The requested interpreter backend (or, for ``auto``, every backend) is not installed."""


class ModelLoadError(RuntimeError):
    """The interpreter refused the model (corrupt file, or an op version it does not know)."""


@dataclass(frozen=True)
class LoadedInterpreter:
    """An interpreter with its tensors allocated, and the backend that made it."""

    interpreter: object
    backend: str
    num_threads: int


def _interpreter_class(backend: str):
    module = importlib.import_module(_MODULES[backend])
    return module.Interpreter


def available_backends() -> list[str]:
    """Backends installed here, in preference order, found without importing them (importing
    TensorFlow to learn that it is there would cost seconds and hundreds of MB)."""
    return [name for name in BACKENDS
            if importlib.util.find_spec(_MODULES[name].split(".")[0]) is not None]


def resolve_backend(backend: str = "auto") -> str:
    """The backend name to use: ``backend`` itself when installed, or the first available."""
    if backend != "auto":
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}, expected auto or one of {BACKENDS}")
        try:
            _interpreter_class(backend)
        except ImportError as exc:
            raise BackendUnavailableError(
                f"backend {backend} is not installed ({exc}); install it with: "
                f"{INSTALL_COMMANDS[backend]}"
            ) from None
        return backend
    for name in BACKENDS:  # stop at the first: importing TensorFlow costs seconds
        try:
            _interpreter_class(name)
        except ImportError:
            continue
        return name
    raise BackendUnavailableError(
        "no TFLite interpreter is installed; install one of: "
        + "; ".join(f"{name}: {cmd}" for name, cmd in INSTALL_COMMANDS.items())
    )


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_threads(backend: str) -> int:
    """Interpreter threads for ``backend`` when the caller names none: the usable CPUs up to
    :data:`MAX_DEFAULT_THREADS` (a Pi 4 or 5 gets all four cores), one on tflite-runtime."""
    if backend == "tflite-runtime":
        return 1
    return min(usable_cpus(), MAX_DEFAULT_THREADS)


def create_interpreter(
    model: str | Path | bytes, backend: str = "auto", num_threads: int | None = None
) -> LoadedInterpreter:
    """Create an interpreter for a model file path or model bytes and allocate its tensors.

    ``num_threads`` None takes :func:`default_threads` for the backend. A model file's pages are
    given back once the tensors are allocated (:mod:`edge_runtime.interpreter.model_pages`).
    tflite-runtime gets XNNPACK's int8 kernels, as ai-edge-litert has them by default
    (:mod:`edge_runtime.interpreter.legacy_xnnpack`), so both give an int8 model's labels alike.
    The runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" line is kept off stderr (its
    other lines pass, and a refused model's are in the error; :mod:`edge_runtime.native_messages`).
    """
    name = resolve_backend(backend)
    if num_threads is None:
        num_threads = default_threads(name)
    cls = _interpreter_class(name)
    source = {"model_content": bytes(model)} if isinstance(model, (bytes, bytearray)) else {
        "model_path": str(model)}
    make = functools.partial(legacy_interpreter, cls) if name == "tflite-runtime" else cls
    try:
        with warnings.catch_warnings(), native_messages.caught() as messages:
            # tensorflow.lite warns that it is deprecated in favour of ai-edge-litert; the
            # order of BACKENDS already says so, and the warning would repeat on every load.
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            interpreter = make(**source, num_threads=num_threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        what = "model bytes" if "model_content" in source else str(model)
        detail = " ".join(str(exc).split())
        raise ModelLoadError(f"{what}: {name} cannot load the model: {detail}") from None
    native_messages.pass_on(messages, drop="INFO: ")
    if "model_path" in source:
        release_model_pages(source["model_path"])
    return LoadedInterpreter(interpreter, name, num_threads)
