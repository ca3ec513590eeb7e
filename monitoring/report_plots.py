"""The monitoring report's plots: PNG bytes from the report's summary and captures (matplotlib, Agg)."""
import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in CI
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from monitoring import metrics  # noqa: E402
from monitoring.captures import NO_LABEL, CaptureSet  # noqa: E402
from monitoring.estimates import MINIMUM_CHECKS  # noqa: E402
from monitoring.formatting import percent  # noqa: E402

# Below this time span, seconds-resolution timestamps would stack the points in a few columns.
MIN_SPAN_FOR_TIME_AXIS_SECONDS = 120
FIGURE_SIZE = (9, 5)
FIGURE_DPI = 110
CLASS_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")


# --- plots --------------------------------------------------------------------------------------

def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    plt.close(figure)
    return buffer.getvalue()


def plot_confidence_over_time(captures: CaptureSet, threshold: float) -> bytes:
    confidences, predictions = captures.confidences, captures.predictions
    span = captures.times[-1] - captures.times[0]
    use_time = span >= MIN_SPAN_FOR_TIME_AXIS_SECONDS
    x = (captures.times * 1000).astype("datetime64[ms]") if use_time else np.arange(1, len(captures) + 1)
    figure, axes = plt.subplots(figsize=FIGURE_SIZE)
    marker_size = 12 if len(captures) < 2000 else 4
    for index, name in enumerate(captures.class_names):
        chosen = predictions == index
        axes.scatter(x[chosen], confidences[chosen], s=marker_size, alpha=0.6,
                     color=CLASS_COLOURS[index % len(CLASS_COLOURS)], label=f"predicted {name}")
    if captures.true_labels is not None:
        wrong = (captures.true_labels != NO_LABEL) & (captures.true_labels != predictions)
        if wrong.any():
            axes.scatter(x[wrong], confidences[wrong], s=marker_size * 3, marker="x", color="crimson",
                         linewidths=1, label="misclassified (ground truth)")
    below = metrics.share(confidences < threshold)
    axes.axhline(threshold, color="black", linestyle="--", linewidth=1.5, zorder=5,
                 label=f"threshold {threshold:g}: {percent(below)} below")
    axes.set_ylim(1.0 / len(captures.class_names) - 0.02, 1.01)
    axes.set_ylabel("confidence (top class probability)")
    if use_time:
        locator = mdates.AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axes.set_xlabel("inference time (UTC)")
    else:
        axes.set_xlabel(f"inference number, in time order (all within {span:.0f} s)")
    axes.set_title(f"Confidence of {len(captures)} captured inferences")
    axes.legend(loc="lower left", fontsize="small", framealpha=0.9)
    axes.grid(alpha=0.3)
    return _png(figure)


def _zoom_start(summary: dict, lowest: float) -> float:
    """Left edge of the close-up: a little below the lower of the current and recommended
    thresholds, where the decision is made (0.9 and above squeezes into a sliver otherwise)."""
    marks = [summary["threshold"]]
    if summary["certificate"]["certified"]:
        marks.append(summary["certificate"]["threshold"])
    return max(lowest, min(marks) - max(0.02, (1 - min(marks)) * 0.5))


def plot_threshold_curves(summary: dict) -> bytes:
    curves: metrics.ThresholdCurves = summary["_curves"]
    # A threshold between two confidences behaves like the next confidence up, hence steps "pre";
    # above the highest confidence nothing is accepted (coverage 0, precision undefined).
    lowest = 1.0 / len(summary["predicted_counts"])
    thresholds = np.concatenate(([lowest], curves.thresholds, [1.0]))
    coverage = np.concatenate(([1.0], curves.coverage, [0.0]))
    # The point estimate is drawn only where enough checks support it; the band everywhere.
    shown = np.where(summary["_precision_informative"], curves.precision, np.nan)
    precision = np.concatenate(([shown[0]], shown, [np.nan]))
    label_free = summary["_label_free_precision"]
    label_free = np.concatenate(([label_free[0]], label_free, [np.nan]))
    band_low, band_high = summary["_precision_band"]
    band_low = np.concatenate(([band_low[0]], band_low, [np.nan]))
    band_high = np.concatenate(([band_high[0]], band_high, [np.nan]))
    zoom_start = _zoom_start(summary, lowest)
    figure, (full, zoom) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    zoom_coverage = zoom.twinx()  # the close-up gives precision its own scale, coverage the right axis
    full.step(thresholds, coverage, where="pre", color="tab:blue", label="coverage (share accepted)")
    zoom_coverage.step(thresholds, coverage, where="pre", color="tab:blue")
    for axes in (full, zoom):
        axes.step(thresholds, precision, where="pre", color="tab:green",
                  label=f"precision among accepted, audited (where {MINIMUM_CHECKS}+ checks support a point)")
        axes.fill_between(thresholds, band_low, band_high, step="pre", color="tab:green", alpha=0.15,
                          label="its 95% interval")
        axes.step(thresholds, label_free, where="pre", color="tab:purple", linestyle="--", linewidth=1.5,
                  label="precision among accepted, label-free (if calibrated)")
        axes.axhline(summary["target_precision"], color="tab:green", linestyle=":", linewidth=1,
                     label=f"target precision {percent(summary['target_precision'])}")
        axes.axvline(summary["threshold"], color="black", linestyle="--", linewidth=1.2,
                     label=f"current threshold {summary['threshold']:g}")
        cert = summary["certificate"]
        if cert["certified"]:
            axes.axvline(cert["threshold"], color="tab:red", linestyle="-.", linewidth=1.2,
                         label=f"certified {cert['threshold']:g}: routes {percent(cert['routed_share'])}, at least "
                               f"{percent(cert['target_precision'])} right ({percent(cert['confidence'])} confidence)")
        else:
            axes.plot([], [], " ", label=f"not certified yet: {cert['missing_checks']['clean_checks']} more clean audits")
        axes.set_xlabel("confidence threshold (accept when confidence >= threshold)")
        axes.grid(alpha=0.3)
    full.set_xlim(lowest, 1.0)
    full.set_ylim(0, 1.02)
    full.set_ylabel("share")
    full.set_title(f"Coverage (counted) and precision (estimated from {summary['labelled']} labelled)")
    full.legend(loc="lower left", fontsize="small", framealpha=0.9)

    zoom.set_xlim(zoom_start, 1.0)
    in_view = band_low[(thresholds >= zoom_start) & ~np.isnan(band_low)]
    floor = min([summary["target_precision"], *in_view]) if in_view.size else summary["target_precision"]
    zoom.set_ylim(max(0.0, floor - 0.1 * (1 - floor) - 0.002), 1.0 + 0.05 * (1 - floor) + 0.001)
    zoom.set_ylabel("precision among accepted", color="tab:green")
    zoom.tick_params(axis="y", colors="tab:green")
    zoom_coverage.set_ylim(0, 1.02)
    zoom_coverage.set_ylabel("coverage (share accepted)", color="tab:blue")
    zoom_coverage.tick_params(axis="y", colors="tab:blue")
    zoom.set_title(f"Close-up from {zoom_start:.3g}: precision (left scale), coverage (right)")
    return _png(figure)


def plot_reliability(summary: dict) -> bytes:
    calibration: metrics.Calibration = summary["_calibration"]
    edges = calibration.bin_edges
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    filled = calibration.counts > 0
    figure, axes = plt.subplots(figsize=(6.5, 5.5))
    axes.bar(centres[filled], calibration.accuracy[filled], width=widths[filled] * 0.9, color="tab:blue",
             alpha=0.7, edgecolor="black", label="accuracy in bin")
    axes.plot(centres[filled], calibration.mean_confidence[filled], "o", color="tab:orange",
              label="mean confidence in bin")
    axes.plot([edges[0], 1], [edges[0], 1], "k--", linewidth=1, label="perfect calibration")
    for centre, count in zip(centres[filled], calibration.counts[filled]):
        axes.text(centre, 0.02, f"n={count}", ha="center", va="bottom", fontsize="x-small", rotation=90)
    axes.set_xlim(edges[0], 1.0)
    axes.set_ylim(0, 1.08)
    axes.set_xlabel("confidence")
    axes.set_ylabel("accuracy")
    axes.set_title(f"Reliability diagram (ECE {calibration.expected_calibration_error:.3f})")
    axes.legend(loc="upper left", fontsize="small")
    axes.grid(alpha=0.3)
    return _png(figure)


def plot_confusion_matrix(summary: dict, class_names: Sequence[str]) -> bytes:
    counts = np.asarray(summary["confusion_matrix"])
    figure, axes = plt.subplots(figsize=(5.5, 4.8))
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, label="inferences")
    threshold_for_white = counts.max() / 2 if counts.size else 0
    for (row, column), count in np.ndenumerate(counts):
        row_total = counts[row].sum()
        share_text = f"\n{percent(count / row_total)} of true" if row_total else ""
        axes.text(column, row, f"{count}{share_text}", ha="center", va="center", fontsize="small",
                  color="white" if count > threshold_for_white else "black")
    axes.set_xticks(range(len(class_names)), class_names)
    axes.set_yticks(range(len(class_names)), class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"Confusion matrix\n({summary['labelled']} labelled inferences)")
    return _png(figure)




VARIANT_COLOURS = {"champion": "tab:blue", "challenger": "tab:orange"}


def plot_variant_comparison(result: dict) -> bytes:
    """Champion and challenger side by side (monitoring.compare's result): the share each routes at
    the threshold (counted), its precision among those (audited, 95% interval; label-free as a
    diamond), and its coverage at the target precision (95% interval). A figure too thinly checked
    for a point estimate is drawn as its interval alone, hatched."""
    measures = [("routed at the threshold\n(counted)", "coverage", None),
                ("precision among routed\n(audited; label-free ◆)", "precision_accepted", "precision_interval"),
                (f"coverage at {percent(result['target_precision'])}\nprecision (estimated)",
                 "coverage_at_target_precision", "coverage_at_target_precision_interval")]
    figure, axes = plt.subplots(figsize=(FIGURE_SIZE[0], 4.2))
    positions = np.arange(len(measures))
    width = 0.38
    for offset, side in zip((-width / 2, width / 2), ("champion", "challenger")):
        figures = result["variants"][side]
        colour = VARIANT_COLOURS[side]
        for index, (_, key, interval_key) in enumerate(measures):
            value = figures[key]
            interval = figures.get(interval_key) if interval_key else None
            x = positions[index] + offset
            if value is not None:
                axes.bar(x, value, width, color=colour, label=side if index == 0 else None)
                if interval and None not in interval:
                    below, above = max(0.0, value - interval[0]), max(0.0, interval[1] - value)
                    axes.errorbar(x, value, yerr=[[below], [above]], fmt="none", ecolor="#444", elinewidth=1, capsize=4)
                text = percent(value)
            elif interval and None not in interval:
                axes.bar(x, interval[1] - interval[0], width, bottom=interval[0], color="none", edgecolor=colour,
                         hatch="//", linewidth=1)
                text = "interval only"
            else:
                text = "unknown"
            axes.annotate(text, (x, 0.02), ha="center", va="bottom", fontsize=8,
                          color="white" if value else "#444")
        label_free = figures.get("label_free_precision") or {}
        if label_free.get("interval") and None not in label_free["interval"]:
            low, high = label_free["interval"]
            middle = label_free["value"] if label_free["value"] is not None else (low + high) / 2
            axes.errorbar(positions[1] + offset, middle, yerr=[[max(0.0, middle - low)], [max(0.0, high - middle)]],
                          fmt="D" if label_free["value"] is not None else "none", color="tab:purple", markersize=5,
                          capsize=3, elinewidth=1)
    axes.axhline(result["target_precision"], color="tab:red", linestyle="--", linewidth=1,
                 label=f"target precision {percent(result['target_precision'])}")
    axes.set_xticks(positions, [label for label, _, _ in measures])
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("share of the paired drivers")
    axes.set_title(f"Champion and challenger on the same {result['pairs']} drivers ({result['checked']} checked)")
    axes.legend(loc="upper left", fontsize=8)
    return _png(figure)
