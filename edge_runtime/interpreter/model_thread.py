"""Models owned by one thread, for a program whose several threads classify (the web server's
live loop and upload workers).

Each model's interpreter then exists once, not once per thread (the photo model's is about
23 MiB with XNNPACK's packed weights), and it is still only ever touched by the thread that
made it: the other threads hand it their prepared inputs and wait for the scores. Decoding and
preparing images stay on the calling threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.runner import BATCH_SIZE, LoadedModel, ModelRunner, load_model


class ThreadRunner:
    """A :class:`~edge_runtime.interpreter.runner.Runner` whose calls run on the model thread.
    Its specs are plain values copied at load; :meth:`close` leaves the interpreter to the model
    thread."""

    def __init__(self, runner: ModelRunner, pool: ThreadPoolExecutor) -> None:
        self._runner, self._pool = runner, pool
        self.backend, self.layout = runner.backend, runner.layout
        self.input_spec, self.output_spec = runner.input_spec, runner.output_spec
        self.output_quantization, self.n_outputs = runner.output_quantization, runner.n_outputs

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """:meth:`ModelRunner.probabilities`, on the model thread."""
        return self._pool.submit(self._runner.probabilities, pixels).result()

    def raw_scores(self, pixels: np.ndarray) -> list:
        """:meth:`ModelRunner.raw_scores`, on the model thread."""
        return self._pool.submit(self._runner.raw_scores, pixels).result()

    def raw_scores_batch(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """:meth:`ModelRunner.raw_scores_batch`, on the model thread."""
        return self._pool.submit(self._runner.raw_scores_batch, images, batch_size).result()

    def close(self) -> None:
        """Nothing: other classifiers may still use the model; :meth:`ModelThread.close`
        releases it."""


class ModelThread:
    """One thread that loads every model once and runs every call on it. Pass its
    :meth:`load_model` to :class:`~edge_runtime.classifier.Classifier` (``loader=``): every
    classifier made so shares the interpreters."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fashion models")
        self._models: dict[tuple, LoadedModel] = {}
        self._runners: list[ModelRunner] = []
        self._lock = threading.Lock()

    def load_model(self, path: str | Path | None = None, backend: str = "auto",
                   num_threads: int | None = None) -> LoadedModel:
        """:func:`~edge_runtime.interpreter.runner.load_model`'s result, made on the model
        thread on the first call for these arguments and shared by later ones; raises what it
        raises."""
        key = (None if path is None else str(path), backend, num_threads)
        with self._lock:
            if key not in self._models:
                loaded = self._pool.submit(load_model, path, backend, num_threads).result()
                self._runners.append(loaded.runner)
                self._models[key] = LoadedModel(loaded.bundle,
                                                ThreadRunner(loaded.runner, self._pool))
            return self._models[key]

    def close(self) -> None:
        """Release every interpreter (on the model thread) and stop the thread; calls under
        way finish first."""
        with self._lock:
            for runner in self._runners:
                self._pool.submit(runner.close).result()
            self._runners.clear()
            self._models.clear()
        self._pool.shutdown(wait=True)
