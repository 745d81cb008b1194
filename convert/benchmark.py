"""``fashion-bench``: every model variant on every interpreter, side by side.

Each row is measured in a fresh worker process (``python -m convert.benchmark worker``),
so process-level figures (cold start, peak RSS) are honest and a runtime that lives in another
virtual environment (tflite-runtime, through ``--legacy-python``) is measured the same way.
TensorFlow is imported only by the worker of the Keras row, so the benchmark also runs on a
device without it (the Keras row is then left out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.backend import BACKENDS
from edge_runtime.interpreter.bundle import PHOTO_MODEL_NAME, models_dir
from edge_runtime.media.atomic_files import atomic_path, write_text_atomic

REPEATS = 5
LATENCY_INVOKES = 2000
WARMUP_INVOKES = 200
THROUGHPUT_IMAGES = 2048
THREADS = 1  # interpreter threads: figures per core, as the Keras row (one TensorFlow thread)
BATCH = 256  # images per invoke in the batch figures: what ModelRunner.probabilities_batch uses
VARIANTS = ("float32", "float16", "dynamic", "int8")
ARCHITECTURES = ("mlp", "cnn")  # the 28x28 models: models/fashion_ARCH_VARIANT.tflite
PHONE_PHOTOS = ((533, 400), (4000, 3000))  # a resized share and a 12-megapixel original
_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- worker (one row, one process)

def _percentiles(run, images) -> dict:
    """p50 and p99 in microseconds of ``run(x)`` over ``images``, medians of :data:`REPEATS`
    runs after a warm-up."""
    for x in images[:WARMUP_INVOKES]:
        run(x)
    p50s, p99s = [], []
    for _ in range(REPEATS):
        latencies = []
        for x in images:
            start = time.perf_counter_ns()
            run(x)
            latencies.append((time.perf_counter_ns() - start) / 1000)
        p50s.append(float(np.percentile(latencies, 50)))
        p99s.append(float(np.percentile(latencies, 99)))
    return {"p50": statistics.median(p50s), "p99": statistics.median(p99s),
            "p50_runs": p50s, "p99_runs": p99s, "invokes_per_run": len(images)}


def _rate(run, n: int) -> dict:
    """Images per second of ``run()`` over ``n`` images, :data:`REPEATS` times."""
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        rates.append(n / (time.perf_counter() - start))
    return _spread(rates)


def _keras_row(model_path: Path, test) -> dict:
    import tensorflow as tf  # only the Keras rows' workers pay for TensorFlow

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    load_ms = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        model = keras.models.load_model(model_path)
        load_ms.append((time.perf_counter() - start) * 1000)
    batch = test.images[:THROUGHPUT_IMAGES]
    return {
        "predicted": model.predict(test.images, batch_size=BATCH, verbose=0).argmax(axis=1),
        "load_ms": _spread(load_ms),
        "latency_us": _percentiles(lambda x: model(x[None], training=False).numpy(),
                                   test.images[:LATENCY_INVOKES]),
        "batch_ips": _rate(lambda: model.predict(batch, batch_size=BATCH, verbose=0),
                           len(batch)),
    }


def _interpreter_row(model_path: Path, backend: str, test) -> dict:
    """The bare interpreter (set_tensor + invoke + get_tensor on inputs already in the model's
    dtype) and the whole call (``Classifier.classify`` on a 28x28 uint8 image), one image at a
    time and in batches."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.interpreter.backend import create_interpreter
    from edge_runtime.interpreter.tensors import read_specs, to_input

    load_ms = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        interpreter = create_interpreter(model_path, backend, THREADS).interpreter
        load_ms.append((time.perf_counter() - start) * 1000)
    in_spec, out_spec = read_specs(interpreter, str(model_path))
    shape = in_spec.shape[1:]
    inputs = to_input(test.images, in_spec).reshape(len(test.images), 1, *shape)
    set_tensor, invoke, get_tensor = (interpreter.set_tensor, interpreter.invoke,
                                      interpreter.get_tensor)
    i_in, i_out = in_spec.index, out_spec.index

    def bare(x):
        set_tensor(i_in, x)
        invoke()
        return get_tensor(i_out)

    latency = _percentiles(bare, inputs[:LATENCY_INVOKES])
    interpreter.resize_tensor_input(i_in, [BATCH, *shape])
    interpreter.allocate_tensors()
    chunks = [inputs[i : i + BATCH, 0] for i in range(0, THROUGHPUT_IMAGES, BATCH)]

    def bare_batches():
        for chunk in chunks:
            bare(chunk)

    batch_ips = _rate(bare_batches, THROUGHPUT_IMAGES)
    from edge_runtime.interpreter.runner import ModelRunner

    predicted = ModelRunner(model_path, backend, THREADS).probabilities_batch(test.images).argmax(axis=1)
    with Classifier(model_path, backend=backend, num_threads=THREADS) as clf:
        classify = _percentiles(clf.classify, test.images[:LATENCY_INVOKES])
        images = list(test.images[:THROUGHPUT_IMAGES])
        classify_batch_ips = _rate(lambda: clf.classify_batch(images), len(images))
    return {"predicted": predicted, "load_ms": _spread(load_ms), "latency_us": latency,
            "batch_ips": batch_ips, "classify_us": classify,
            "classify_batch_ips": classify_batch_ips}


def worker(model_path: Path, backend: str, photos: Path | None) -> dict:
    """Measure one (model, backend) row in this process; returns a JSON-ready dict."""
    from edge_runtime.interpreter.probe import backend_version
    from train.data import load_fashion_mnist

    test = load_fashion_mnist().test
    result = (_keras_row(model_path, test) if backend == "keras"
              else _interpreter_row(model_path, backend, test))
    result["predicted"] = result["predicted"].tolist()
    result |= {"python": platform.python_version(), "numpy": np.__version__,
               "runtime_version": backend_version("tensorflow" if backend == "keras"
                                                  else backend)}
    if photos is not None and backend != "keras":
        result["photo_top1"] = _photo_top1(model_path, backend, photos)
    return result


def _photo_top1(model_path: Path, backend: str, folder: Path) -> float:
    """Top-1 on the scored classes of a labelled photo folder, as ``fashion-evaluate`` counts it."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.apps.evaluate import evaluate, summarise
    from edge_runtime.photo.folds import MIN_PER_CLASS, find_photos

    with Classifier(model_path, backend=backend, num_threads=THREADS, preprocess="photo") as clf:
        labels = clf.bundle.labels
        photos = find_photos(folder, labels)
        result = evaluate(clf, photos)
    true = np.array([p.class_id for p in photos])
    scored = np.flatnonzero(np.bincount(true, minlength=len(labels)) >= MIN_PER_CLASS)
    return summarise(true, result["predicted"], result["top3"], labels, scored)["top1"]


def _spread(values: list[float]) -> dict:
    return {"median": float(statistics.median(values)), "min": float(min(values)),
            "max": float(max(values))}


# A process's own peak RSS, printed at exit. Read from /proc/self/status (VmHWM) because the
# rusage of a child counts memory of the parent it was forked from; elsewhere, rusage it is.
_PEAK_RSS_PREFIX = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    try:\n"
    "        for line in open('/proc/self/status'):\n"
    "            if line.startswith('VmHWM:'):\n"
    "                sys.stderr.write('PEAK_RSS_KB %s\\n' % line.split()[1])\n"
    "    except OSError:\n"
    "        pass\n"
    "atexit.register(_peak)\n"
)
_COLD_CODE = (
    "from pathlib import Path\n"
    "backend, model, image = sys.argv[1], Path(sys.argv[2]), sys.argv[3]\n"
    "if backend == 'keras':\n"
    "    import cv2, keras\n"
    "    m = keras.models.load_model(model)\n"
    "    print(int(m.predict(cv2.imread(image, 0)[None], verbose=0).argmax()))\n"
    "else:\n"
    "    from edge_runtime.classifier import Classifier\n"
    "    from edge_runtime.media.imaging import read_image\n"
    "    print(Classifier(model, backend=backend, num_threads=1).classify(read_image(image)).class_id)\n"
)
_CLI_CODE = "from edge_runtime.apps.classify import main\nsys.exit(main(sys.argv[1:]))\n"


def measure_process(python: str, code: str, args: list[str]) -> tuple[float, float, int]:
    """Run ``code`` in a fresh ``python``: wall seconds from start to exit, peak RSS in MiB,
    and the exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen([python, "-c", _PEAK_RSS_PREFIX + code, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=_ROOT)
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    peak = [line.split()[1] for line in err.decode(errors="replace").splitlines()
            if line.startswith("PEAK_RSS_KB ")]
    if peak:
        return elapsed, int(peak[-1]) / 1024, proc.returncode
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, proc.returncode


def cold_start(python: str, model_path: Path, backend: str, image: Path) -> dict:
    """Wall time from process start to the first prediction, and the process's peak RSS."""
    runs = [measure_process(python, _COLD_CODE, [backend, str(model_path), str(image)])
            for _ in range(REPEATS)]
    if any(status != 0 for _, _, status in runs):
        return {"error": "cold-start process failed"}
    return {"cold_start_s": _spread([r[0] for r in runs]),
            "peak_rss_mib": _spread([r[1] for r in runs])}


# ---------------------------------------------------------------- driver (the table)

def _rows(models: Path, keras_models: dict[str, Path], legacy_python: Path | None):
    """(name, architecture, variant, backend, model path, python) for every row to measure:
    each architecture's Keras model, then its variants on every runtime."""
    from edge_runtime.interpreter.backend import available_backends

    rows, installed = [], available_backends()
    for arch in ARCHITECTURES:
        if arch in keras_models and "tensorflow" in installed:
            rows.append((f"{arch} keras", arch, "float32", "keras", keras_models[arch],
                         sys.executable))
        for variant in VARIANTS:
            path = models / f"fashion_{arch}_{variant}.tflite"
            if not path.is_file():
                continue
            for backend in installed:
                rows.append((f"{arch} {variant}/{backend}", arch, variant, backend, path,
                             sys.executable))
            if legacy_python is not None:
                rows.append((f"{arch} {variant}/tflite-runtime", arch, variant,
                             "tflite-runtime", path, str(legacy_python)))
    return rows


def run_worker(python: str, model: Path, backend: str, photos: Path | None) -> dict:
    """Run :func:`worker` in a fresh process of ``python``; a load failure is a row, not a crash."""
    cmd = [python, "-m", "convert.benchmark", "worker", str(model), backend]
    if photos is not None:
        cmd += ["--photos", str(photos)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=_ROOT, timeout=900)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else "worker failed"
        # "ModelLoadError: /path: tflite-runtime cannot load the model: <why>" -> "<why>"
        return {"error": reason.split("cannot load the model: ")[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    """CPU model, cores, Python: the context every figure belongs to."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from edge_runtime.interpreter.probe import backend_version, installed_version

    versions = {name: backend_version(name) for name in BACKENDS}
    versions |= {"numpy": np.__version__,
                 "opencv": installed_version("opencv-python-headless", "opencv-python")}
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def cli_figures(python: str, png_dir: Path, one_png: Path, out_file: Path) -> dict:
    """The device command end to end: start to first result on one PNG (and peak RSS), and
    images per second over a directory of 28x28 PNGs with JSON Lines output."""
    single = [measure_process(python, _CLI_CODE, ["--output", str(out_file), str(one_png)])
              for _ in range(REPEATS)]
    n = sum(1 for _ in png_dir.iterdir())
    rates = []
    for _ in range(REPEATS):
        elapsed, _, status = measure_process(python, _CLI_CODE,
                                             ["--output", str(out_file), str(png_dir)])
        if status != 0:
            raise RuntimeError(f"fashion-classify {png_dir} exited {status}")
        rates.append(n / elapsed)
    return {"first_result_s": _spread([s[0] for s in single]),
            "peak_rss_mib": _spread([s[1] for s in single]),
            "directory_images": n, "directory_ips": _spread(rates)}


def write_test_video(video: Path, photos: Path | None, n_frames: int = 300) -> Path:
    """A 640x480 video of garments (the labelled photos, else noise), 10 frames per still."""
    from edge_runtime.media import imaging

    sources = sorted(photos.rglob("*.jpg"))[:30] if photos else []
    rng = np.random.default_rng(0)
    stills = [imaging.resize(imaging.read_image(p).pixels, 640, 480) for p in sources] or [
        rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(30)]
    writer = imaging.open_writer(str(video), 640, 480, 15.0)
    for i in range(n_frames):
        writer.write(stills[(i // 10) % len(stills)])
    writer.release()
    return video


def live_figures(video: Path, photo_model: Path | None = None) -> dict:
    """Per 640x480 frame of ``video``: read (decode), ROI, photo preparation, classification,
    smoothing, through the same loop as ``fashion-classify --video``, in this process, one
    thread, with the shipped models (or ``photo_model`` for the frames). End to end per frame
    is the time between two frames' records; prepare + classify is the loop's own latency."""
    from edge_runtime.apps.live import LiveOptions, run_live
    from edge_runtime.classifier import Classifier
    from edge_runtime.media.sources import OpenCVSource

    latencies, stamps = [], []

    def record(r: dict) -> None:
        stamps.append(time.perf_counter())
        latencies.append(r["latency_ms"])

    source = OpenCVSource(str(video))
    source.open()
    with Classifier(photo_model=photo_model, num_threads=THREADS) as clf:
        start = time.perf_counter()
        frames = run_live(source, clf, record, LiveOptions(), lambda: False)
        wall = time.perf_counter() - start
        model = clf.photo_bundle.name
    source.close()
    per_frame = np.diff(stamps) * 1000
    return {"photo_model": model, "frames": frames, "per_frame_ms": wall * 1000 / frames,
            "frame_ms_p50": float(np.median(per_frame)),
            "frame_ms_p95": float(np.percentile(per_frame, 95)),
            "prepare_classify_ms_p50": float(np.median(latencies)),
            "prepare_classify_ms_p95": float(np.percentile(latencies, 95))}


def phone_photos(out: Path, photos: Path | None) -> list[Path]:
    """JPEGs the size of a shared phone photo (533x400) and of a 12-megapixel original
    (4000x3000), from a labelled photo when there is one, else from noise."""
    import cv2  # the encoder; the device only decodes (edge_runtime.media.imaging)

    from edge_runtime.media import imaging

    source = next(iter(sorted(photos.rglob("*.jpg"))), None) if photos else None
    picture = (imaging.read_image(source).pixels if source is not None else
               np.random.default_rng(0).integers(0, 256, (400, 533, 3), dtype=np.uint8))
    if picture.ndim == 2:
        picture = cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
    portrait = picture.shape[0] > picture.shape[1]
    written = []
    for long_side, short_side in PHONE_PHOTOS:
        width, height = (short_side, long_side) if portrait else (long_side, short_side)
        ok, data = cv2.imencode(".jpg", imaging.resize(picture, width, height),
                                [cv2.IMWRITE_JPEG_QUALITY, 90])
        path = out / f"phone_{long_side}x{short_side}.jpg"
        path.write_bytes(data.tobytes())
        written.append(path)
    return written


def photo_figures(python: str, photo_model: Path, out: Path, photos: Path | None) -> dict:
    """The photo model on the device: per 640x480 camera frame through the live loop, phone
    photo decoding at the size the model needs, and ``fashion-classify`` on a 12-megapixel
    photo (start to result, peak RSS)."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.media import imaging

    scratch = out / "photo-scratch"
    scratch.mkdir(exist_ok=True)
    with Classifier(photo_model=photo_model, num_threads=THREADS) as clf:
        side = clf.photo_decode_side
    decode = {}
    for path in phone_photos(scratch, photos):
        size = imaging.read_image(path).pixels.shape
        timings = []
        for _ in range(REPEATS * 4):
            start = time.perf_counter()
            imaging.read_image(path, side)
            timings.append((time.perf_counter() - start) * 1000)
        decode[path.stem] = {"size": f"{max(size[:2])}x{min(size[:2])}",
                             "decode_ms": _spread(timings[1:])}
    big = scratch / f"phone_{PHONE_PHOTOS[-1][0]}x{PHONE_PHOTOS[-1][1]}.jpg"
    runs = [measure_process(python, _CLI_CODE, ["--photo-model", str(photo_model),
                                                 "--preprocess", "photo", "--output",
                                                 str(scratch / "out.jsonl"), str(big)])
            for _ in range(REPEATS)]
    if any(status != 0 for _, _, status in runs):
        raise RuntimeError(f"fashion-classify --photo-model {photo_model} {big} failed")
    live = live_figures(write_test_video(scratch / "frames.avi", photos), photo_model)
    return {"model": photo_model.name, "decode_side": side, "decode": decode,
            "cli_photo": {"photo": big.name, "first_result_s": _spread([r[0] for r in runs]),
                          "peak_rss_mib": _spread([r[1] for r in runs])},
            "live": live}


# MediaPipe Tasks' ImageClassifier in its own environment, on the same decoded photos: per
# photo the median milliseconds of classify() over the passes, and its top-1 class index.
_MEDIAPIPE_CODE = (
    "import json, sys, time\n"
    "import cv2, mediapipe as mp\n"
    "from mediapipe.tasks.python import vision\n"
    "from mediapipe.tasks.python.core.base_options import BaseOptions\n"
    "model, passes, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]\n"
    "images = [mp.Image(image_format=mp.ImageFormat.SRGB,\n"
    "                   data=cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)) for p in paths]\n"
    "options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model),\n"
    "                                        max_results=1)\n"
    "with vision.ImageClassifier.create_from_options(options) as classifier:\n"
    "    top1, ms = [], [[] for _ in images]\n"
    "    for n in range(passes + 1):\n"
    "        for i, image in enumerate(images):\n"
    "            start = time.perf_counter()\n"
    "            result = classifier.classify(image)\n"
    "            ms[i].append((time.perf_counter() - start) * 1000)\n"
    "            if n == 0:\n"
    "                top1.append(result.classifications[0].categories[0].index)\n"
    "print(json.dumps({'top1': top1, 'ms': [sorted(m[1:])[len(m[1:]) // 2] for m in ms]}))\n"
)


def mediapipe_figures(mediapipe_python: Path, photo_model: Path, photos: Path, out: Path,
                      count: int = 60, passes: int = 5) -> dict:
    """Classifier.classify against MediaPipe's ImageClassifier (run by ``mediapipe_python``),
    the same model on the same decoded photos (the first ``count`` of ``photos``, decoded at
    the size the model needs, handed to both as pixels): the median per-photo time of each, their
    ratio, and how often their top-1 labels agree (MediaPipe stretches a photo to the input,
    Classifier letterboxes it)."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.media import imaging

    scratch = out / "photo-scratch" / "mediapipe"
    scratch.mkdir(parents=True, exist_ok=True)
    with Classifier(photo_model=photo_model, num_threads=THREADS, preprocess="photo") as clf:
        decoded = []
        for i, path in enumerate(sorted(photos.rglob("*.jpg"))[:count]):
            image = imaging.read_image(path, clf.photo_decode_side)
            png = scratch / f"{i:03d}.png"
            png.write_bytes(imaging.encode_png(image.pixels))
            decoded.append((png, image))
        ours, labels = [[] for _ in decoded], []
        for n in range(passes + 1):
            for i, (_, image) in enumerate(decoded):
                start = time.perf_counter()
                prediction = clf.classify(image)
                ours[i].append((time.perf_counter() - start) * 1000)
                if n == 0:
                    labels.append(prediction.class_id)
    done = subprocess.run([str(mediapipe_python), "-c", _MEDIAPIPE_CODE, str(photo_model),
                           str(passes), *(str(png) for png, _ in decoded)],
                          capture_output=True, text=True, cwd=_ROOT, timeout=900)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": (lines or ["MediaPipe failed"])[-1][:160]}
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours_ms = float(np.median([statistics.median(m[1:]) for m in ours]))
    theirs_ms = float(np.median(theirs["ms"]))
    return {"photos": len(decoded), "classify_ms_p50": ours_ms, "mediapipe_ms_p50": theirs_ms,
            "ratio": ours_ms / theirs_ms,
            "top1_agreement": float(np.mean(np.array(labels) == np.array(theirs["top1"])))}


def _median(row: dict, *keys: str) -> float:
    """A nested figure of a row (NaN where the row lacks it), e.g. ``cold``, ``peak_rss_mib``."""
    value = row
    for key in keys:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    if isinstance(value, dict):
        value = value.get("median", float("nan")) if value else float("nan")
    return float(value)


def build_table(rows: list[dict]) -> str:
    """The markdown table of all rows. Interpreter: set_tensor + invoke + get_tensor on the
    bare interpreter; classify: ``Classifier.classify`` on a 28x28 image, the whole call."""
    head = ("| model variant / runtime | accuracy | drop vs Keras (95% CI), pp "
            "| worst class drop, pp | agreement | size, KB | load, ms | cold start, s "
            "| peak RSS, MiB | interpreter p50 / p99, us | classify p50, us "
            "| interpreter batch 256, img/s | classify_batch, img/s | real photos top-1 |")
    columns = head.count("|") - 1
    lines = [head, "|" + "---|" * columns]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | cannot run: {r['error']} |" + " |" * (columns - 2))
            continue
        cmp_ = r.get("vs_keras", {})
        drop, worst, agreement = (
            (f"{cmp_['drop_pp']:+.2f} ({cmp_['drop_ci95_pp'][0]:+.2f}, "
             f"{cmp_['drop_ci95_pp'][1]:+.2f})", f"{cmp_['worst_class_drop_pp']:+.1f}",
             f"{cmp_['agreement']:.4f}") if cmp_ else
            ("-", "-", "-") if r["backend"] != "keras" else ("-", "+0.0", "1.0000"))
        photo = f"{r['photo_top1']:.1%}" if "photo_top1" in r else "-"
        classify = f"{r['classify_us']['p50']:.0f}" if "classify_us" in r else "-"
        classify_batch = (f"{r['classify_batch_ips']['median']:,.0f}"
                          if "classify_batch_ips" in r else "-")
        lines.append(
            f"| {r['name']} | {r['accuracy']:.2%} | {drop} | {worst} | {agreement} "
            f"| {r['size_kb']:.0f} | {r['load_ms']['median']:.1f} "
            f"| {_median(r, 'cold', 'cold_start_s'):.2f} "
            f"| {_median(r, 'cold', 'peak_rss_mib'):.0f} "
            f"| {r['latency_us']['p50']:.1f} / {r['latency_us']['p99']:.1f} | {classify} "
            f"| {r['batch_ips']['median']:,.0f} | {classify_batch} | {photo} |")
    return "\n".join(lines)


def _architecture_checks(arch: str, by: dict, failed: dict) -> list[tuple[bool, str]]:
    label = arch.upper()
    keras = by.get(f"{arch} keras")
    f32, i8 = by.get(f"{arch} float32/ai-edge-litert"), by.get(f"{arch} int8/ai-edge-litert")
    out = []
    if f32 and i8:
        ratio = i8["size_kb"] / f32["size_kb"]
        out.append((ratio <= 0.3, f"{label} int8 file is {ratio:.2f} x float32 (limit 0.30)"))
        a, b = i8["latency_us"]["p50"], f32["latency_us"]["p50"]
        out.append((a <= b, f"{label} int8 interpreter p50 {a:.1f} us vs float32 {b:.1f} us on "
                            "ai-edge-litert"))
        if "classify_us" in i8 and "classify_us" in f32:
            whole, float_whole = i8["classify_us"]["p50"], f32["classify_us"]["p50"]
            ratio = whole / a
            out.append((ratio <= 1.5 and whole < float_whole,
                        f"{label} int8 through Classifier.classify on a prepared 28x28 input: "
                        f"p50 {whole:.1f} us, {ratio:.2f} x the bare interpreter's {a:.1f} us "
                        f"(limit 1.5x), float32's {float_whole:.1f} us (must be above)"))
    if keras and i8 and "cold" in keras and "cold_start_s" in i8.get("cold", {}):
        speed = keras["cold"]["cold_start_s"]["median"] / i8["cold"]["cold_start_s"]["median"]
        out.append((speed >= 15, f"{label} edge cold start {speed:.1f}x faster than Keras "
                                 "(limit 15x)"))
        rss = i8["cold"]["peak_rss_mib"]["median"] / keras["cold"]["peak_rss_mib"]["median"]
        out.append((rss <= 1 / 8, f"{label} edge peak RSS {rss:.3f} x Keras's (limit 0.125)"))
    if arch == "mlp" and i8:
        ips = i8["batch_ips"]["median"]
        out.append((ips >= 250_000, f"MLP int8 bare interpreter at batch {BATCH}: {ips:,.0f} "
                                    "images/s (limit 250,000)"))
    if arch == "cnn":
        if keras:
            acc = keras["accuracy"]
            out.append((acc >= 0.93, f"CNN Keras test accuracy {acc:.2%} (target 93.0%, as a "
                                     "3-seed mean)"))
        if i8 and "vs_keras" in i8:
            drop = i8["vs_keras"]["drop_pp"]
            out.append((drop <= 0.3, f"CNN int8 drop {drop:+.2f} pp against Keras (limit 0.3)"))
        if i8:
            out.append((i8["size_kb"] <= 150,
                        f"CNN int8 file {i8['size_kb']:.0f} KB (limit 150)"))
            p50 = i8["latency_us"]["p50"]
            out.append((p50 <= 200, f"CNN int8 interpreter p50 {p50:.0f} us on one thread "
                                    "(limit 200)"))
        legacy = f"{arch} int8/tflite-runtime"
        if legacy in by:
            out.append((True, f"CNN int8 loads and runs on tflite-runtime "
                              f"{by[legacy].get('runtime_version')}"))
        elif legacy in failed:
            out.append((False, f"CNN int8 on tflite-runtime: {failed[legacy]['error']}"))
    return out


def checks(rows: list[dict], cli: dict | None, live: dict | None = None,
           photo: dict | None = None) -> list[tuple[bool, str]]:
    """The PASS/FAIL findings the table must show (ratios between rows of the same run)."""
    by = {r["name"]: r for r in rows if "error" not in r}
    failed = {r["name"]: r for r in rows if "error" in r}
    out = [check for arch in ARCHITECTURES for check in _architecture_checks(arch, by, failed)]
    if cli:
        t, m = cli["first_result_s"]["median"], cli["peak_rss_mib"]["median"]
        out.append((t <= 0.25, f"fashion-classify start to first result {t:.3f} s (limit 0.25)"))
        out.append((m <= 60, f"fashion-classify peak RSS {m:.1f} MiB (limit 60)"))
        ips = cli["directory_ips"]["median"]
        out.append((ips >= 5000, f"fashion-classify {ips:,.0f} PNG/s to JSON Lines (limit 5,000)"))
    if live:
        ms = live["per_frame_ms"]
        out.append((ms <= 15, f"640x480 frame read + prepare + classify + smooth {ms:.1f} ms "
                              "(limit 15)"))
    if photo:
        cli_photo = photo["cli_photo"]
        rss = cli_photo["peak_rss_mib"]["median"]
        out.append((rss <= 150, f"fashion-classify on a {cli_photo['photo']} photo with "
                                f"{photo['model']}: peak RSS {rss:.0f} MiB (limit 150)"))
    return out


def compare_architectures(rows: list[dict]) -> list[str]:
    """Side by side, the MLP and the CNN as a device would run them: int8 on ai-edge-litert,
    and which variants tflite-runtime 2.14 cannot run."""
    by = {r["name"]: r for r in rows}
    mlp, cnn = by.get("mlp int8/ai-edge-litert"), by.get("cnn int8/ai-edge-litert")
    lines = []
    if mlp and cnn and "error" not in mlp and "error" not in cnn:
        lat_c, lat_m = cnn["latency_us"]["p50"], mlp["latency_us"]["p50"]
        gain = (cnn["accuracy"] - mlp["accuracy"]) * 100
        photo = (f"; real photos top-1 {cnn['photo_top1']:.1%} vs {mlp['photo_top1']:.1%}"
                 if "photo_top1" in cnn and "photo_top1" in mlp else "")
        lines.append(
            f"- int8 on ai-edge-litert, CNN vs MLP: accuracy {cnn['accuracy']:.2%} vs "
            f"{mlp['accuracy']:.2%} ({gain:+.2f} pp); interpreter p50 {lat_c:.1f} vs "
            f"{lat_m:.1f} us ({lat_c / lat_m:.1f}x); file {cnn['size_kb']:.0f} vs "
            f"{mlp['size_kb']:.0f} KB; peak RSS from process start to first prediction "
            f"{_median(cnn, 'cold', 'peak_rss_mib'):.0f} vs "
            f"{_median(mlp, 'cold', 'peak_rss_mib'):.0f} MiB; "
            f"batch {BATCH} {cnn['batch_ips']['median']:,.0f} vs "
            f"{mlp['batch_ips']['median']:,.0f} images/s{photo}")
    for arch in ARCHITECTURES:
        legacy = [r for r in rows if r["name"].startswith(f"{arch} ")
                  and r["backend"] == "tflite-runtime"]
        if legacy:
            refused = [r["variant"] for r in legacy if "error" in r]
            lines.append(f"- {arch.upper()} on tflite-runtime 2.14: "
                         + (f"cannot run {', '.join(refused)}" if refused
                            else "runs every variant"))
    return lines


def plot(rows: list[dict], out: Path) -> list[str]:
    """Accuracy against p50 interpreter latency and against file size, one point per row:
    colour is the variant (black: Keras), marker the runtime, hollow the MLP and filled the CNN
    (needs matplotlib; skipped without it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError:
        return []
    colours = {"float32": "tab:blue", "float16": "tab:green", "dynamic": "tab:orange",
               "int8": "tab:red"}
    markers = {"keras": "*", "ai-edge-litert": "o", "tflite-runtime": "s", "tensorflow": "^"}
    good = [r for r in rows if "error" not in r]
    handles = ([Line2D([], [], ls="", marker="o", color=c, label=v) for v, c in colours.items()]
               + [Line2D([], [], ls="", marker="*", color="black", label="Keras")]
               + [Line2D([], [], ls="", marker=m, color="grey", label=b)
                  for b, m in markers.items() if b != "keras"]
               + [Line2D([], [], ls="", marker="o", color="grey", markerfacecolor="none",
                         label="MLP (hollow)"),
                  Line2D([], [], ls="", marker="o", color="grey", label="CNN (filled)")])
    written = []
    for key, xlabel, fname in (
        ("latency", "single-image interpreter latency p50 (us, log scale)",
         "accuracy_latency.png"),
        ("size", "file size (KB, log scale)", "accuracy_size.png"),
    ):
        fig, ax = plt.subplots(figsize=(8.5, 5))
        for r in good:
            x = r["latency_us"]["p50"] if key == "latency" else r["size_kb"]
            colour = "black" if r["backend"] == "keras" else colours[r["variant"]]
            filled = r.get("arch") == "cnn"
            ax.scatter(x, r["accuracy"] * 100, s=110 if r["backend"] == "keras" else 50,
                       marker=markers[r["backend"]], edgecolors=colour, linewidths=1.4,
                       facecolors=colour if filled else "none", alpha=0.85)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.set_title(f"Fashion-MNIST MLP (hollow) and CNN (filled): accuracy against {key}")
        ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        with atomic_path(out / fname) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
        written.append(fname)
    return written


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-bench`` (or, with ``worker``, one row for the driver)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        parser = argparse.ArgumentParser(prog="fashion-bench worker")
        parser.add_argument("model", type=Path)
        parser.add_argument("backend", choices=[*BACKENDS, "keras"])
        parser.add_argument("--photos", type=Path)
        args = parser.parse_args(argv[1:])
        print(json.dumps(worker(args.model, args.backend, args.photos)))
        return 0
    parser = argparse.ArgumentParser(
        prog="fashion-bench",
        description="Benchmark every model variant of both architectures (MLP, CNN) on every "
        "installed interpreter: accuracy, drop against Keras, size, load time, cold start, peak "
        "RSS, interpreter and whole-call latency, batch throughput and real-photo accuracy; and, "
        "when the photo model is shipped, camera frames, photo decoding and fashion-classify "
        "on a photo with it. Writes results.json, results.md and PNG plots.")
    parser.add_argument("--models", type=Path, default=None,
                        help="directory of NAME.tflite bundles (default: the shipped models)")
    parser.add_argument("--keras", type=Path, default=Path("runs/default/model.keras"),
                        help="the MLP's Keras model, for its reference row (default: %(default)s)")
    parser.add_argument("--cnn-keras", type=Path, default=Path("runs/cnn/model.keras"),
                        help="the CNN's Keras model, for its reference row (default: "
                        "%(default)s)")
    parser.add_argument("--legacy-python", type=Path, metavar="PATH",
                        help="python of a tflite-runtime environment, for its rows")
    parser.add_argument("--photos", type=Path, default=_ROOT.parent / "shared" / "real-photos",
                        help="labelled photo folder for the real-photo column (skipped if absent)")
    parser.add_argument("--mediapipe-python", type=Path,
                        default=_ROOT / ".venv-mediapipe" / "bin" / "python", metavar="PATH",
                        help="python of an environment with mediapipe, to time its "
                        "ImageClassifier beside Classifier on the same photos (default: "
                        "%(default)s; skipped if absent)")
    parser.add_argument("--out", type=Path, default=Path("bench"), metavar="DIR")
    args = parser.parse_args(argv)
    from convert.compare import compare_predictions
    from edge_runtime.media.imaging import encode_png
    from train.data import load_fashion_mnist

    models = args.models or models_dir()
    photos = args.photos if args.photos and args.photos.is_dir() else None
    keras_models = {arch: path for arch, path in (("mlp", args.keras), ("cnn", args.cnn_keras))
                    if path.is_file()}
    test = load_fashion_mnist().test
    args.out.mkdir(parents=True, exist_ok=True)
    png_dir = args.out / "pngs"
    png_dir.mkdir(exist_ok=True)
    for i, image in enumerate(test.images):
        (png_dir / f"{i:05d}.png").write_bytes(encode_png(image))
    one_png = png_dir / "00000.png"

    plan = _rows(models, keras_models, args.legacy_python)
    results, predictions = [], {}
    for index, (name, arch, variant, backend, path, python) in enumerate(plan, 1):
        print(f"[{index}/{len(plan)}] {name} ...", file=sys.stderr, flush=True)
        row = {"name": name, "arch": arch, "variant": variant, "backend": backend}
        row |= run_worker(python, path, backend, photos if backend != "keras" else None)
        if "error" not in row:
            predictions[name] = np.array(row.pop("predicted"))
            row["size_kb"] = path.stat().st_size / 1024
            row["accuracy"] = float((predictions[name] == test.labels).mean())
            row["cold"] = cold_start(python, path, backend, one_png)
        results.append(row)
    for row in results:
        reference = predictions.get(f"{row['arch']} keras")
        if row["backend"] != "keras" and reference is not None and row["name"] in predictions:
            row["vs_keras"] = compare_predictions(test.labels, reference,
                                                  predictions[row["name"]]).as_dict()
    print("[cli] fashion-classify end to end ...", file=sys.stderr, flush=True)
    cli = cli_figures(sys.executable, png_dir, one_png, args.out / "cli.jsonl")
    print("[live] 640x480 frames through the live loop ...", file=sys.stderr, flush=True)
    live = live_figures(write_test_video(args.out / "frames.avi", photos))
    photo_model = models / f"{PHOTO_MODEL_NAME}.tflite"
    photo = None
    if photo_model.is_file():
        print(f"[photo] {photo_model.name}: frames, photo decoding, fashion-classify ...",
              file=sys.stderr, flush=True)
        photo = photo_figures(sys.executable, photo_model, args.out, photos)
        if photos is not None and args.mediapipe_python.is_file():
            print("[mediapipe] the same photos through MediaPipe's ImageClassifier ...",
                  file=sys.stderr, flush=True)
            photo["mediapipe"] = mediapipe_figures(args.mediapipe_python, photo_model, photos,
                                                   args.out)
    found = checks(results, cli, live, photo)
    info = machine()
    payload = {"machine": info, "rows": results, "cli": cli, "live": live, "photo_model": photo,
               "checks": [{"pass": ok, "check": text} for ok, text in found]}
    write_text_atomic(args.out / "results.json", json.dumps(payload, indent=2) + "\n")
    libraries = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    legacy = " (tflite-runtime rows: its own environment, see results.json)" \
        if args.legacy_python else ""
    header = (f"Benchmark {info['date'][:10]} on {info['cpu']}, {info['cores']} cores, Python "
              f"{info['python']}, {libraries}{legacy}; one interpreter thread; medians of "
              f"{REPEATS} runs. Interpreter: set_tensor + invoke + get_tensor on the bare "
              f"interpreter; classify: Classifier.classify on a 28x28 image, the whole call; "
              f"batch: {BATCH} images per invoke.\n\n")
    text = header + build_table(results) + "\n\n" + figures_text(cli, live, photo)
    comparison = compare_architectures(results)
    if comparison:
        text += "\nMLP or CNN:\n" + "\n".join(comparison) + "\n"
    text += "\n" + "\n".join(f"- {'PASS' if ok else 'FAIL'}: {line}" for ok, line in found) + "\n"
    write_text_atomic(args.out / "results.md", text)
    plots = plot(results, args.out)
    print(text, end="")
    print(f"wrote {args.out}/results.json, results.md" + "".join(f", {p}" for p in plots))
    return 0 if all(ok for ok, _ in found) else 1


def figures_text(cli: dict, live: dict, photo: dict | None) -> str:
    """The end-to-end figures below the table, as markdown lines."""
    lines = [f"- fashion-classify: first result {cli['first_result_s']['median']:.3f} s, peak "
             f"RSS {cli['peak_rss_mib']['median']:.1f} MiB, "
             f"{cli['directory_ips']['median']:,.0f} PNG/s ({cli['directory_images']} files, "
             f"JSON Lines)",
             f"- live loop, {live['photo_model']} for the frames: "
             f"{live['per_frame_ms']:.1f} ms per 640x480 frame (mean; p50 "
             f"{live['frame_ms_p50']:.1f}, p95 {live['frame_ms_p95']:.1f} ms)"]
    if photo:
        frames, cli_photo = photo["live"], photo["cli_photo"]
        decode = "; ".join(f"{d['size']} {d['decode_ms']['median']:.1f} ms"
                           for d in photo["decode"].values())
        lines += [f"- photo model {photo['model']}: per 640x480 camera frame end to end "
                  f"(read, ROI, segmentation, letterbox, classify, smooth; one thread) p50 "
                  f"{frames['frame_ms_p50']:.1f} ms, p95 {frames['frame_ms_p95']:.1f} ms "
                  f"(prepare + classify p50 {frames['prepare_classify_ms_p50']:.1f} ms)",
                  f"- phone photo JPEG decode at the short side it needs "
                  f"({photo['decode_side']} px), p50: {decode}",
                  f"- fashion-classify on the {cli_photo['photo']} photo with it: "
                  f"{cli_photo['first_result_s']['median']:.2f} s start to result, peak RSS "
                  f"{cli_photo['peak_rss_mib']['median']:.0f} MiB"]
        mp = photo.get("mediapipe")
        if mp and "error" in mp:
            lines.append(f"- MediaPipe's ImageClassifier: cannot run: {mp['error']}")
        elif mp:
            lines.append(f"- a decoded photo, {mp['photos']} real photos, one thread, p50: "
                         f"Classifier.classify {mp['classify_ms_p50']:.2f} ms, MediaPipe's "
                         f"ImageClassifier {mp['mediapipe_ms_p50']:.2f} ms ({mp['ratio']:.2f}x); "
                         f"top-1 labels agree on {mp['top1_agreement']:.1%}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
