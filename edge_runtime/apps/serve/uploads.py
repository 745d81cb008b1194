"""Uploaded images to ``fashion-classify``'s records, on a pool of worker threads that each own
a classifier; they decode and prepare in parallel and hand the models' work to the server's
model thread (an interpreter is never used by two threads)."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from edge_runtime.apps.batch import decode_side, file_record
from edge_runtime.apps.serve.security import UploadLimits, UploadRefused, check_pixels, sniff
from edge_runtime.classifier import Classifier, ClassifierOptions
from edge_runtime.interpreter.runner import LoadedModel, load_model
from edge_runtime.media import image_io
from edge_runtime.photo.preprocess import PreparedInput

OK = 200
UNDECODABLE = 422  # sniffed as an image, but it cannot be decoded or classified


def input_png(prepared: PreparedInput) -> str:
    """The input the model saw (28x28 gray, or RGB) as a PNG data URL for the page."""
    pixels = prepared.pixels[:, :, ::-1] if prepared.pixels.ndim == 3 else prepared.pixels  # BGR
    return "data:image/png;base64," + base64.b64encode(image_io.encode_png(pixels)).decode("ascii")


class UploadClassifier:
    """Classifies uploaded files on ``workers`` threads, each with its own classifier made from
    ``options`` (its models by ``loader``) on its first upload."""

    def __init__(self, options: ClassifierOptions, limits: UploadLimits, workers: int,
                 loader: Callable[..., LoadedModel] = load_model) -> None:
        if workers < 1:
            raise ValueError(f"workers {workers}, expected >= 1")
        self.options, self.limits, self.workers = options, limits, workers
        self._loader = loader
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="fashion-serve upload")
        self._local = threading.local()
        self._made: list[Classifier] = []
        self._lock = threading.Lock()

    def _classifier(self) -> Classifier:
        classifier = getattr(self._local, "classifier", None)
        if classifier is None:
            classifier = self._local.classifier = Classifier.from_options(self.options,
                                                                          self._loader)
            with self._lock:
                self._made.append(classifier)
        return classifier

    def classify(self, name: str, data: bytes, with_input: bool = False) -> tuple[int, dict]:
        """(HTTP status, record) for one file: the record ``fashion-classify`` writes for the
        same file, with ``name`` as its path (and ``input_png`` when ``with_input``), or
        ``{path, error}``. Runs on a worker thread."""
        try:
            sniff(data, name)
            check_pixels(data, name, self.limits.max_pixels)
        except UploadRefused as exc:
            return exc.status, {"path": name, "error": str(exc)}
        classifier = self._classifier()
        seen: list[PreparedInput] = []
        record = file_record(classifier, name, decode_side(classifier), data=data,
                             on_prepared=seen.append)
        if "error" in record:
            return UNDECODABLE, record
        if with_input:
            record["input_png"] = input_png(seen[0])
        return OK, record

    async def classify_all(self, files: list[tuple[str, bytes]],
                           with_input: bool = False) -> list[tuple[int, dict]]:
        """(status, record) of every file, in order; the files are classified in parallel."""
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(
            loop.run_in_executor(self._pool, self.classify, name, data, with_input)
            for name, data in files)))

    def close(self) -> None:
        """Finish the uploads under way, then release every worker's classifier."""
        self._pool.shutdown(wait=True)
        for classifier in self._made:
            classifier.close()
