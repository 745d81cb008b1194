"""Which installed interpreters load and run a model: ``python -m edge_runtime.interpreter.probe MODEL``.

The conversion stage runs this in-process and, through ``--legacy-python``, in the
tflite-runtime environment, so a user learns on the desktop which runtimes a model needs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.backend import BACKENDS, BackendUnavailableError, ModelLoadError
from edge_runtime.interpreter.runner import ModelRunner

_DISTRIBUTIONS = {
    "ai-edge-litert": ("ai-edge-litert",),
    "tflite-runtime": ("tflite-runtime",),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
}


def installed_version(*distributions: str) -> str | None:
    """The version of the first of ``distributions`` that is installed, or None."""
    for dist in distributions:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def backend_version(backend: str) -> str | None:
    """The installed distribution version of a backend, or None."""
    return installed_version(*_DISTRIBUTIONS[backend])


def probe_model(model: str | Path, backends=BACKENDS) -> dict[str, dict]:
    """For each installed backend: whether it loads ``model`` and runs one invoke on it."""
    results = {}
    for backend in backends:
        version = backend_version(backend)
        if version is None:
            continue
        entry = {"version": version, "python": platform.python_version(),
                 "numpy": np.__version__}
        try:
            runner = ModelRunner(model, backend)
            layout = runner.layout
            blank = np.zeros((layout.height, layout.width, layout.channels), np.uint8)
            scores = runner.probabilities(blank)
            entry |= {"loads": True, "runs": bool(np.isfinite(scores).all())}
        except (ModelLoadError, BackendUnavailableError, ValueError, RuntimeError) as exc:
            entry |= {"loads": False, "error": " ".join(str(exc).split())[:300]}
        results[backend] = entry
    return results


def main(argv: list[str] | None = None) -> int:
    """Print the probe of one model as JSON."""
    parser = argparse.ArgumentParser(prog="python -m edge_runtime.interpreter.probe",
                                     description="Report which installed interpreters run MODEL.")
    parser.add_argument("model", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(probe_model(args.model)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
