"""Monitoring report: are the captured predictions right, and is the confidence threshold right?

Reads SageMaker data-capture JSONL (and, when given, Model Quality Monitor ground truth) from a
local directory or an s3:// prefix, and writes PNG plots, summary.json and one self-contained
report.html (plots embedded) into an output directory.

    python -m monitoring.report --captures artifacts/captures --ground-truth artifacts/ground-truth

From Python (the local run does this):

    result = build_report("artifacts/captures", "artifacts/ground-truth", 0.95, "artifacts/report")
    result.summary["recommended_threshold"], result.html_path, result.plot_paths
"""
import argparse
import base64
import html
import io
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in CI
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import settings  # noqa: E402
from monitoring import metrics, storage  # noqa: E402
from monitoring.captures import (NO_LABEL, NOT_A_VEHICLE_LABEL, CaptureSet, attach_ground_truth,  # noqa: E402
                                 read_captures, read_ground_truth)

logger = logging.getLogger(__name__)

HTML_FILE = "report.html"
SUMMARY_FILE = "summary.json"
PLOT_FILES = {
    "confidence_over_time": "confidence_over_time.png",
    "threshold_curves": "threshold_curves.png",
    "reliability": "reliability.png",
    "confusion_matrix": "confusion_matrix.png",
}
# Below this time span, seconds-resolution timestamps would stack the points in a few columns.
MIN_SPAN_FOR_TIME_AXIS_SECONDS = 120
FIGURE_SIZE = (9, 5)
FIGURE_DPI = 110
PLOT_CAPTIONS = {
    "confidence_over_time": "Each captured inference's confidence against the threshold; red crosses are "
                            "predictions the ground truth says are wrong.",
    "threshold_curves": "For every possible threshold: the share of drivers accepted (coverage) and how many "
                        "of those are classified correctly (precision among accepted).",
    "reliability": "Calibration: within each confidence band, how often the model is right. Bars below the "
                   "diagonal mean the model is over-confident there.",
    "confusion_matrix": "True class against predicted class, over the labelled inferences.",
}
CLASS_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")


class NothingToReport(Exception):
    """No usable capture record was found; the message says where and what was skipped."""


@dataclass(frozen=True)
class ReportResult:
    summary: dict
    html_path: Path
    summary_path: Path
    plot_paths: Dict[str, Path]


def percent(value: Optional[float]) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def display_threshold(threshold: float, next_lower_confidence: float, current: Optional[float] = None) -> float:
    """The shortest decimal <= threshold that still rejects next_lower_confidence, so the stated
    threshold is readable and accepts exactly the same predictions as the exact one. When the
    current threshold already does that, it is the answer: recommending 0.96 where 0.95 accepts
    the very same predictions would read as advice to change something that needs no change."""
    if current is not None and next_lower_confidence < current <= threshold:
        return current
    for decimals in range(2, 10):
        scale = 10 ** decimals
        candidate = math.floor(threshold * scale) / scale
        if candidate > next_lower_confidence:
            return candidate
    return threshold


def minimum_evidence(target_precision: float) -> int:
    """Accepted predictions needed before one error in them can be the (1 - target) share allowed:
    with fewer, 100% and the target are indistinguishable."""
    return math.ceil(1 / (1 - target_precision) - 1e-9) if target_precision < 1 else 0


# --- summary ------------------------------------------------------------------------------------

def _outcome_summary(outcome: metrics.ThresholdOutcome) -> dict:
    return {
        "threshold": outcome.threshold,
        "rejected": outcome.rejected,
        "rejected_share": outcome.rejected_share,
        "rejected_correct_share": outcome.accuracy_rejected,
        "accepted": outcome.accepted,
        "coverage": outcome.coverage,
        "precision_accepted": outcome.precision_accepted,
    }


def _rejection_sentence(prefix: str, outcome: metrics.ThresholdOutcome) -> str:
    if outcome.rejected == 0:
        rejected = "you reject none of the drivers"
    else:
        rejected = (f"you reject {percent(outcome.rejected_share)} of drivers ({outcome.rejected} of "
                    f"{outcome.total}), of whom {percent(outcome.accuracy_rejected)} were classified correctly")
    if outcome.accepted == 0:
        accepted = "and accept none"
    else:
        accepted = (f"and the {outcome.accepted} you accept ({percent(outcome.coverage)} coverage) "
                    f"are correct {percent(outcome.precision_accepted)} of the time")
    return f"{prefix} {rejected}, {accepted}."


def _estimate_sentence(prefix: str, curves: metrics.ThresholdCurves, threshold: float) -> str:
    """What a threshold does, estimated from weighted curves (ground truth from the review loop)."""
    at = np.flatnonzero(curves.thresholds >= threshold - 1e-12)
    if not at.size:
        return f"{prefix} no checked driver would be routed."
    index = int(at[0])
    return (f"{prefix} an estimated {percent(curves.coverage[index])} of drivers are routed without a person, "
            f"{percent(curves.precision[index])} of them right (estimates from the review loop).")


def _loop_summary(captures: CaptureSet, usable: np.ndarray, accepted: np.ndarray, has_label: np.ndarray,
                  correct_all: np.ndarray) -> Tuple[dict, List[str]]:
    """What the people in the loop found: audited acceptances (the precision of routing without a
    person, with its 95% interval) and reviewed rejections."""
    audited, reviewed = has_label & accepted, has_label & ~accepted
    precision = metrics.wilson_interval(int(correct_all[audited].sum()), int(audited.sum()))
    not_vehicle = captures.true_labels == NOT_A_VEHICLE_LABEL
    summary = {
        "audited_acceptances": int(audited.sum()),
        "routed": int(accepted.sum()),
        "audited_precision": precision.share,
        "audited_precision_interval": [precision.low, precision.high],
        "reviewed_rejections": int(reviewed.sum()),
        "reviewed_right": int(correct_all[reviewed].sum()),
        "reviewed_not_a_vehicle": int((reviewed & not_vehicle).sum()),
        "not_a_vehicle_caught": int((reviewed & not_vehicle & ~usable).sum()),
    }
    sentences = []
    if precision.trials:
        sentences.append(
            f"Audits: people checked {precision.trials} of the {summary['routed']} drivers routed without a person; "
            f"{precision.successes} were routed right. Precision of automatic routing: {percent(precision.share)} "
            f"(95% interval {percent(precision.low)} to {percent(precision.high)}).")
    else:
        sentences.append("No routed driver has been audited yet, so the precision of automatic routing is unknown.")
    if summary["reviewed_rejections"]:
        sentences.append(
            f"Reviews: people checked {summary['reviewed_rejections']} drivers the workflow sent to them; the model's "
            f"guess was right for {summary['reviewed_right']}, and {summary['reviewed_not_a_vehicle']} photos showed no "
            f"vehicle ({summary['not_a_vehicle_caught']} of those the unusable-image check had caught).")
    return summary, sentences


def summarise(captures: CaptureSet, threshold: float, target_precision: float,
              audit_rate: Optional[float] = None) -> dict:
    """Every figure of the report, as plain JSON-ready values, plus the sentences that state them.

    With audit_rate (the workflow's auditRate), ground truth is taken to come from the loop: every
    rejected prediction reviewed, routed ones audited at that rate, so an audited prediction counts
    for 1/audit_rate routed ones in the threshold figures.
    """
    confidences, predictions = captures.confidences, captures.predictions
    usable = captures.usable if captures.usable is not None else np.ones(len(captures), dtype=bool)
    below = confidences < threshold
    summary = {
        "records": len(captures),
        "capture_files": captures.files,
        "skipped_capture_lines": dict(captures.skipped),
        "first_inference": datetime.fromtimestamp(captures.times[0], timezone.utc).isoformat(),
        "last_inference": datetime.fromtimestamp(captures.times[-1], timezone.utc).isoformat(),
        "threshold": threshold,
        "target_precision": target_precision,
        "below_threshold": int(below.sum()),
        "share_below_threshold": metrics.share(below),
        "predicted_counts": {name: int((predictions == index).sum())
                             for index, name in enumerate(captures.class_names)},
    }
    first, last = summary["first_inference"][:19] + "Z", summary["last_inference"][:19] + "Z"
    sentences = [
        f"{len(captures)} captured inferences " + (f"at {first}." if first == last else f"from {first} to {last}."),
        f"At the threshold {threshold:g}, {percent(summary['share_below_threshold'])} of them "
        f"({summary['below_threshold']}) fall below it and would be rejected.",
    ]
    summary["unusable"] = int((~usable).sum())
    if summary["unusable"]:
        sentences.append(f"{summary['unusable']} of them ({percent(summary['unusable'] / len(captures))}) were not "
                         "usable photos of a vehicle and went to a person whatever their confidence; the threshold "
                         "figures below leave them out.")
    if captures.skipped:
        sentences.append(f"{captures.skipped_lines} capture lines could not be used and were skipped ("
                         + ", ".join(f"{count} {reason}" for reason, count in captures.skipped.items()) + ").")
    labelled = captures.true_labels is not None and bool((captures.true_labels != NO_LABEL).any())
    summary["labelled"] = int((captures.true_labels != NO_LABEL).sum()) if captures.true_labels is not None else 0
    summary["unlabelled"] = len(captures) - summary["labelled"]
    summary["ground_truth_records"] = captures.ground_truth_records
    summary["skipped_ground_truth_lines"] = dict(captures.ground_truth_skipped)
    if captures.ground_truth_skipped:
        sentences.append(f"{sum(captures.ground_truth_skipped.values())} ground-truth lines could not be "
                         "used and were skipped.")
    if not labelled:
        sentences.append("No ground truth matched these inferences, so whether they are right cannot be "
                         "judged: supply ground truth to see accuracy and a recommended threshold."
                         if captures.true_labels is not None else
                         "No ground truth was given, so whether they are right cannot be judged: supply "
                         "ground truth to see accuracy and a recommended threshold.")
        summary["sentences"] = sentences
        return summary

    all_labelled = captures.true_labels != NO_LABEL
    correct_all = predictions == captures.true_labels
    accepted = usable & (confidences >= threshold)
    loop, loop_sentences = _loop_summary(captures, usable, accepted, all_labelled, correct_all)
    summary["loop"] = loop
    has_label = all_labelled & usable  # a threshold decides only about usable photos
    if not has_label.any():
        sentences.extend(loop_sentences)
        sentences.append("Every labelled inference was of an unusable photo, so no threshold can be judged.")
        summary["sentences"] = sentences
        return summary
    labelled_confidences = confidences[has_label]
    correct = correct_all[has_label]
    weights = (np.where(accepted[has_label], 1.0 / audit_rate, 1.0) if audit_rate else None)
    current = metrics.outcome_at(threshold, labelled_confidences, correct)
    curves = metrics.threshold_curves(labelled_confidences, correct, weights)
    calibration = metrics.calibration(labelled_confidences, correct, len(captures.class_names))
    vehicle = has_label & (captures.true_labels >= 0)
    summary.update({
        "accuracy": metrics.share(correct),
        "accuracy_accepted": current.precision_accepted,
        "accuracy_rejected": current.accuracy_rejected,
        "at_threshold": _outcome_summary(current),
        "expected_calibration_error": calibration.expected_calibration_error,
        "confusion_matrix": metrics.confusion_matrix(
            captures.true_labels[vehicle], predictions[vehicle], len(captures.class_names)).tolist(),
        "audit_rate": audit_rate,
    })
    if summary["unlabelled"]:
        sentences.append(f"{summary['labelled']} of them have ground truth; the {summary['unlabelled']} without "
                         + ("are routed drivers the audits stand for." if audit_rate else
                            "are left out of the figures below."))
    if audit_rate:
        summary["estimated_accuracy"] = float(np.sum(weights * correct) / np.sum(weights))
        sentences.append(f"Ground truth comes from the review loop: every rejected driver reviewed, routed ones audited "
                         f"at {percent(audit_rate)}; each audited driver counts for {1 / audit_rate:g} routed ones in "
                         f"the estimates below.")
        sentences.append(f"Estimated accuracy: {percent(summary['estimated_accuracy'])} (unweighted, on the "
                         f"{summary['labelled']} checked drivers, most of them rejected: {percent(summary['accuracy'])}).")
        sentences.append(_estimate_sentence(f"At {threshold:g}", curves, threshold))
    else:
        sentences.append(f"Accuracy on the {summary['labelled']} labelled inferences: {percent(summary['accuracy'])} "
                         f"(expected calibration error {calibration.expected_calibration_error:.3f}).")
        sentences.append(_rejection_sentence(f"At {threshold:g}", current))
    sentences.extend(loop_sentences)

    best = metrics.recommend_threshold(curves, target_precision)
    if best is None:
        top = int(np.nanargmax(curves.precision))
        summary.update(recommended_threshold=None, recommended=None, coverage_at_target_precision=0.0)
        sentences.append(f"No threshold reaches {percent(target_precision)} precision among accepted on this "
                         f"data: the best is {percent(curves.precision[top])} at "
                         f"{curves.thresholds[top]:g}, accepting {percent(curves.coverage[top])}.")
    else:
        lower = curves.thresholds[best - 1] if best > 0 else 0.0
        recommended_value = display_threshold(float(curves.thresholds[best]), float(lower), threshold)
        recommended = metrics.outcome_at(recommended_value, labelled_confidences, correct)
        summary.update(recommended_threshold=recommended_value, recommended=_outcome_summary(recommended),
                       coverage_at_target_precision=float(curves.coverage[best]))
        sentences.append(f"Coverage at {percent(target_precision)} precision (threshold-free: the largest share of "
                         f"the most confident drivers routed with at most {percent(1 - target_precision)} wrong): "
                         f"{percent(curves.coverage[best])}.")
        prefix = (f"At {recommended_value:g}, the lowest threshold whose precision among accepted is at least "
                  f"{percent(target_precision)},")
        sentences.append(_estimate_sentence(prefix, curves, recommended_value) if audit_rate else
                         _rejection_sentence(prefix, recommended).replace(" you reject", " you would reject", 1))
        if audit_rate:  # audited and reviewed drivers above it stand for different numbers of drivers
            above = labelled_confidences >= recommended_value
            sure = metrics.weighted_wilson_interval(correct[above], weights[above])
            basis = " (weighted as in the estimates: the interval is that of a smaller effective sample)"
        else:
            sure, basis = metrics.wilson_interval(recommended.accepted_correct, recommended.accepted), ""
        summary["recommended_precision_interval"] = [sure.low, sure.high]
        sentences.append(f"How sure: that precision rests on {sure.trials} checked drivers above the threshold{basis}; "
                         f"its 95% interval is {percent(sure.low)} to {percent(sure.high)}"
                         + (", so the target is met with confidence." if sure.low >= target_precision else
                            ", which still admits less than the target: more audits (or labels) narrow it."))
        needed = minimum_evidence(target_precision)
        summary["recommendation_evidence_sufficient"] = recommended.accepted >= needed
        if not summary["recommendation_evidence_sufficient"]:
            sentences.append(f"Caution: that recommendation rests on only {recommended.accepted} accepted "
                             f"inferences; at least {needed} are needed before a precision of "
                             f"{percent(target_precision)} can be told apart from a perfect score.")
    summary["sentences"] = sentences
    summary["_curves"], summary["_calibration"] = curves, calibration  # for the plots; dropped from JSON
    return summary


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
    if summary.get("recommended_threshold") is not None:
        marks.append(summary["recommended_threshold"])
    return max(lowest, min(marks) - max(0.02, (1 - min(marks)) * 0.5))


def plot_threshold_curves(summary: dict) -> bytes:
    curves: metrics.ThresholdCurves = summary["_curves"]
    # A threshold between two confidences behaves like the next confidence up, hence steps "pre";
    # above the highest confidence nothing is accepted (coverage 0, precision undefined).
    lowest = 1.0 / len(summary["predicted_counts"])
    thresholds = np.concatenate(([lowest], curves.thresholds, [1.0]))
    coverage = np.concatenate(([1.0], curves.coverage, [0.0]))
    precision = np.concatenate(([curves.precision[0]], curves.precision, [np.nan]))
    zoom_start = _zoom_start(summary, lowest)
    figure, (full, zoom) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    zoom_coverage = zoom.twinx()  # the close-up gives precision its own scale, coverage the right axis
    full.step(thresholds, coverage, where="pre", color="tab:blue", label="coverage (share accepted)")
    zoom_coverage.step(thresholds, coverage, where="pre", color="tab:blue")
    for axes in (full, zoom):
        axes.step(thresholds, precision, where="pre", color="tab:green", label="precision among accepted")
        axes.axhline(summary["target_precision"], color="tab:green", linestyle=":", linewidth=1,
                     label=f"target precision {percent(summary['target_precision'])}")
        axes.axvline(summary["threshold"], color="black", linestyle="--", linewidth=1.2,
                     label=f"current threshold {summary['threshold']:g}")
        if summary.get("recommended_threshold") is not None:
            axes.axvline(summary["recommended_threshold"], color="tab:red", linestyle="-.", linewidth=1.2,
                         label=f"recommended {summary['recommended_threshold']:g} "
                               f"(coverage {percent(summary['coverage_at_target_precision'])})")
        axes.set_xlabel("confidence threshold (accept when confidence >= threshold)")
        axes.grid(alpha=0.3)
    full.set_xlim(lowest, 1.0)
    full.set_ylim(0, 1.02)
    full.set_ylabel("share")
    full.set_title(f"Coverage and precision over every threshold ({summary['labelled']} labelled)")
    full.legend(loc="lower left", fontsize="small", framealpha=0.9)

    zoom.set_xlim(zoom_start, 1.0)
    in_view = precision[(thresholds >= zoom_start) & ~np.isnan(precision)]
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


# --- output -------------------------------------------------------------------------------------

def render_html(summary: dict, images: Dict[str, bytes], sources: Dict[str, str]) -> str:
    """One page, no external files: plots are embedded as base64 data URIs."""
    rows = [("Captured inferences", summary["records"]), ("Capture files", summary["capture_files"]),
            ("Threshold", f"{summary['threshold']:g}"),
            ("Below threshold", f"{summary['below_threshold']} ({percent(summary['share_below_threshold'])})"),
            ("Skipped capture lines", sum(summary["skipped_capture_lines"].values()))]
    if "accuracy" in summary:
        # With audits the checked drivers are mostly rejected ones: the plain counts say so, and the
        # weighted estimate stands beside them.
        checked = " (checked drivers, unweighted)" if summary.get("audit_rate") else ""
        rows += [("Labelled inferences", summary["labelled"]), (f"Accuracy{checked}", percent(summary["accuracy"])),
                 (f"Accuracy of accepted{checked}", percent(summary["accuracy_accepted"])),
                 (f"Accuracy of rejected{checked}", percent(summary["accuracy_rejected"]))]
        if "estimated_accuracy" in summary:
            rows.append(("Estimated accuracy (weighted by the audit rate)", percent(summary["estimated_accuracy"])))
        rows += [("Expected calibration error", f"{summary['expected_calibration_error']:.4f}"),
                 ("Target precision among accepted", percent(summary["target_precision"])),
                 ("Recommended threshold", "none reaches the target" if summary["recommended_threshold"] is None
                  else f"{summary['recommended_threshold']:g} "
                       f"(coverage {percent(summary.get('coverage_at_target_precision'))})"),
                 ("Coverage at the target precision", percent(summary.get("coverage_at_target_precision")))]
        loop = summary["loop"]
        low, high = loop["audited_precision_interval"]
        rows += [("Not usable photos (to a person)", summary["unusable"]),
                 ("Audited acceptances", f"{loop['audited_acceptances']} of {loop['routed']} routed"),
                 ("Precision of automatic routing (audits)",
                  f"{percent(loop['audited_precision'])} (95% interval {percent(low)} to {percent(high)})"),
                 ("Reviewed rejections", f"{loop['reviewed_rejections']} ({loop['reviewed_right']} guessed right, "
                                         f"{loop['reviewed_not_a_vehicle']} not a vehicle)")]
    table = "\n".join(f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}</td></tr>"
                      for name, value in rows)
    sentences = "\n".join(f"<li>{html.escape(sentence)}</li>" for sentence in summary["sentences"])
    figures = "\n".join(
        f'<figure><img alt="{html.escape(PLOT_CAPTIONS[name])}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"><figcaption>{html.escape(PLOT_CAPTIONS[name])}'
        f'</figcaption></figure>' for name, png in images.items())
    source_text = ", ".join(f"{name}: {location}" for name, location in sources.items() if location)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Vehicle classifier monitoring report</title>
<style>
body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
th {{ background: #f4f4f4; font-weight: normal; }}
li {{ margin: 0.4em 0; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
.meta, figcaption {{ color: #666; font-size: small; }}
figure {{ margin: 1.5em 0; }}
</style></head><body>
<h1>Vehicle classifier monitoring report</h1>
<p class="meta">Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {html.escape(source_text)}.</p>
<h2>In plain words</h2>
<ul>
{sentences}
</ul>
<h2>Figures</h2>
<table>
{table}
</table>
{figures}
</body></html>
"""


def analyse(captures: storage.Location, ground_truth: Optional[storage.Location] = None,
            threshold: float = settings.DEFAULT_THRESHOLD,
            target_precision: float = metrics.DEFAULT_TARGET_PRECISION,
            class_names: Sequence[str] = settings.CLASS_NAMES, s3_client=None,
            progress: bool = False, audit_rate: Optional[float] = None) -> Tuple[CaptureSet, dict]:
    """Read captures (and ground truth) and work out every figure, without plotting or writing.

    Returns the joined captures and the summary (keys starting with "_" hold arrays for the
    plots). Raises NothingToReport when no usable capture record exists, and
    storage.LocationNotFound when a local directory is missing.
    """
    capture_set = read_captures(captures, class_names, s3_client, progress)
    if not len(capture_set):
        skipped = f" ({capture_set.skipped_lines} unusable lines skipped)" if capture_set.skipped else ""
        raise NothingToReport(f"No captured inferences found below {captures}{skipped}: "
                              f"{capture_set.files} capture files read.")
    if ground_truth is not None:
        labels, skipped = read_ground_truth(ground_truth, class_names, s3_client)
        attach_ground_truth(capture_set, labels, skipped)
    return capture_set, summarise(capture_set, threshold, target_precision, audit_rate)


def build_report(captures: storage.Location, ground_truth: Optional[storage.Location] = None,
                 threshold: float = settings.DEFAULT_THRESHOLD,
                 output_dir: Union[str, Path] = settings.LOCAL_REPORT_DIR,
                 target_precision: float = metrics.DEFAULT_TARGET_PRECISION,
                 class_names: Sequence[str] = settings.CLASS_NAMES, s3_client=None,
                 progress: bool = False, audit_rate: Optional[float] = None) -> ReportResult:
    """Read captures (and ground truth), write the plots, summary.json and report.html.

    captures / ground_truth: a local directory or s3://bucket/prefix (searched recursively for
    .jsonl). Raises what analyse() raises; writes nothing then.
    """
    started = time.perf_counter()
    capture_set, summary = analyse(captures, ground_truth, threshold, target_precision, class_names,
                                   s3_client, progress, audit_rate)

    images = {"confidence_over_time": plot_confidence_over_time(capture_set, threshold)}
    if "accuracy" in summary:
        images["threshold_curves"] = plot_threshold_curves(summary)
        images["reliability"] = plot_reliability(summary)
        images["confusion_matrix"] = plot_confusion_matrix(summary, class_names)
    summary = {key: value for key, value in summary.items() if not key.startswith("_")}
    summary["report_seconds"] = round(time.perf_counter() - started, 3)

    output_dir = Path(output_dir)
    plot_paths = {}
    for name, png in images.items():
        plot_paths[name] = output_dir / PLOT_FILES[name]
        storage.write_atomically(plot_paths[name], png)
    sources = {"captures": str(captures), "ground truth": str(ground_truth) if ground_truth else ""}
    html_path, summary_path = output_dir / HTML_FILE, output_dir / SUMMARY_FILE
    storage.write_atomically(html_path, render_html(summary, images, sources).encode("utf-8"))
    summary["plots"] = {name: str(path) for name, path in plot_paths.items()}
    summary["html"] = str(html_path)
    storage.write_atomically(summary_path, json.dumps(summary, indent=2).encode("utf-8"))
    return ReportResult(summary, html_path, summary_path, plot_paths)


# --- command line -------------------------------------------------------------------------------

def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.report",
        description="Report on captured inferences: confidence against the threshold over time and, with "
                    "ground truth, accuracy on both sides of the threshold, coverage/precision curves, "
                    "calibration, a confusion matrix and a recommended threshold. Writes PNG plots, "
                    "summary.json and a self-contained report.html.")
    parser.add_argument("--captures", default=str(settings.LOCAL_CAPTURE_DIR), metavar="DIR_OR_S3_URI",
                        help="SageMaker data-capture JSONL below this directory or s3://bucket/prefix, "
                             "searched recursively (default: %(default)s)")
    parser.add_argument("--ground-truth", default=None, metavar="DIR_OR_S3_URI",
                        help="Model Quality Monitor ground-truth JSONL below this directory or "
                             "s3://bucket/prefix (default: none; the report then cannot judge correctness)")
    parser.add_argument("--threshold", type=_fraction, default=settings.DEFAULT_THRESHOLD,
                        help="the confidence threshold the workflow uses (default: %(default)s)")
    parser.add_argument("--audit-rate", type=_fraction, default=None,
                        help="the workflow's auditRate, when the ground truth comes from its review loop (all rejected "
                             "drivers reviewed, routed ones audited at this rate): audited drivers then count for "
                             "1/rate routed ones in the threshold figures (default: ground truth covers all alike)")
    parser.add_argument("--target-precision", type=_fraction, default=metrics.DEFAULT_TARGET_PRECISION,
                        help="precision among accepted the recommended threshold must reach "
                             "(default: %(default)s)")
    parser.add_argument("--output-dir", type=Path, default=settings.LOCAL_REPORT_DIR,
                        help="where the PNGs, summary.json and report.html go (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        result = build_report(args.captures, args.ground_truth, args.threshold, args.output_dir,
                              args.target_precision, progress=not args.no_progress, audit_rate=args.audit_rate)
    except NothingToReport as error:
        print(f"Nothing to report: {error}", file=sys.stderr)
        return 1
    except (storage.LocationNotFound, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # boto3 errors: say which, not a traceback
        if type(error).__module__.startswith(("botocore", "boto3")):
            print(f"error: could not read from S3: {error}", file=sys.stderr)
            return 2
        raise
    for sentence in result.summary["sentences"]:
        print(sentence)
    print(f"Report: {result.html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
