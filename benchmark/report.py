"""What ``fashion-bench`` writes: the markdown table of every row, the end-to-end figures below
it, the MLP and CNN side by side, and the accuracy plots."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.stats import REPEATS, median_of
from benchmark.worker import BATCH
from edge_runtime.media.atomic_files import atomic_path, write_text_atomic

ARCHITECTURES = ("mlp", "cnn")  # the 28x28 models: models/fashion_ARCH_VARIANT.tflite


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
            ("not converted from the Keras row's model", "-", "-") if "vs_keras_skipped" in r
            else ("-", "-", "-") if r["backend"] != "keras" else ("-", "+0.0", "1.0000"))
        photo = f"{r['photo_top1']:.1%}" if "photo_top1" in r else "-"
        classify = f"{r['classify_us']['p50']:.0f}" if "classify_us" in r else "-"
        classify_batch = (f"{r['classify_batch_ips']['median']:,.0f}"
                          if "classify_batch_ips" in r else "-")
        lines.append(
            f"| {r['name']} | {r['accuracy']:.2%} | {drop} | {worst} | {agreement} "
            f"| {r['size_kb']:.0f} | {r['load_ms']['median']:.1f} "
            f"| {median_of(r, 'cold', 'cold_start_s'):.2f} "
            f"| {median_of(r, 'cold', 'peak_rss_mib'):.0f} "
            f"| {r['latency_us']['p50']:.1f} / {r['latency_us']['p99']:.1f} | {classify} "
            f"| {r['batch_ips']['median']:,.0f} | {classify_batch} | {photo} |")
    return "\n".join(lines)



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
            f"{median_of(cnn, 'cold', 'peak_rss_mib'):.0f} vs "
            f"{median_of(mlp, 'cold', 'peak_rss_mib'):.0f} MiB; "
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
                  f"(read, ROI, featureless check, letterbox, classify, smooth; one thread) p50 "
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
                         f"top-1 labels agree on {mp['top1_agreement']:.1%} of the photos as "
                         f"they are (MediaPipe stretches them), "
                         f"{mp['top1_agreement_letterboxed']:.1%} letterboxed first")
    return "\n".join(lines) + "\n"



def markdown(payload: dict) -> str:
    """``results.md``: the machine, the table, the figures below it, the MLP and CNN side by
    side, and the limits' findings where the run was checked."""
    info, rows = payload["machine"], payload["rows"]
    libraries = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    legacy = (" (tflite-runtime rows: its own environment, see results.json)"
              if any(r["backend"] == "tflite-runtime" for r in rows) else "")
    repeats = payload.get("effort", {}).get("repeats", REPEATS)
    text = (f"Benchmark {info['date'][:10]} on {info['cpu']}, {info['cores']} cores, Python "
            f"{info['python']}, {libraries}{legacy}; one interpreter thread; medians of "
            f"{repeats} runs. Interpreter: set_tensor + invoke + get_tensor on the bare "
            f"interpreter; classify: Classifier.classify on a 28x28 image, the whole call; "
            f"batch: {BATCH} images per invoke.\n\n")
    text += build_table(rows) + "\n\n" + figures_text(payload["cli"], payload["live"],
                                                      payload["photo_model"])
    comparison = compare_architectures(rows)
    if comparison:
        text += "\nMLP or CNN:\n" + "\n".join(comparison) + "\n"
    if payload.get("checks"):
        text += f"\nChecked against {payload.get('limits', 'limits')}:\n"
        text += "".join(f"- {'PASS' if c['pass'] else 'FAIL'}: {c['check']}\n"
                        for c in payload["checks"])
    return text


def write_results(payload: dict, out: Path) -> list[str]:
    """``results.json``, ``results.md`` and the plots in ``out``, each written atomically;
    returns the names written."""
    write_text_atomic(out / "results.json", json.dumps(payload, indent=2) + "\n")
    write_text_atomic(out / "results.md", markdown(payload))
    return ["results.json", "results.md", *plot(payload["rows"], out)]
