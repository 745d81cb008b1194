"""Figures of whole processes: start to first prediction, peak RSS, and ``fashion-classify``
end to end over a folder of PNGs."""

from __future__ import annotations

import resource
import subprocess
import time
from pathlib import Path

from benchmark.stats import REPEATS, spread

ROOT = Path(__file__).resolve().parent.parent

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
    "    from edge_runtime.media.image_io import read_image\n"
    "    print(Classifier(model, backend=backend, num_threads=1).classify(read_image(image)).class_id)\n"
)
# fashion-classify at one interpreter thread, as every figure of the benchmark is measured.
CLI_CODE = ("from edge_runtime.apps.classify import main\n"
            "sys.exit(main(['--threads', '1', *sys.argv[1:]]))\n")


def measure_process(python: str, code: str, args: list[str]) -> tuple[float, float, int]:
    """Run ``code`` in a fresh ``python``: wall seconds from start to exit, peak RSS in MiB,
    and the exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen([python, "-c", _PEAK_RSS_PREFIX + code, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    peak = [line.split()[1] for line in err.decode(errors="replace").splitlines()
            if line.startswith("PEAK_RSS_KB ")]
    if peak:
        return elapsed, int(peak[-1]) / 1024, proc.returncode
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, proc.returncode


def cold_start(python: str, model_path: Path, backend: str, image: Path,
               repeats: int = REPEATS) -> dict:
    """Wall time from process start to the first prediction, and the process's peak RSS."""
    runs = [measure_process(python, _COLD_CODE, [backend, str(model_path), str(image)])
            for _ in range(repeats)]
    if any(status != 0 for _, _, status in runs):
        return {"error": "cold-start process failed"}
    return {"cold_start_s": spread([r[0] for r in runs]),
            "peak_rss_mib": spread([r[1] for r in runs])}


def cli_figures(python: str, png_dir: Path, one_png: Path, out_file: Path,
                repeats: int = REPEATS) -> dict:
    """The device command end to end: start to first result on one PNG (and peak RSS), and
    images per second over a directory of 28x28 PNGs with JSON Lines output."""
    single = [measure_process(python, CLI_CODE, ["--output", str(out_file), str(one_png)])
              for _ in range(repeats)]
    n = sum(1 for _ in png_dir.iterdir())
    rates = []
    for _ in range(repeats):
        elapsed, _, status = measure_process(python, CLI_CODE,
                                             ["--output", str(out_file), str(png_dir)])
        if status != 0:
            raise RuntimeError(f"fashion-classify {png_dir} exited {status}")
        rates.append(n / elapsed)
    return {"first_result_s": spread([s[0] for s in single]),
            "peak_rss_mib": spread([s[1] for s in single]),
            "directory_images": n, "directory_ips": spread(rates)}
