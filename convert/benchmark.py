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
from edge_runtime.interpreter.bundle import models_dir
from edge_runtime.media.atomic_files import atomic_path, write_text_atomic

REPEATS = 5
LATENCY_INVOKES = 2000
WARMUP_INVOKES = 200
THROUGHPUT_IMAGES = 2048
VARIANTS = ("float32", "float16", "dynamic", "int8")
_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- worker (one row, one process)

def _predictors(model_path: Path, backend: str):
    """(one image -> probabilities, images -> probabilities) for a row's model and runtime."""
    if backend == "keras":
        import tensorflow as tf  # only the Keras row's worker pays for TensorFlow

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras

        model = keras.models.load_model(model_path)
        return (lambda x: model(x[None], training=False).numpy()[0],
                lambda batch: model.predict(batch, verbose=0, batch_size=len(batch)))
    from edge_runtime.interpreter.runner import ModelRunner

    runner = ModelRunner(model_path, backend)
    return runner.probabilities, runner.probabilities_batch


def worker(model_path: Path, backend: str, photos: Path | None) -> dict:
    """Measure one (model, backend) row in this process; returns a JSON-ready dict."""
    from edge_runtime.interpreter.probe import backend_version
    from train.data import load_fashion_mnist

    test = load_fashion_mnist().test
    load_ms = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        single, batch_fn = _predictors(model_path, backend)
        load_ms.append((time.perf_counter() - start) * 1000)
    predicted = batch_fn(test.images).argmax(axis=1)
    for x in test.images[:WARMUP_INVOKES]:
        single(x)
    p50s, p99s = [], []
    for _ in range(REPEATS):
        latencies = []
        for x in test.images[:LATENCY_INVOKES]:
            start = time.perf_counter_ns()
            single(x)
            latencies.append((time.perf_counter_ns() - start) / 1000)
        p50s.append(float(np.percentile(latencies, 50)))
        p99s.append(float(np.percentile(latencies, 99)))
    throughput = []
    batch = test.images[:THROUGHPUT_IMAGES]
    for _ in range(REPEATS):
        start = time.perf_counter()
        batch_fn(batch)
        throughput.append(len(batch) / (time.perf_counter() - start))
    result = {
        "predicted": predicted.tolist(),
        "load_ms": _spread(load_ms),
        "latency_us": {"p50": statistics.median(p50s), "p99": statistics.median(p99s),
                       "p50_runs": p50s, "p99_runs": p99s, "invokes_per_run": LATENCY_INVOKES},
        "throughput_ips": _spread(throughput),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "runtime_version": backend_version("tensorflow" if backend == "keras" else backend),
    }
    if photos is not None and backend != "keras":
        result["photo_top1"] = _photo_top1(model_path, backend, photos)
    return result


def _photo_top1(model_path: Path, backend: str, folder: Path) -> float:
    """Top-1 on the scored classes of a labelled photo folder, as ``fashion-evaluate`` counts it."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.apps.evaluate import evaluate, summarise
    from edge_runtime.photo.folds import MIN_PER_CLASS, find_photos

    with Classifier(model_path, backend=backend, preprocess="photo") as clf:
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
    "    print(Classifier(model, backend=backend).classify(read_image(image)).class_id)\n"
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

def _rows(models: Path, keras_model: Path | None, legacy_python: Path | None):
    """(name, variant, backend, model path, python) for every row to measure."""
    from edge_runtime.interpreter.backend import available_backends

    rows, installed = [], available_backends()
    if keras_model is not None and "tensorflow" in installed:
        rows.append(("keras", "float32", "keras", keras_model, sys.executable))
    for variant in VARIANTS:
        path = models / f"fashion_mlp_{variant}.tflite"
        if not path.is_file():
            continue
        for backend in installed:
            rows.append((f"{variant}/{backend}", variant, backend, path, sys.executable))
        if legacy_python is not None:
            rows.append((f"{variant}/tflite-runtime", variant, "tflite-runtime", path,
                         str(legacy_python)))
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


def live_figures(video: Path, photos: Path | None, n_frames: int = 300) -> dict:
    """Per 640x480 frame: read (decode), ROI, photo preparation, classification, smoothing,
    through the same loop as ``fashion-classify --video``, in this process, one thread."""
    from edge_runtime.media import imaging
    from edge_runtime.classifier import Classifier
    from edge_runtime.apps.live import LiveOptions, run_live
    from edge_runtime.media.sources import OpenCVSource

    sources = sorted(photos.rglob("*.jpg"))[:30] if photos else []
    rng = np.random.default_rng(0)
    stills = [imaging.resize(imaging.read_image(p).pixels, 640, 480) for p in sources] or [
        rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(30)]
    writer = imaging.open_writer(str(video), 640, 480, 15.0)
    for i in range(n_frames):
        writer.write(stills[(i // 10) % len(stills)])
    writer.release()
    latencies = []
    source = OpenCVSource(str(video))
    source.open()
    with Classifier() as clf:
        start = time.perf_counter()
        frames = run_live(source, clf, lambda r: latencies.append(r["latency_ms"]),
                          LiveOptions(), lambda: False)
        wall = time.perf_counter() - start
    source.close()
    return {"frames": frames, "per_frame_ms": wall * 1000 / frames,
            "prepare_classify_ms_p50": float(np.median(latencies)),
            "prepare_classify_ms_p95": float(np.percentile(latencies, 95))}


def build_table(rows: list[dict]) -> str:
    """The markdown table of all rows."""
    head = ("| variant / runtime | accuracy | drop vs Keras (95% CI), pp | worst class drop, pp "
            "| agreement | size, KB | load, ms | cold start, s | peak RSS, MiB | p50 / p99, us "
            "| batch, img/s | real photos top-1 |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | cannot run: {r['error']} |" + " |" * 10)
            continue
        cmp_ = r.get("vs_keras", {})
        drop = (f"{cmp_['drop_pp']:+.2f} ({cmp_['drop_ci95_pp'][0]:+.2f}, "
                f"{cmp_['drop_ci95_pp'][1]:+.2f})" if cmp_ else "-")
        photo = f"{r['photo_top1']:.1%}" if "photo_top1" in r else "-"
        cold = r.get("cold", {})
        lines.append(
            f"| {r['name']} | {r['accuracy']:.2%} | {drop} "
            f"| {cmp_.get('worst_class_drop_pp', 0):+.1f} | {cmp_.get('agreement', 1):.4f} "
            f"| {r['size_kb']:.0f} | {r['load_ms']['median']:.1f} "
            f"| {cold.get('cold_start_s', {}).get('median', float('nan')):.2f} "
            f"| {cold.get('peak_rss_mib', {}).get('median', float('nan')):.0f} "
            f"| {r['latency_us']['p50']:.0f} / {r['latency_us']['p99']:.0f} "
            f"| {r['throughput_ips']['median']:,.0f} | {photo} |")
    return "\n".join(lines)


def checks(rows: list[dict], cli: dict | None, live: dict | None = None
           ) -> list[tuple[bool, str]]:
    """The PASS/FAIL findings the table must show."""
    by = {r["name"]: r for r in rows if "error" not in r}
    out = []
    f32, i8 = by.get("float32/ai-edge-litert"), by.get("int8/ai-edge-litert")
    if f32 and i8:
        ratio = i8["size_kb"] / f32["size_kb"]
        out.append((ratio <= 0.3, f"int8 file is {ratio:.2f} x float32 (limit 0.30)"))
        a, b = i8["latency_us"]["p50"], f32["latency_us"]["p50"]
        out.append((a <= b, f"int8 p50 {a:.1f} us vs float32 {b:.1f} us on ai-edge-litert"))
    keras = by.get("keras")
    if keras and i8 and "cold" in keras and "cold" in i8:
        speed = keras["cold"]["cold_start_s"]["median"] / i8["cold"]["cold_start_s"]["median"]
        out.append((speed >= 15, f"edge cold start {speed:.1f}x faster than Keras (limit 15x)"))
        rss = i8["cold"]["peak_rss_mib"]["median"] / keras["cold"]["peak_rss_mib"]["median"]
        out.append((rss <= 1 / 8, f"edge peak RSS {rss:.3f} x Keras's (limit 0.125)"))
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
    return out


def plot(rows: list[dict], out: Path) -> list[str]:
    """Accuracy against p50 latency and against file size, one point per row: colour is the
    variant, marker the runtime (needs matplotlib; skipped without it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    colours = {"float32": "tab:blue", "float16": "tab:green", "dynamic": "tab:orange",
               "int8": "tab:red"}
    markers = {"keras": "*", "ai-edge-litert": "o", "tflite-runtime": "s", "tensorflow": "^"}
    good = [r for r in rows if "error" not in r]
    written = []
    for key, xlabel, fname in (
        ("latency", "single-image latency p50 (us, log scale)", "accuracy_latency.png"),
        ("size", "file size (KB, log scale)", "accuracy_size.png"),
    ):
        fig, ax = plt.subplots(figsize=(8, 4.8))
        for r in good:
            x = r["latency_us"]["p50"] if key == "latency" else r["size_kb"]
            colour = "black" if r["backend"] == "keras" else colours[r["variant"]]
            ax.scatter(x, r["accuracy"] * 100, s=90 if r["backend"] == "keras" else 45,
                       marker=markers[r["backend"]], color=colour, label=r["name"], alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.set_title(f"Fashion-MNIST MLP: accuracy against {key}")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
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
        description="Benchmark every model variant on every installed interpreter: accuracy, "
        "drop against Keras, size, load time, cold start, peak RSS, latency, throughput and "
        "real-photo accuracy. Writes results.json, results.md and PNG plots.")
    parser.add_argument("--models", type=Path, default=None,
                        help="directory of NAME.tflite bundles (default: the shipped models)")
    parser.add_argument("--keras", type=Path, default=Path("runs/default/model.keras"),
                        help="the Keras model for the reference row (default: %(default)s)")
    parser.add_argument("--legacy-python", type=Path, metavar="PATH",
                        help="python of a tflite-runtime environment, for its rows")
    parser.add_argument("--photos", type=Path, default=_ROOT.parent / "shared" / "real-photos",
                        help="labelled photo folder for the real-photo column (skipped if absent)")
    parser.add_argument("--out", type=Path, default=Path("bench"), metavar="DIR")
    args = parser.parse_args(argv)
    from convert.compare import compare_predictions
    from edge_runtime.media.imaging import encode_png
    from train.data import load_fashion_mnist

    models = args.models or models_dir()
    photos = args.photos if args.photos and args.photos.is_dir() else None
    keras_model = args.keras if args.keras.is_file() else None
    test = load_fashion_mnist().test
    args.out.mkdir(parents=True, exist_ok=True)
    png_dir = args.out / "pngs"
    png_dir.mkdir(exist_ok=True)
    for i, image in enumerate(test.images):
        (png_dir / f"{i:05d}.png").write_bytes(encode_png(image))
    one_png = png_dir / "00000.png"

    plan = _rows(models, keras_model, args.legacy_python)
    results, predictions = [], {}
    for index, (name, variant, backend, path, python) in enumerate(plan, 1):
        print(f"[{index}/{len(plan)}] {name} ...", file=sys.stderr, flush=True)
        row = {"name": name, "variant": variant, "backend": backend}
        row |= run_worker(python, path, backend, photos if backend != "keras" else None)
        if "error" not in row:
            predictions[name] = np.array(row.pop("predicted"))
            row["size_kb"] = path.stat().st_size / 1024
            row["accuracy"] = float((predictions[name] == test.labels).mean())
            row["cold"] = cold_start(python, path, backend, one_png)
        results.append(row)
    if "keras" in predictions:
        for row in results:
            if row["name"] != "keras" and row["name"] in predictions:
                row["vs_keras"] = compare_predictions(test.labels, predictions["keras"],
                                                      predictions[row["name"]]).as_dict()
    print("[cli] fashion-classify end to end ...", file=sys.stderr, flush=True)
    cli = cli_figures(sys.executable, png_dir, one_png, args.out / "cli.jsonl")
    print("[live] 640x480 frames through the live loop ...", file=sys.stderr, flush=True)
    live = live_figures(args.out / "frames.avi", photos)
    found = checks(results, cli, live)
    info = machine()
    payload = {"machine": info, "rows": results, "cli": cli, "live": live,
               "checks": [{"pass": ok, "check": text} for ok, text in found]}
    write_text_atomic(args.out / "results.json", json.dumps(payload, indent=2) + "\n")
    table = build_table(results)
    libraries = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    legacy = " (tflite-runtime rows: its own environment, see results.json)" \
        if args.legacy_python else ""
    header = (f"Benchmark {info['date'][:10]} on {info['cpu']}, {info['cores']} cores, Python "
              f"{info['python']}, {libraries}{legacy}; one interpreter thread; medians of "
              f"{REPEATS} runs.\n\n")
    figures = (f"\n\nfashion-classify: first result {cli['first_result_s']['median']:.3f} s, peak RSS "
               f"{cli['peak_rss_mib']['median']:.1f} MiB, {cli['directory_ips']['median']:,.0f} PNG/s "
               f"({cli['directory_images']} files, JSON Lines); live loop: "
               f"{live['per_frame_ms']:.1f} ms per 640x480 frame\n\n")
    verdicts = "\n".join(f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in found) + "\n"
    write_text_atomic(args.out / "results.md", header + table + figures + verdicts)
    plots = plot(results, args.out)
    print(header + table + figures + verdicts, end="")
    print(f"wrote {args.out}/results.json, results.md" + "".join(f", {p}" for p in plots))
    return 0 if all(ok for ok, _ in found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
