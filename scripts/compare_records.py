"""Compare ``fashion-classify`` records made on two platforms (the host and arm64) and print
a one-screen report; the comparison half of ``scripts/check_arm64.sh``.

Each platform folder holds, per runtime, ``RUNTIME/versions.json`` and, per model and kind of
input, ``RUNTIME/MODEL.KIND.jsonl`` (the records), ``.rc`` (the exit status) and ``.err``
(stderr). Kinds: ``files`` (image files and bad inputs), ``ffv1`` (a lossless video's frames),
``mjpeg`` (the same garments as an MJPEG video, what a USB webcam sends).

Rules: the same exit status; for a model a runtime refuses (exit 2), the same reason. The same
inputs (paths, or frame numbers); for each, the same error text, or the same label, class id
and reason. Top-1 scores within one quantization step of the model's output (the scale in its
manifest) for quantized outputs, within DYNAMIC_TOLERANCE for dynamic-range models (float
outputs, int8 arithmetic inside), within FLOAT_TOLERANCE for float models; not for MJPEG
frames, whose pixels differ between architectures (FFmpeg's MJPEG decoder is not bit-exact
across them), so there only the labels must agree and the largest difference is reported.
Models whose input is larger than 28x28 (the photo model) get every image resized to it, and
OpenCV's resize rounds a few pixels one grey level apart on Arm and x86, which a deep int8
network carries to its scores: their scores are not gated either, and a file's label may
differ where the host's two best scores are within NEAR_TIE (counted in the report). The same
holds for every model on the photo inputs (``photos/``): they take the photo path, whose
segmentation computes L*a*b* in float (numpy's exp and log may differ in the last bits between
x86-64 and aarch64), so a mask pixel, and then the 28x28 rendering, may differ too.
Needs the standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

FLOAT_TOLERANCE = 1e-5
# Dynamic-range models have float outputs but quantize activations to int8 at run time, and Arm's
# and x86's kernels round those differently: a quarter of an 8-bit probability step (1/256).
DYNAMIC_TOLERANCE = 1e-3
ROUNDING = 1e-6  # file records round scores to 6 decimals
KINDS = ("files", "ffv1", "mjpeg")
UNGATED_SCORES = ("mjpeg",)  # inputs that differ by architecture: labels only
NEAR_TIE = 0.1  # inputs that may differ: a label may flip where the host's top two are this close
PHOTO_INPUTS = "photos/"  # files that take the photo path, whatever the model
FMNIST_PIXELS = 28 * 28
QUANTIZED = ("uint8", "int8")


@dataclass
class Pair:
    """The comparison of one model on one runtime, one kind of input."""

    model: str
    runtime: str
    kind: str
    inputs: int = 0
    labels_agree: int = 0
    errors: int = 0
    max_diff: float = 0.0
    differ: int = 0  # scores not exactly equal
    numerics: str = "float"  # quantized, dynamic or float: see numerics_of
    tolerance: float = 0.0
    step: float | None = None  # the output's quantization step, for quantized models
    refused: str | None = None  # the reason both platforms gave for refusing the model
    resized: bool = False  # the model's input is larger than 28x28: images are resized to it
    near_ties: int = 0  # labels that differ on a near tie, on inputs that may differ
    photo_max_diff: float = 0.0  # a 28x28 model's largest score difference on photo inputs
    problems: list[str] = field(default_factory=list)

    @property
    def gated(self) -> bool:
        """Whether scores must agree within the tolerance (identical inputs)."""
        return self.kind not in UNGATED_SCORES and not self.resized


def read_records(path: Path) -> list[dict]:
    """The JSON Lines records of ``path`` (none when it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def refusal(err: Path) -> str:
    """The error line of a failed run (else its last line of stderr), with the model's folder
    left out (it differs between the host and the arm64 root)."""
    text = err.read_text(encoding="utf-8", errors="replace") if err.is_file() else ""
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line]
    line = (errors or lines or ["(nothing on stderr)"])[-1]
    return re.sub(r"\S*/(?=[^/\s]+\.tflite)", "", line)


def numerics_of(manifest: dict) -> tuple[str, float, float | None]:
    """How a model computes (``quantized``, ``dynamic`` or ``float``), its score tolerance and
    its output's quantization step (None for float outputs)."""
    output = manifest.get("output") or {}
    if output.get("dtype") in QUANTIZED and output.get("scale"):
        step = float(output["scale"])
        return "quantized", step + ROUNDING, step
    if (manifest.get("quantization") or {}).get("mode") == "dynamic":
        return "dynamic", DYNAMIC_TOLERANCE, None
    return "float", FLOAT_TOLERANCE, None


def top_two_gap(record: dict) -> float | None:
    """The gap between a record's two best scores (None: frame records carry no top-k)."""
    top = [candidate["score"] for candidate in record.get("top_k") or []]
    return top[0] - top[1] if len(top) >= 2 else None


def margin(pair: Pair, record: dict) -> str:
    """How far apart the host's two best scores are, to tell a near tie from a real
    disagreement (file records carry the top-k; frame records do not)."""
    gap = top_two_gap(record)
    if gap is None:
        return ""
    return f"; host's top two {gap / pair.step:.1f} steps apart" if pair.step \
        else f"; host's top two {gap:.2g} apart"


def compare_one(pair: Pair, host: list[dict], arm: list[dict]) -> None:
    """Compare the records of one run, input by input, into ``pair``."""
    key = "path" if pair.kind == "files" else "frame"
    by_host, by_arm = {r[key]: r for r in host}, {r[key]: r for r in arm}
    if by_host.keys() != by_arm.keys():
        only_host = sorted(map(str, by_host.keys() - by_arm.keys()))[:3]
        only_arm = sorted(map(str, by_arm.keys() - by_host.keys()))[:3]
        pair.problems.append(f"different inputs: host only {only_host}, arm64 only {only_arm}")
    for name in sorted(by_host.keys() & by_arm.keys(), key=str):
        h, a = by_host[name], by_arm[name]
        pair.inputs += 1
        if "error" in h or "error" in a:
            pair.errors += 1
            if h.get("error") != a.get("error"):
                pair.problems.append(f"{name}: error {h.get('error')!r} vs {a.get('error')!r}")
            continue
        photo = pair.kind == "files" and str(name).startswith(PHOTO_INPUTS)
        same = all(h.get(k) == a.get(k) for k in ("label", "class_id", "reason"))
        pair.labels_agree += same
        if not same:
            gap = top_two_gap(h)
            if (pair.resized or photo) and gap is not None and gap <= NEAR_TIE:
                pair.near_ties += 1
                continue
            pair.problems.append(f"{name}: host {h.get('label')} ({h.get('score')}), "
                                 f"arm64 {a.get('label')} ({a.get('score')}){margin(pair, h)}")
            continue
        if (h.get("score") is None) != (a.get("score") is None):
            pair.problems.append(f"{name}: score {h.get('score')} vs {a.get('score')}")
        elif h.get("score") is not None and photo and not pair.resized:
            pair.photo_max_diff = max(pair.photo_max_diff,
                                      abs(float(h["score"]) - float(a["score"])))
        elif h.get("score") is not None:
            diff = abs(float(h["score"]) - float(a["score"]))
            pair.max_diff = max(pair.max_diff, diff)
            pair.differ += diff > 0
            if pair.gated and diff > pair.tolerance:
                pair.problems.append(f"{name}: score {h['score']} vs {a['score']} "
                                     f"(difference {diff:.3g} > {pair.tolerance:.3g})")


def compare_run(pair: Pair, rc_host: Path, rc_arm: Path, manifest: dict) -> None:
    """Compare one run (exit status, refusal or records) of the host with arm64's."""
    if not rc_arm.is_file():
        pair.problems.append("no arm64 run")
        return
    status_host, status_arm = (int(p.read_text().strip() or -1) for p in (rc_host, rc_arm))
    if status_host != status_arm:
        pair.problems.append(f"exit status {status_host} on the host, {status_arm} on arm64: "
                             f"{refusal(rc_arm.with_suffix('.err'))}")
        return
    if status_host == 2:  # the model was refused: the reasons must match
        reasons = [refusal(p.with_suffix(".err")) for p in (rc_host, rc_arm)]
        pair.refused = reasons[0]
        if reasons[0] != reasons[1]:
            pair.problems.append(f"refused for different reasons: {reasons}")
        if ((manifest.get("runtimes") or {}).get(pair.runtime) or {}).get("loads"):
            pair.problems.append("refused, but its manifest records that it loads")
        return
    compare_one(pair, read_records(rc_host.with_suffix(".jsonl")),
                read_records(rc_arm.with_suffix(".jsonl")))
    if pair.inputs == 0:
        pair.problems.append("no records")


def compare_platforms(host: Path, arm: Path, models: Path) -> list[Pair]:
    """Every (runtime, model, kind) run of the host, compared with arm64's."""
    pairs = []
    for runtime_dir in sorted(p for p in host.iterdir() if p.is_dir()):
        for rc_file in sorted(runtime_dir.glob("*.rc")):
            model, kind = rc_file.stem.rsplit(".", 1)
            manifest_path = models / f"{model}.json"
            manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
            pair = Pair(model, runtime_dir.name, kind)
            pair.numerics, pair.tolerance, pair.step = numerics_of(manifest)
            shape = (manifest.get("input") or {}).get("shape") or [1]
            pair.resized = math.prod(shape[1:]) > FMNIST_PIXELS
            compare_run(pair, rc_file, arm / runtime_dir.name / rc_file.name, manifest)
            pairs.append(pair)
    return pairs


def versions_lines(platform: Path) -> list[str]:
    """One line per runtime: its version, numpy, OpenCV and Python, as that platform has them."""
    lines = []
    for path in sorted(platform.glob("*/versions.json")):
        v = json.loads(path.read_text())
        lines.append(f"{path.parent.name} {v.get('runtime_version')}, numpy {v.get('numpy')}, "
                     f"opencv {v.get('opencv')}, Python {v.get('python')} ({v.get('machine')})")
    return lines


def short_reason(refused: str) -> str:
    """The interpreter's own words for refusing a model, first sentence."""
    reason = refused.split("cannot load the model: ", 1)[-1]
    return reason.split(". ", 1)[0][:72]


def format_diff(diff: float, step: float | None) -> str:
    """A score difference, also in quantization steps for a quantized output."""
    return f"{diff:.6f} ({diff / step:.2f} step)" if step else f"{diff:.1e}"


def row(by_kind: dict[str, Pair]) -> str:
    """One model on one runtime: file inputs, the two videos' frames, the largest differences."""
    first = next(iter(by_kind.values()))
    head = f"{first.model:<24} {first.runtime:<15}"
    if all(p.refused is not None for p in by_kind.values()):
        return f"{head} refused on both: {short_reason(first.refused)}"
    files = by_kind.get("files")
    cells = (f"{files.inputs:>5} {files.errors:>4} {files.labels_agree:>5}/{files.inputs - files.errors:<5}"
             if files and files.refused is None else f"{'-':>21}")
    for kind in ("ffv1", "mjpeg"):
        p = by_kind.get(kind)
        cells += f" {p.labels_agree:>3}/{p.inputs:<3}" if p and p.refused is None else f" {'-':>7}"
    # A resized-input model's file and ffv1 scores are reported, not gated: marked *.
    identical = max((p.max_diff for p in by_kind.values() if p.kind not in UNGATED_SCORES),
                    default=0.0)
    figure = format_diff(identical, first.step) + ("*" if first.resized else "")
    mjpeg = by_kind.get("mjpeg")
    return (f"{head}{cells}  {figure:<21} "
            f"{format_diff(mjpeg.max_diff, first.step) if mjpeg else '-'}")


def differ_count(pairs: list[Pair]) -> str:
    """How many of the compared scores differ at all."""
    scored = sum(p.inputs - p.errors for p in pairs)
    return f"{sum(p.differ for p in pairs)} of {scored:,} scores differ at all"


def report(pairs: list[Pair], host: Path, arm: Path, header: list[str],
           timings: list[str], failures: list[str] = ()) -> str:
    """The one-screen report: a row per model and runtime, totals, mismatches, the verdict.
    ``failures`` were found before the comparison (a broken install) and fail it too."""
    lines = list(header)
    for name, platform in (("host ", host), ("arm64", arm)):
        lines.extend(f"  {name} {line}" for line in versions_lines(platform))
    lines.append(f"{'':<40}{'------- files -------':>21} {'ffv1':>7} {'mjpeg':>7}  "
                 f"{'max |score diff|':<21} {'mjpeg |diff|'}")
    lines.append(f"{'model':<24} {'runtime':<15}{'in':>5} {'err':>4} {'labels':>11} "
                 f"{'labels':>7} {'labels':>7}  {'files, ffv1 (gated)':<21} {'(not gated)'}")
    grouped: dict[tuple[str, str], dict[str, Pair]] = {}
    for p in pairs:
        grouped.setdefault((p.runtime, p.model), {})[p.kind] = p
    lines.extend(row(by_kind) for by_kind in grouped.values())
    compared = [p for p in pairs if p.refused is None]
    records = sum(p.inputs for p in compared)
    labelled = sum(p.inputs - p.errors for p in compared)
    agree = sum(p.labels_agree for p in compared)
    refusals = len({(p.model, p.runtime) for p in pairs if p.refused is not None})
    lines.append(f"{len(grouped)} model x runtime pairs ({refusals} refused on both, as their "
                 f"manifests record); {records} records compared: labels agree on "
                 f"{agree}/{labelled}, the same error on {records - labelled}")
    gated = [p for p in compared if p.gated]
    for numerics, limit in (("quantized", "1 step"), ("dynamic", f"{DYNAMIC_TOLERANCE:g}"),
                            ("float", f"{FLOAT_TOLERANCE:g}")):
        group = [p for p in gated if p.numerics == numerics]
        if group:
            worst = max(p.max_diff / p.step if p.step else p.max_diff for p in group)
            figure = f"{worst:.2f} step" if numerics == "quantized" else f"{worst:.1e}"
            lines.append(f"scores on identical inputs, {numerics} models: max difference {figure} "
                         f"(limit {limit}); {differ_count(group)}")
    resized = [p for p in compared if p.resized]
    if resized:
        worst = max(p.max_diff / p.step if p.step else p.max_diff for p in resized)
        lines.append(f"resized-input (photo) models: {sum(p.near_ties for p in resized)} labels "
                     f"differ, each on a near tie (host's top two within {NEAR_TIE:g}); scores "
                     f"not gated (*), max difference {worst:.2f} step")
    small = [p for p in compared if not p.resized and p.kind == "files"]
    if small:
        lines.append(f"28x28 models on the photo inputs (photo path): "
                     f"{sum(p.near_ties for p in small)} labels differ, each on a near tie; "
                     f"scores not gated, max difference {max(p.photo_max_diff for p in small):.2g}")
    if timings:
        lines.append("wall time: " + ", ".join(timings))
    bad = [p for p in pairs if p.problems]
    for p in bad:
        for problem in p.problems[:5]:
            lines.append(f"MISMATCH {p.model} {p.runtime} {p.kind}: {problem}")
        if len(p.problems) > 5:
            lines.append(f"MISMATCH {p.model} {p.runtime} {p.kind}: "
                         f"... {len(p.problems) - 5} more")
    lines.extend(f"MISMATCH {failure}" for failure in failures)
    lines.append("RESULT: " + ("FAIL" if bad or failures or not pairs
                               else "PASS: arm64 agrees with the host"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Compare, print the report (and write it to --report); 0 when every run agrees."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host", type=Path, help="the host's records (one folder per runtime)")
    parser.add_argument("arm64", type=Path, help="arm64's records, laid out the same way")
    parser.add_argument("--models", type=Path, required=True,
                        help="folder of the models' manifests (NAME.json)")
    parser.add_argument("--header", action="append", default=[], metavar="LINE",
                        help="a line to print first (repeatable)")
    parser.add_argument("--timing", action="append", default=[], metavar="TEXT",
                        help="a wall-time figure for the report (repeatable)")
    parser.add_argument("--failure", action="append", default=[], metavar="TEXT",
                        help="a failure found before the comparison, such as a broken install; "
                        "reported as a mismatch (repeatable)")
    parser.add_argument("--report", type=Path, metavar="FILE", help="also write the report here")
    args = parser.parse_args(argv)
    for folder in (args.host, args.arm64, args.models):
        if not folder.is_dir():
            parser.error(f"{folder}: not a folder")
    pairs = compare_platforms(args.host, args.arm64, args.models)
    text = report(pairs, args.host, args.arm64, args.header, args.timing, args.failure)
    print(text)
    if args.report:
        tmp = args.report.with_name(args.report.name + ".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(args.report)
    return 0 if pairs and not args.failure and not any(p.problems for p in pairs) else 1


if __name__ == "__main__":
    sys.exit(main())
