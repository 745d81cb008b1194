"""Measure one model's invoke at several interpreter thread counts, to choose the default that
edge_runtime.interpreter.backend gives (not a test: timings on a shared machine move from run
to run, so check that the machine is otherwise idle).

    python scripts/bench_threads.py [--model models/fashion_photo_int8.tflite] [--threads 1 2 4]

Each thread count gets its own interpreter, a warm-up, then REPEATS rounds of timed invokes on
one random input of the model's shape and type; the row is the median of the rounds' medians.
Counts above this machine's CPUs are left out (they would measure time-slicing, not the Pi).
Needs no TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.backend import (BACKENDS, BackendUnavailableError, create_interpreter,
                                              usable_cpus)

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 5
WARMUP_INVOKES = 10


def random_input(detail: dict, seed: int = 0) -> np.ndarray:
    """A random array of the input tensor's shape and dtype (integers over the dtype's range)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=detail["shape"], endpoint=True, dtype=dtype)
    return rng.random(detail["shape"], dtype=np.float32).astype(dtype)


def invoke_ms(model: Path, backend: str, threads: int, invokes: int) -> dict:
    """Median and spread of one invoke's time in milliseconds with ``threads`` threads."""
    loaded = create_interpreter(model, backend, num_threads=threads)
    interpreter = loaded.interpreter
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], random_input(detail))
    for _ in range(WARMUP_INVOKES):
        interpreter.invoke()
    medians = []
    for _ in range(REPEATS):
        times = []
        for _ in range(invokes):
            start = time.perf_counter()
            interpreter.invoke()
            times.append((time.perf_counter() - start) * 1000)
        medians.append(statistics.median(times))
    return {"backend": loaded.backend, "threads": threads, "median_ms": statistics.median(medians),
            "min_ms": min(medians), "max_ms": max(medians)}


def main(argv: list[str] | None = None) -> int:
    """Measure and print the invoke time per thread count; 2 when the backend is unavailable."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "fashion_photo_int8.tflite")
    parser.add_argument("--backend", choices=["auto", *BACKENDS], default="auto")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4], metavar="N",
                        help="thread counts to measure (default 1 2 4, those above the CPUs left out)")
    parser.add_argument("--invokes", type=int, default=30, help="timed invokes per round (default 30)")
    args = parser.parse_args(argv)
    if args.invokes < 1 or min(args.threads) < 1:
        parser.error("--invokes and --threads must be >= 1")
    if not args.model.is_file():
        parser.error(f"no model file {args.model}")
    cpus = usable_cpus()
    counts = sorted({n for n in args.threads if n <= cpus})
    if not counts:
        parser.error(f"every --threads count is above this machine's {cpus} CPUs")
    print(f"{args.model.name} on {platform.machine()}, {cpus} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        rows = [invoke_ms(args.model, args.backend, n, args.invokes) for n in counts]
    except BackendUnavailableError as exc:
        print(f"bench_threads: {exc}", file=sys.stderr)
        return 2
    base = rows[0]["median_ms"]
    for row in rows:
        print(f"{row['backend']:>15}  {row['threads']} thread(s): {row['median_ms']:8.3f} ms "
              f"(rounds {row['min_ms']:.3f}-{row['max_ms']:.3f}), x{base / row['median_ms']:.2f} "
              f"vs {rows[0]['threads']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
