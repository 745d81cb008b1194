"""One interpreter per model for several threads (fashion-serve's live loop and upload workers):
the classifiers of every thread share it, it only ever runs on the model thread, and they
predict what a classifier with its own interpreters predicts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from edge_runtime import Classifier
from edge_runtime.interpreter.model_thread import ModelThread
from tests.test_photos import synthetic_photo


def test_classifiers_of_several_threads_share_one_interpreter_on_the_model_thread(fashion):
    rng = np.random.default_rng(0)
    photos = [cv2.imdecode(np.frombuffer(synthetic_photo(garment, "light", rng), np.uint8),
                           cv2.IMREAD_COLOR) for garment in fashion.test.images[:8]]
    images = list(fashion.test.images[:200]) + photos
    with Classifier() as own:
        expected = [own.classify(image).as_dict() for image in images]
    models = ModelThread()
    ran_on: set[str] = set()
    try:
        def classify_all(_):
            with Classifier(loader=models.load_model) as shared:
                return [shared.classify(image).as_dict() for image in images]

        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(classify_all, range(3)))
        loaded = models.load_model()
        original = loaded.runner._runner.raw_scores

        def recording(pixels):
            ran_on.add(threading.current_thread().name)
            return original(pixels)

        loaded.runner._runner.raw_scores = recording
        with Classifier(loader=models.load_model) as shared:
            shared.classify(images[0])
    finally:
        models.close()
    assert results == [expected] * 3
    assert len(ran_on) == 1 and ran_on.pop().startswith("fashion models")


def test_a_model_thread_loads_each_model_once_and_refuses_use_after_close():
    models = ModelThread()
    first, again = models.load_model(), models.load_model()
    assert first is again
    models.close()
    with pytest.raises(RuntimeError):
        first.runner.probabilities(np.zeros((28, 28), np.uint8))
