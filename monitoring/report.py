"""Monitoring report: are the captured predictions right, and is the confidence threshold right?

Reads SageMaker data-capture JSONL (and, when given, Model Quality Monitor ground truth) from a
local directory or an s3:// prefix, and writes PNG plots, summary.json and one self-contained
report.html (plots embedded) into an output directory.

    python -m monitoring.report --captures artifacts/captures --ground-truth artifacts/ground-truth

From Python (the local run does this):

    result = build_report("artifacts/captures", "artifacts/ground-truth", 0.95, "artifacts/report")
    result.summary["certificate"], result.html_path, result.plot_paths

It opens with the operator's answer: is the promise (at least the target share of routed drivers
right, with 95% confidence) certified, at which threshold and for what share of drivers, and if
not, what is missing (monitoring/certificate.py). The certificate is written beside the report as
certificate.json, the file `python -m monitoring.certify` writes, and its looks carry on from the
one already there. No threshold is recommended that is not certified.
"""
import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

import settings
from monitoring import certificate, certify, compare, metrics, storage
from monitoring.captures import (NO_LABEL, NOT_A_VEHICLE_LABEL, CaptureSet, attach_ground_truth, captured_variants,
                                 read_captures)
from monitoring.estimates import Estimate, Inference, ThresholdEstimates
from monitoring.formatting import audited_share, coverage_share, fraction, percent, percent_interval
from monitoring.ground_truth import read_ground_truth
from monitoring.report_label_free import label_free_figures
from monitoring.report_page import render_html
from monitoring.report_plots import (plot_confidence_over_time, plot_confusion_matrix, plot_reliability,
                                     plot_threshold_curves)

logger = logging.getLogger(__name__)

HTML_FILE = "report.html"
SUMMARY_FILE = "summary.json"
CERTIFICATE_FILE = certify.CERTIFICATE_FILE
PLOT_FILES = {
    "confidence_over_time": "confidence_over_time.png",
    "threshold_curves": "threshold_curves.png",
    "reliability": "reliability.png",
    "confusion_matrix": "confusion_matrix.png",
}


class NothingToReport(Exception):
    """No usable capture record was found; the message says where and what was skipped."""


class NothingToCompare(ValueError):
    """A comparison was asked for, but no inference below the captures was answered by both variants."""


@dataclass(frozen=True)
class ReportResult:
    summary: dict
    html_path: Path
    summary_path: Path
    plot_paths: Dict[str, Path]


# --- summary ------------------------------------------------------------------------------------

def _at(estimates: ThresholdEstimates, threshold: float) -> dict:
    """What a threshold does: coverage counted, precision among accepted estimated by stratum."""
    precision = estimates.precision(threshold)
    accepted_stratum, rejected_stratum = estimates.strata(threshold)
    return {
        "threshold": threshold,
        "usable": estimates.total,
        "accepted": estimates.accepted(threshold),
        "coverage": estimates.coverage(threshold),
        "rejected": estimates.total - estimates.accepted(threshold),
        # The point only where the checks support it (estimates.MINIMUM_CHECKS); the text says why not.
        "precision_accepted": precision.shown_value,
        "precision_interval": precision.interval,
        "precision_evidence": precision.evidence(),
        "precision_text": audited_share(precision),
        # Labelled drivers among the accepted: audited (routed by the workflow) and reviewed ones.
        "audited": accepted_stratum.labelled,
        "reviewed_accepted": rejected_stratum.labelled,
    }


def _threshold_sentence(prefix: str, at: dict, label_free_text: Optional[str] = None) -> str:
    if not at["accepted"]:
        return f"{prefix} no usable driver would be routed."
    beside = f"; label-free, {label_free_text}" if label_free_text else ""
    return (f"{prefix} {percent(at['coverage'])} of the usable drivers are routed without a person ({at['accepted']} of "
            f"{at['usable']}, counted). Right among them, audited: {at['precision_text']}{beside}.")


def _loop_summary(captures: CaptureSet, usable: np.ndarray, accepted: np.ndarray, has_label: np.ndarray,
                  correct_all: np.ndarray) -> Tuple[dict, List[str]]:
    """What the people in the loop found: audited acceptances and reviewed rejections, as counts."""
    audited, reviewed = has_label & accepted, has_label & ~accepted
    not_vehicle = captures.true_labels == NOT_A_VEHICLE_LABEL
    summary = {
        "audited_acceptances": int(audited.sum()),
        "audited_right": int(correct_all[audited].sum()),
        "routed": int(accepted.sum()),
        "reviewed_rejections": int(reviewed.sum()),
        "reviewed_right": int(correct_all[reviewed].sum()),
        "reviewed_not_a_vehicle": int((reviewed & not_vehicle).sum()),
        "not_a_vehicle_caught": int((reviewed & not_vehicle & ~usable).sum()),
    }
    sentences = []
    if summary["audited_acceptances"]:
        sentences.append(f"Audits: people checked {summary['audited_acceptances']} of the {summary['routed']} drivers "
                         f"routed without a person; {summary['audited_right']} were routed right.")
    else:
        sentences.append("No routed driver has been audited yet, so the precision of automatic routing is unknown.")
    if summary["reviewed_rejections"]:
        sentences.append(
            f"Reviews: people checked {summary['reviewed_rejections']} drivers the workflow sent to them; the model's "
            f"guess was right for {summary['reviewed_right']}, and {summary['reviewed_not_a_vehicle']} photos showed no "
            f"vehicle ({summary['not_a_vehicle_caught']} of those the unusable-image check had caught).")
    return summary, sentences


def _curves(estimates: ThresholdEstimates) -> Tuple[metrics.ThresholdCurves, np.ndarray, np.ndarray, np.ndarray]:
    """Coverage (counted) and estimated precision, with its interval and whether its point is
    informative, at every labelled confidence."""
    thresholds = np.asarray(estimates.candidates, dtype=float)
    coverage = np.asarray([estimates.coverage(t) for t in thresholds], dtype=float)
    bounds = [estimates.precision(t) for t in thresholds]
    nan = float("nan")
    precision = np.asarray([nan if e.value is None else e.value for e in bounds], dtype=float)
    low = np.asarray([nan if e.low is None else e.low for e in bounds], dtype=float)
    high = np.asarray([nan if e.high is None else e.high for e in bounds], dtype=float)
    informative = np.asarray([e.informative for e in bounds], dtype=bool)
    return metrics.ThresholdCurves(thresholds, coverage, precision), low, high, informative


def _label_free_curve(usable_confidences: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The label-free precision among accepted at each threshold: the mean confidence of the usable
    drivers at or above it (NaN where none is)."""
    ordered = np.sort(usable_confidences)
    from_here = np.concatenate((np.cumsum(ordered[::-1])[::-1], [0.0]))
    start = np.searchsorted(ordered, thresholds - 1e-12, side="left")
    count = len(ordered) - start
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, from_here[start] / np.maximum(count, 1), np.nan)


def _certificate(captures: CaptureSet, usable: np.ndarray, threshold: float, target_precision: float,
                 certifying: Optional[dict]) -> dict:
    """The certificate over these drivers (monitoring/certify.py's document); certifying holds the
    model version, the previous certificate and the sources, when the caller knows them."""
    labelled = (captures.true_labels != NO_LABEL) if captures.true_labels is not None else np.zeros(len(captures), bool)
    wrong = labelled & (captures.predictions != (captures.true_labels if captures.true_labels is not None else -1))
    tallies = [certificate.Tally(float(confidence), 1, int(checked), int(mistaken), bool(confidence >= threshold))
               for confidence, checked, mistaken in zip(captures.confidences[usable], labelled[usable], wrong[usable])]
    times = [datetime.fromtimestamp(moment, timezone.utc) for moment in captures.times]
    certifying = certifying or {}
    return certify.certify_tallies(tallies, times, threshold, target_precision, certifying.get("confidence",
                                   certificate.DEFAULT_CONFIDENCE), certifying.get("model_version"),
                                   certifying.get("previous"), certifying.get("sources"))


def summarise(captures: CaptureSet, threshold: float, target_precision: float,
              certifying: Optional[dict] = None) -> dict:
    """Every figure of the report, as plain JSON-ready values, plus the sentences that state them.

    threshold is the one the workflow used while these inferences were captured: it splits them
    into the routed stratum (a random share audited) and the rejected one (reviewed), which the
    estimates keep apart (monitoring/estimates.py). Coverage is counted over every usable
    inference, labelled or not; only precision among accepted is estimated.
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
    summary["certificate"] = _certificate(captures, usable, threshold, target_precision, certifying)
    # The operator's answer first, before any detail.
    sentences.insert(0, summary["certificate"]["answer"])
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
                         "checked: supply ground truth to see audited accuracy and a certified threshold."
                         if captures.true_labels is not None else
                         "No ground truth was given, so whether they are right cannot be checked: supply "
                         "ground truth to see audited accuracy and a certified threshold.")
        summary["label_free"], label_free_sentences = label_free_figures(confidences, usable, threshold)
        sentences.extend(label_free_sentences)
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
    estimates = ThresholdEstimates(
        [Inference(float(confidence), bool(right) if labelled_one else None)
         for confidence, right, labelled_one in zip(confidences[usable], correct_all[usable], all_labelled[usable])],
        threshold)
    correct = correct_all[has_label]
    calibration = metrics.calibration(confidences[has_label], correct, len(captures.class_names))
    vehicle = has_label & (captures.true_labels >= 0)
    accuracy = estimates.precision(0.0)
    at_threshold = _at(estimates, threshold)
    label_free, calibration_sentences = label_free_figures(confidences, usable, threshold, correct_all, all_labelled)
    summary.update({
        "accuracy": metrics.share(correct),
        "checked_usable": int(has_label.sum()),
        "checked_usable_right": int(correct.sum()),
        "estimated_accuracy": accuracy.shown_value,
        "estimated_accuracy_interval": accuracy.interval,
        "estimated_accuracy_evidence": accuracy.evidence(),
        "estimated_accuracy_text": audited_share(accuracy),
        "label_free": label_free,
        "at_threshold": at_threshold,
        "expected_calibration_error": calibration.expected_calibration_error,
        "confusion_matrix": metrics.confusion_matrix(
            captures.true_labels[vehicle], predictions[vehicle], len(captures.class_names)).tolist(),
    })
    if summary["unlabelled"]:
        sentences.append(f"{summary['labelled']} of them have ground truth. Coverage counts all "
                         f"{estimates.total} usable ones; precision is estimated stratum by stratum: routed drivers "
                         f"from the audited ones, each standing for routed / audited drivers, rejected ones from "
                         f"the reviewed ones.")
    sentences.append(f"Accuracy over the usable drivers, audited: {summary['estimated_accuracy_text']}; label-free, "
                     f"{label_free['accuracy_text']}. (The checked drivers alone, most of them sent to a person, "
                     f"were right on {summary['checked_usable_right']} of {summary['checked_usable']}.)")
    sentences.append(_threshold_sentence(f"At {threshold:g},", at_threshold, label_free["precision_text"]))
    sentences.extend(calibration_sentences)
    sentences.extend(loop_sentences)

    curves, low, high, informative = _curves(estimates)
    _, coverage = estimates.coverage_at_target(target_precision)
    summary["coverage_at_target_precision"] = coverage.shown_value
    summary["coverage_at_target_precision_interval"] = coverage.interval
    summary["coverage_at_target_precision_evidence"] = coverage.evidence()
    summary["coverage_at_target_precision_text"] = coverage_share(coverage)
    # An estimate, not advice: the certificate (the first sentence) is the only threshold offered.
    sentences.append(f"Coverage at {percent(target_precision)} precision, estimated (threshold-free: the largest "
                     f"share of the most confident usable drivers with at most {percent(1 - target_precision)} "
                     f"wrong): {coverage_share(coverage)}.")
    summary["sentences"] = sentences
    # For the plots; dropped from JSON.
    summary["_curves"], summary["_precision_band"], summary["_calibration"] = curves, (low, high), calibration
    summary["_precision_informative"] = informative
    summary["_label_free_precision"] = _label_free_curve(confidences[usable], curves.thresholds)
    return summary


def analyse(captures: storage.Location, ground_truth: Optional[storage.Location] = None,
            threshold: float = settings.DEFAULT_THRESHOLD,
            target_precision: float = metrics.DEFAULT_TARGET_PRECISION,
            class_names: Sequence[str] = settings.CLASS_NAMES, s3_client=None,
            progress: bool = False, variant: Optional[str] = None,
            certifying: Optional[dict] = None) -> Tuple[CaptureSet, dict]:
    """Read captures (and ground truth) and work out every figure, without plotting or writing.

    Returns the joined captures and the summary (keys starting with "_" hold arrays for the
    plots). variant limits it to one variant's capture folder. Raises NothingToReport when no usable
    capture record exists, and storage.LocationNotFound when a local directory is missing.
    """
    capture_set = read_captures(captures, class_names, s3_client, progress, variant)
    if not len(capture_set):
        skipped = f" ({capture_set.skipped_lines} unusable lines skipped)" if capture_set.skipped else ""
        of = f" of variant {variant}" if variant else ""
        raise NothingToReport(f"No captured inferences{of} found below {captures}{skipped}: "
                              f"{capture_set.files} capture files read.")
    if ground_truth is not None:
        labels, skipped = read_ground_truth(ground_truth, class_names, s3_client)
        attach_ground_truth(capture_set, labels, skipped)
    return capture_set, summarise(capture_set, threshold, target_precision, certifying)


def build_report(captures: storage.Location, ground_truth: Optional[storage.Location] = None,
                 threshold: float = settings.DEFAULT_THRESHOLD,
                 output_dir: Union[str, Path] = settings.LOCAL_REPORT_DIR,
                 target_precision: float = metrics.DEFAULT_TARGET_PRECISION,
                 class_names: Sequence[str] = settings.CLASS_NAMES, s3_client=None,
                 progress: bool = False, champion: str = settings.DEFAULT_VARIANT_NAME,
                 challenger: str = settings.CHALLENGER_VARIANT_NAME, compare_variants: Optional[bool] = None,
                 exclude_manifest: Optional[storage.Location] = None,
                 model_version: Optional[str] = None, carry_looks: bool = True) -> ReportResult:
    """Read captures (and ground truth), write the plots, summary.json and report.html.

    captures / ground_truth: a local directory or s3://bucket/prefix (searched recursively for
    .jsonl). When a challenger is captured beside the champion (a shadow variant), the report is
    the champion's, and a side-by-side section compares the two (compare_variants None: whenever
    both are captured; True: required, NothingToCompare without pairs; False: never).
    exclude_manifest: the challenger's dataset manifest, whose trained-on photos never count.
    model_version: the model the captures come from, named in the certificate (certificate.json,
    whose looks carry on from the one already in output_dir, unless carry_looks is False: the
    captures are a pile of their own, as each offline run's are).
    Raises what analyse() raises; writes nothing then.
    """
    started = time.perf_counter()
    variants = captured_variants(captures, s3_client)
    shadowed = challenger in variants and len(variants) > 1
    output_dir = Path(output_dir)
    variant = champion if shadowed or compare_variants else None
    previous = certify.read_previous(str(output_dir / CERTIFICATE_FILE)) if carry_looks else None
    certifying = {"model_version": model_version, "previous": previous,
                  "sources": {"captures": str(captures), "ground_truth": str(ground_truth) if ground_truth else None,
                              "variant": variant}}
    capture_set, summary = analyse(captures, ground_truth, threshold, target_precision, class_names,
                                   s3_client, progress, variant=variant, certifying=certifying)
    comparison = None
    if compare_variants or (compare_variants is None and shadowed):
        comparison = _comparison(captures, capture_set.labels, champion, challenger, threshold, target_precision,
                                 exclude_manifest, s3_client)
        summary["comparison"] = comparison.result
        summary["sentences"].append(f"Champion ({champion}) against challenger ({challenger}) on the same "
                                    f"{comparison.result['pairs']} drivers: {comparison.result['verdict']}.")

    images = {"confidence_over_time": plot_confidence_over_time(capture_set, threshold)}
    if "accuracy" in summary:
        images["threshold_curves"] = plot_threshold_curves(summary)
        images["reliability"] = plot_reliability(summary)
        images["confusion_matrix"] = plot_confusion_matrix(summary, class_names)
    summary = {key: value for key, value in summary.items() if not key.startswith("_")}
    summary["report_seconds"] = round(time.perf_counter() - started, 3)

    plot_paths = {}
    for name, png in images.items():
        plot_paths[name] = output_dir / PLOT_FILES[name]
        storage.write_atomically(plot_paths[name], png)
    sources = {"captures": str(captures), "ground truth": str(ground_truth) if ground_truth else ""}
    html_path, summary_path = output_dir / HTML_FILE, output_dir / SUMMARY_FILE
    storage.write_atomically(html_path, render_html(summary, images, sources, comparison).encode("utf-8"))
    summary["plots"] = {name: str(path) for name, path in plot_paths.items()}
    summary["html"] = str(html_path)
    certificate_path = output_dir / CERTIFICATE_FILE
    storage.write_atomically(certificate_path, json.dumps(summary["certificate"], indent=2).encode("utf-8"))
    summary["certificate_file"] = str(certificate_path)
    storage.write_atomically(summary_path, json.dumps(summary, indent=2).encode("utf-8"))
    return ReportResult(summary, html_path, summary_path, plot_paths)


def _comparison(captures, labels, champion, challenger, threshold, target_precision, exclude_manifest, s3_client):
    # Imported here: it decodes photos for the thumbnails, which a report without a shadow never needs.
    from monitoring.report_compare import build_comparison

    trained_on = compare.trained_photo_hashes(exclude_manifest, s3_client)
    comparison = build_comparison(captures, labels, champion, challenger, threshold, target_precision,
                                  trained_on, s3_client)
    if comparison is None:
        raise NothingToCompare(f"no inference below {captures} was answered by both {champion} and {challenger}")
    return comparison


# --- command line -------------------------------------------------------------------------------

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.report",
        description="Report on captured inferences: confidence against the threshold over time and, with "
                    "ground truth, accuracy on both sides of the threshold, coverage/precision curves, "
                    "calibration, a confusion matrix and the threshold's certificate (or 'not yet'). Writes PNG "
                    "plots, summary.json, certificate.json and a self-contained report.html.")
    parser.add_argument("--captures", default=str(settings.LOCAL_CAPTURE_DIR), metavar="DIR_OR_S3_URI",
                        help="SageMaker data-capture JSONL below this directory or s3://bucket/prefix, "
                             "searched recursively (default: %(default)s)")
    parser.add_argument("--ground-truth", default=None, metavar="DIR_OR_S3_URI",
                        help="Model Quality Monitor ground-truth JSONL below this directory or "
                             "s3://bucket/prefix (default: none; the report then cannot judge correctness)")
    parser.add_argument("--threshold", type=fraction, default=settings.DEFAULT_THRESHOLD,
                        help="the confidence threshold the workflow used while these were captured: drivers above it "
                             "were routed (a random share audited), those below it reviewed (default: %(default)s)")
    parser.add_argument("--target-precision", type=fraction, default=metrics.DEFAULT_TARGET_PRECISION,
                        help="precision among accepted a certified threshold must keep (default: %(default)s)")
    parser.add_argument("--output-dir", type=Path, default=settings.LOCAL_REPORT_DIR,
                        help="where the PNGs, summary.json and report.html go (default: %(default)s)")
    parser.add_argument("--compare", dest="compare_variants", action="store_const", const=True, default=None,
                        help="compare the champion with the challenger side by side (the default whenever both are "
                             "captured; an error when no inference was answered by both)")
    parser.add_argument("--no-compare", dest="compare_variants", action="store_const", const=False,
                        help="no side-by-side section, even with a challenger captured")
    parser.add_argument("--champion", default=settings.DEFAULT_VARIANT_NAME,
                        help="the production variant the report is about when a shadow is captured beside it "
                             "(default: %(default)s)")
    parser.add_argument("--challenger", default=settings.CHALLENGER_VARIANT_NAME,
                        help="the shadow variant to compare with it (default: %(default)s)")
    parser.add_argument("--exclude-manifest", default=None, metavar="FILE_OR_S3_URI",
                        help="the challenger's dataset manifest.jsonl: drivers whose photos it was trained on never "
                             "count in the comparison")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        result = build_report(args.captures, args.ground_truth, args.threshold, args.output_dir,
                              args.target_precision, progress=not args.no_progress, champion=args.champion,
                              challenger=args.challenger, compare_variants=args.compare_variants,
                              exclude_manifest=args.exclude_manifest)
    except NothingToReport as error:
        print(f"Nothing to report: {error}", file=sys.stderr)
        return 1
    except (storage.LocationNotFound, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # boto3 errors: say which, not a traceback
        if storage.is_aws_error(error):
            print(f"error: could not read from S3: {error}", file=sys.stderr)
            return 2
        raise
    for sentence in result.summary["sentences"]:
        print(sentence)
    if "comparison" in result.summary:
        print("\n".join(compare.table(result.summary["comparison"])))
    print(f"Report: {result.html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
