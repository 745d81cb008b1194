"""Benchmark ``fashion-classify-ray`` against ``fashion-classify`` on the same files.

Writes the 10,000 Fashion-MNIST test images as PNG twice, as they are and mirrored left to right
(20,000 files), beside the bad-input corpus (an empty file, a text file, a truncated JPEG and
PNG, a PNG whose header says 0 pixels wide, one whose header claims 100,000 x 100,000 pixels, a
dangling symlink, an empty directory and a missing path). Classifies them with
``fashion-classify``'s code in this process (the reference records), then on a local Ray
cluster of 2 CPUs with 1 and with 2 workers, alternately, ``--repeats`` times each, every run
into a fresh output directory, each beside a 200-file run that measures the start-up of the
actor pool. Prints a table and two checks: every Ray run's JSON Lines are ``fashion-classify``'s
lines, and once the actors are up 2 workers classify >= 1.4x the files per second of 1 worker
(end-to-end rates, start-up included, are printed beside it).
No TensorFlow: the test set is read with numpy (``train.data``) and written with OpenCV.

    .venv/bin/python scripts/bench_ray.py [--work DIR] [--repeats 2] [--batch-size 1000]
                                          [--images 10000]

Exit status 0 when both checks pass, 1 when one fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_runtime.apps.batch import classify_files  # noqa: E402
from edge_runtime.apps.ray_batch import ClassifyFiles, classify_catalog, start_ray  # noqa: E402
from edge_runtime.classifier import Classifier, ClassifierOptions  # noqa: E402
from edge_runtime.media.inputs import expand_inputs  # noqa: E402
from tests.bad_inputs import write_bad_inputs  # noqa: E402

MIN_SPEEDUP = 1.4


def timed_actor(clocks: Path) -> type[ClassifyFiles]:
    """The actors' callable, timing each batch (wall clock and the actor's CPU time) into
    ``clocks/PID``: the benchmark runs on one machine, so the driver reads those files."""

    class TimedClassifyFiles(ClassifyFiles):
        def __call__(self, batch):
            started, cpu = time.time(), time.process_time()
            out = super().__call__(batch)
            with open(clocks / str(os.getpid()), "a", encoding="utf-8") as log:
                log.write(f"{started} {time.time()} {time.process_time() - cpu}\n")
            return out

    return TimedClassifyFiles


@dataclass(frozen=True)
class Measured:
    """One Ray run: seconds end to end, from its start to the first batch (start-up), from the
    first batch's start to the last one's end (span), CPU cores the actors got over the span,
    and whether its records are ``fashion-classify``'s."""

    seconds: float
    startup: float
    span: float
    actor_cores: float
    identical: bool


def measure(clocks: Path, began: float, seconds: float, identical: bool) -> Measured:
    """A run's figures from every actor's clock file."""
    batches = [tuple(map(float, line.split())) for f in clocks.iterdir()
               for line in f.read_text().splitlines()]
    first, last = min(b[0] for b in batches), max(b[1] for b in batches)
    return Measured(seconds, first - began, last - first,
                    sum(b[2] for b in batches) / (last - first), identical)


def write_corpus(work: Path, count: int) -> list[str]:
    """Write ``count`` test images as PNG, as they are and mirrored, and the bad inputs under
    ``work``; the sources to classify."""
    from train.data import load_fashion_mnist

    images = load_fashion_mnist().test.images[:count]
    pngs = work / "pngs"
    pngs.mkdir(parents=True)
    for i, image in enumerate(images):
        cv2.imwrite(str(pngs / f"{i:05d}.png"), image)
        cv2.imwrite(str(pngs / f"{i:05d}_mirrored.png"), image[:, ::-1])
    bad = work / "bad"
    write_bad_inputs(bad)
    return [str(pngs), str(bad), str(work / "empty_dir"), str(work / "missing.png")]


def reference_lines(sources: list[str], options: ClassifierOptions) -> tuple[list[str], float]:
    """``fashion-classify``'s JSON lines for ``sources`` (its code, one process) and seconds."""
    started = time.perf_counter()
    with Classifier.from_options(options) as classifier:
        lines = [json.dumps(r, ensure_ascii=False)
                 for r in classify_files(classifier, expand_inputs(sources))]
    return lines, time.perf_counter() - started


def ray_lines(directory: Path) -> list[str]:
    """Every JSON line of the part files in ``directory``."""
    return [line for part in sorted(directory.glob("part-*.jsonl"))
            for line in part.read_text(encoding="utf-8").splitlines()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="keep the files here (default: a temporary "
                        "directory, removed at the end)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per worker count (default 2)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--images", type=int, default=10_000,
                        help="test images to use, each written twice (default 10,000: all)")
    args = parser.parse_args(argv)

    import ray

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_ray_"))
    try:
        sources = write_corpus(work, args.images)
        options = ClassifierOptions()
        expected, reference_s = reference_lines(sources, options)
        start_ray(num_cpus=2)
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        clocks = work / "clocks"
        clocks.mkdir()
        # Ray's first dataset of a session pays one-off costs: not in a measured run.
        classify_catalog(sources[1:], str(work / "warm_up"), options, workers=1)
        runs: dict[int, list[Measured]] = {1: [], 2: []}
        load_before = os.getloadavg()[0]
        for repeat in range(args.repeats):
            for workers in (1, 2):
                out = work / f"out_{workers}w_{repeat}"
                for old in clocks.iterdir():
                    old.unlink()
                began = time.time()
                run = classify_catalog(sources, str(out), options, workers=workers,
                                       batch_size=args.batch_size, actor=timed_actor(clocks))
                m = measure(clocks, began, run.seconds, sorted(ray_lines(out)) == sorted(expected))
                runs[workers].append(m)
                print(f"round {repeat + 1}, {workers} worker(s): {run.done:,} files in "
                      f"{m.seconds:.2f} s, batches from +{m.startup:.2f} s for {m.span:.2f} s "
                      f"on {m.actor_cores:.2f} cores, records identical: {m.identical}",
                      flush=True)
        load_after = os.getloadavg()[0]
        ray.shutdown()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    total = len(expected)
    errors = sum('"error": ' in line for line in expected)
    print(f"\n{total:,} files ({errors} error records), Ray {ray.__version__}, batch size "
          f"{args.batch_size}, medians of {args.repeats} rounds; load average (1 min) "
          f"{load_before:.1f} before the Ray runs, {load_after:.1f} after, on {os.cpu_count()} "
          "cores. End to end: the whole classify_catalog call (listing, actor start-up, "
          "classification, writing). In batches: from the first batch's start to the last "
          "one's end, i.e. the rate once the actors are up; 'cores' is the CPU time the actors "
          "got over that span (1 worker can use 1, 2 workers 2).\n")
    print("| runner | workers | seconds end to end | files/s end to end | start-up, s | "
          "files/s in batches | cores | vs 1 worker in batches (end to end) | records identical |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| fashion-classify's code, one process, no Ray | 1 | {reference_s:.2f} | "
          f"{total / reference_s:,.0f} | - | - | - | - | reference |")
    in_batches, end_to_end = {}, {}
    for workers in (1, 2):
        rows = runs[workers]
        in_batches[workers] = statistics.median(total / m.span for m in rows)
        end_to_end[workers] = total / statistics.median(m.seconds for m in rows)
        print(f"| fashion-classify-ray, local Ray of 2 CPUs | {workers} | "
              f"{statistics.median(m.seconds for m in rows):.2f} | {end_to_end[workers]:,.0f} | "
              f"{statistics.median(m.startup for m in rows):.2f} | {in_batches[workers]:,.0f} | "
              f"{statistics.median(m.actor_cores for m in rows):.2f} | "
              f"{in_batches[workers] / in_batches[1]:.2f}x "
              f"({end_to_end[workers] / end_to_end[1]:.2f}x) | "
              f"{'yes' if all(m.identical for m in rows) else 'NO'} |")
    checks = [
        (all(m.identical for rows in runs.values() for m in rows),
         f"every Ray run wrote fashion-classify's {total:,} records, line for line"),
        (in_batches[2] >= MIN_SPEEDUP * in_batches[1],
         (f"2 workers classify {in_batches[2]:,.0f} files/s = "
          f"{in_batches[2] / in_batches[1]:.2f}x 1 worker's {in_batches[1]:,.0f} (limit "
          f"{MIN_SPEEDUP}x; end to end, start-up included: "
          f"{end_to_end[2] / end_to_end[1]:.2f}x)")),
    ]
    print()
    for ok, text in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
