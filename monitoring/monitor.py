"""The deterioration monitor: one window of data capture judged against the model's baseline.

    python -m monitoring.monitor --captures DIR|s3://... --baseline DIR|s3://... --output DIR|s3://...
                                 [--ground-truth DIR|s3://...] [--start ISO --end ISO] [--publish-metrics]

It reads the captured inferences of the window (SageMaker's layout and encodings, as the report
does), works out the features the endpoint saw and said (monitoring/features.py), and writes
statistics.json and constraint_violations.json in Model Monitor's shapes. With ground truth from
the review loop it also checks the precision of automatic routing against the target, and the
audits against the label-free precision the model's confidences expect (calibration). It prints a
plain summary and exits 0 whether or not it found violations (2 for bad input).

Plain Python, no numpy: the scheduled monitorModel Lambda (handlers/monitor_model.py) runs this
same code over S3, and the offline run over its own capture.
"""
import argparse
import json
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Dict, Iterator, List, Optional, Sequence

import settings
from monitoring import baseline, certificate_watch, checks, storage
from monitoring.capture_format import (MalformedCaptureRecord, parse_capture_line, parse_inference_time, time_of_path,
                                      variant_of)
from monitoring.estimates import Inference, ThresholdEstimates
from monitoring.features import UnusableOutput, feature_names, features_of
from monitoring.formatting import fraction
from monitoring.ground_truth import read_ground_truth
from monitoring.label_free import check_calibration, expected_share_right

logger = logging.getLogger(__name__)

DEFAULT_METRICS_NAMESPACE = "vehicle-routing/data-metrics"
DEFAULT_SCHEDULE_NAME = "hourly"
VIOLATION_COUNT_METRIC = "violation_count"
ITEM_COUNT_METRIC = "item_count"
DRIFT_METRIC_PREFIX = "feature_baseline_drift_"
# The certificate in force, watched: the audits since it was applied, and how many were wrong.
CERTIFICATE_AUDITS_METRIC = "certificate_audits"
CERTIFICATE_WRONG_METRIC = "certificate_wrong_audits"
CERTIFICATE_ALLOWED_METRIC = "certificate_wrong_allowed"
METRICS_PER_CALL = 1000
# Files are cut at the hour of their first record; a late flush may hold a later hour's records.
LATE_FLUSH = timedelta(hours=2)
HOURLY_LAYOUT = re.compile(r"\d{4}/\d{2}/\d{2}/\d{2}/[^/]+")


class MonitorError(Exception):
    """Bad input the person running the monitor can fix (printed as one line)."""


@dataclass
class Window:
    """The captured inferences of one window, as feature rows, plus what was skipped."""

    start: Optional[datetime]
    end: Optional[datetime]
    rows: List[dict] = field(default_factory=list)
    join_keys: List[str] = field(default_factory=list)
    times: List[datetime] = field(default_factory=list)
    files: int = 0
    skipped: Counter = field(default_factory=Counter)


@dataclass
class MonitorResult:
    window: Window
    statistics: dict
    violations: dict
    verdict: checks.WindowVerdict
    locations: Dict[str, str]
    lines: List[str]
    certificate: Optional[certificate_watch.Watch] = None

    @property
    def certificate_broken(self) -> bool:
        return self.certificate is not None and self.certificate.broken


def window_files(captures: storage.Location, start: Optional[datetime], s3_client=None) -> Iterator[str]:
    """The capture files that may hold inferences from start on. Below an endpoint's capture, each
    variant folder sorts its files by hour (yyyy/mm/dd/hh/), so it is listed from the window's first
    hour on: an hourly run never lists the months before it. Any other layout is listed whole."""
    if start is None:
        yield from storage.list_jsonl(captures, s3_client)
        return
    first_hour = f"{(start - LATE_FLUSH).astimezone(timezone.utc):%Y/%m/%d/%H}"
    folders, files = storage.children(captures, s3_client)
    yield from (file for file in files if file.lower().endswith(storage.JSONL_SUFFIX))
    for folder in folders:
        location = storage.join(captures, folder)
        first = next(iter(storage.list_jsonl(location, s3_client, page_size=1)), None)
        if first is None:
            continue
        hourly = HOURLY_LAYOUT.fullmatch(storage.relative_path(location, first))
        yield from storage.list_jsonl(location, s3_client, start_after=first_hour if hourly else None)


def read_window(captures: storage.Location, start: Optional[datetime] = None, end: Optional[datetime] = None,
                class_names: Sequence[str] = settings.CLASS_NAMES, s3_client=None,
                variant: Optional[str] = None) -> Window:
    """Every captured inference with start <= inferenceTime < end (either may be None: open), of
    one variant's folder when variant is given (a shadow's answers are not the production's)."""
    window = Window(start, end)
    files = set()
    for file_location in window_files(captures, start, s3_client):
        if variant and variant_of(file_location) != variant:
            continue
        started = time_of_path(file_location)
        hour = started.replace(minute=0, second=0, microsecond=0) if started else None
        if hour is not None and ((end is not None and hour >= end) or
                                 (start is not None and hour + LATE_FLUSH <= start)):
            continue
        for line in storage.iter_lines(file_location, s3_client):
            files.add(file_location)
            try:
                record = parse_capture_line(line, decode_input=False)
            except MalformedCaptureRecord:
                window.skipped["malformed line"] += 1
                continue
            when = record.inference_time
            if (start is not None and when < start) or (end is not None and when >= end):
                continue
            if record.output_body is None:
                window.skipped["no endpoint output"] += 1
                continue
            try:
                window.rows.append(features_of(record.output_body, record.output_content_type, class_names))
            except UnusableOutput:
                window.skipped["output is not class probabilities"] += 1
                continue
            window.join_keys.append(record.join_key)
            window.times.append(when)
    window.files = len(files)
    return window


def read_baseline(location: storage.Location, s3_client=None) -> tuple:
    """(statistics, constraints) from a baseline directory or s3:// prefix (a model directory works
    too: its baseline/ is used)."""
    for candidate in (location, storage.join(location, baseline.BASELINE_DIR)):
        try:
            statistics = json.loads(storage.read_text(candidate, baseline.STATISTICS_FILE, s3_client))
            constraints = json.loads(storage.read_text(candidate, baseline.CONSTRAINTS_FILE, s3_client))
        except storage.LocationNotFound:
            continue
        except ValueError as error:
            raise MonitorError(f"the baseline at {candidate} is not JSON: {error}") from None
        try:
            baseline.check_baseline(statistics, constraints)
        except baseline.MalformedBaseline as error:
            raise MonitorError(f"the baseline at {candidate}: {error}") from None
        return statistics, constraints
    raise MonitorError(f"no baseline at {location}: expected {baseline.STATISTICS_FILE} and "
                       f"{baseline.CONSTRAINTS_FILE} there (training writes them into the model's "
                       f"{baseline.BASELINE_DIR}/ folder)")


def quality_of(window: Window, labels: Dict[str, str], threshold: float, target_precision: float,
               class_names: Sequence[str]) -> dict:
    """The model-quality checks over the window's usable inferences: the audited precision of
    routing, and the label-free one from the routed drivers' confidences, against the audits."""
    inferences = []
    for row, key in zip(window.rows, window.join_keys):
        if row.get("usable") == "false":
            continue  # never routed, whatever its confidence
        label = labels.get(key)
        inferences.append(Inference(row["confidence"], None if label is None else label == row["predicted_class"]))
    precision = ThresholdEstimates(inferences, threshold).precision(threshold)
    routed = [inference for inference in inferences if inference.confidence >= threshold]
    label_free = expected_share_right([inference.confidence for inference in routed])
    calibration = check_calibration([(inference.confidence, inference.correct) for inference in routed
                                     if inference.correct is not None])
    return checks.model_quality(precision, target_precision, threshold, label_free, calibration)


def watch_certificate(captures: storage.Location, record: dict, labels: Dict[str, str], end: Optional[datetime],
                      class_names: Sequence[str], s3_client=None,
                      variant: Optional[str] = None) -> certificate_watch.Watch:
    """The audits of drivers routed at the certificate's threshold since it was applied, against its
    promise (monitoring/certificate_watch.py)."""
    since = parse_inference_time(record["applied_at"])
    window = read_window(captures, since, end, class_names, s3_client, variant)
    threshold, checked, wrong = float(record["threshold"]), 0, 0
    for row, key in zip(window.rows, window.join_keys):
        label = labels.get(key)
        if row.get("usable") == "false" or row["confidence"] < threshold or label is None:
            continue
        checked += 1
        wrong += label != row["predicted_class"]
    return certificate_watch.watch(checked, wrong, threshold, float(record["target_precision"]),
                                   float(record["confidence"]), record["applied_at"])


def publish_metrics(cloudwatch, namespace: str, endpoint_name: str, schedule_name: str,
                    verdict: checks.WindowVerdict, when: datetime,
                    watched: Optional[certificate_watch.Watch] = None) -> int:
    """Model Monitor's metric names with its Endpoint and MonitoringSchedule dimensions; returns how
    many data points were put."""
    dimensions = [{"Name": "Endpoint", "Value": endpoint_name}, {"Name": "MonitoringSchedule", "Value": schedule_name}]
    data = [{"MetricName": ITEM_COUNT_METRIC, "Value": float(verdict.items)},
            {"MetricName": VIOLATION_COUNT_METRIC, "Value": float(len(verdict.violations))}]
    data += [{"MetricName": f"{DRIFT_METRIC_PREFIX}{name}", "Value": float(result.distance)}
             for name, result in verdict.drift.items()]
    # A precision is put only when informative: a dashboard line would read a point from two
    # audits as a fact (the summary and the violations state the intervals).
    if verdict.quality and verdict.quality["value"] is not None:
        data.append({"MetricName": checks.PRECISION_METRIC, "Value": float(verdict.quality["value"])})
    if verdict.quality and verdict.quality["label_free"]["value"] is not None:
        data.append({"MetricName": checks.LABEL_FREE_PRECISION_METRIC,
                     "Value": float(verdict.quality["label_free"]["value"])})
    if watched is not None:
        data += [{"MetricName": CERTIFICATE_AUDITS_METRIC, "Value": float(watched.checks)},
                 {"MetricName": CERTIFICATE_WRONG_METRIC, "Value": float(watched.wrong)},
                 {"MetricName": CERTIFICATE_ALLOWED_METRIC, "Value": float(watched.most_wrong_allowed)}]
    for datum in data:
        datum.update(Dimensions=dimensions, Timestamp=when, Unit="None")
    for start in range(0, len(data), METRICS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + METRICS_PER_CALL])
    return len(data)


def summary_lines(window: Window, verdict: checks.WindowVerdict, locations: Dict[str, str]) -> List[str]:
    span = (f"from {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC" if window.start and window.end
            else "over all captured inferences")
    lines = [f"Window {span}: {verdict.items} inferences in {window.files} capture files."]
    if window.skipped:
        lines.append("Skipped " + ", ".join(f"{count} {reason}" for reason, count in window.skipped.items()) + ".")
    if not verdict.enough_data:
        lines.append(f"Not enough data: {verdict.items} inferences, fewer than the {verdict.min_items} the constraints "
                     "ask for before judging drift; nothing was compared.")
    elif verdict.drift:
        moved = ", ".join(f"{name} {result.distance:.2f} (p {result.p_value:.1g})"
                          for name, result in sorted(verdict.drift.items(), key=lambda item: item[1].p_value)[:4])
        lines.append(f"Drift tests on {len(verdict.drift)} features at {verdict.per_test_level:.2g} each; "
                     f"the largest moves: {moved}.")
    if verdict.quality:
        quality = verdict.quality
        at = f"at {quality['threshold']:g} (target {quality['target']:.0%})"
        if not quality["accepted"]:
            lines.append(f"No driver was routed {at}: there is no precision of routing to judge.")
        elif quality["labelled"]:
            lines.append(f"Precision of automatic routing {at}, audited: {quality['text']}; label-free: "
                         f"{quality['label_free_text']}.")
        else:
            lines.append(f"No routed driver in this window was audited, so the audited precision {at} is unknown; "
                         f"label-free: {quality['label_free_text']}.")
        if quality["accepted"]:
            lines.append(quality["calibration_text"])
    if verdict.violations:
        lines.append(f"VIOLATIONS: {len(verdict.violations)}")
        lines += [f"  {item['feature_name']}: {item['constraint_check_type']}: {item['description']}"
                  for item in verdict.violations]
    elif verdict.enough_data:
        lines.append("No violations: the window looks like the baseline.")
    lines.append(f"Wrote {locations['statistics']} and {locations['violations']}.")
    return lines


def run(captures: storage.Location, baseline_location: storage.Location, output: storage.Location,
        ground_truth: Optional[storage.Location] = None, start: Optional[datetime] = None,
        end: Optional[datetime] = None, threshold: float = settings.DEFAULT_THRESHOLD,
        target_precision: float = settings.TARGET_PRECISION, class_names: Sequence[str] = settings.CLASS_NAMES,
        s3_client=None, cloudwatch=None, metrics_namespace: str = DEFAULT_METRICS_NAMESPACE,
        endpoint_name: str = settings.DEFAULT_ENDPOINT_NAME, schedule_name: str = DEFAULT_SCHEDULE_NAME,
        variant: Optional[str] = None, threshold_record: Optional[dict] = None) -> MonitorResult:
    """Judge one window and write statistics.json and constraint_violations.json below output
    (violations last, so a reader who finds them finds the statistics too); with a CloudWatch
    client, also publish the metrics. threshold_record: the routing threshold in force
    (monitoring/threshold_store.py); when it came from a certificate, the audits since it was
    applied are checked against its promise (a certificate_check violation when it is broken)."""
    baseline_statistics, constraints = read_baseline(baseline_location, s3_client)
    window = read_window(captures, start, end, class_names, s3_client, variant)
    statistics = baseline.dataset_statistics(window.rows, feature_names(class_names))
    # The label-free figure needs no label: without ground truth the window is judged with none checked.
    labels = read_ground_truth(ground_truth, class_names, s3_client)[0] if ground_truth is not None else {}
    quality = quality_of(window, labels, threshold, target_precision, class_names)
    verdict = checks.check_window(statistics, baseline_statistics, constraints, quality)
    watched = None
    if threshold_record and threshold_record.get("source") == "certificate" and ground_truth is not None:
        watched = watch_certificate(captures, threshold_record, labels, end, class_names, s3_client, variant)
        if watched.broken:
            verdict.violations.append({"feature_name": checks.PRECISION_METRIC, "metric_name": CERTIFICATE_WRONG_METRIC,
                                       "constraint_check_type": certificate_watch.CERTIFICATE_CHECK,
                                       "description": watched.description()})
    violations = {"violations": verdict.violations}
    locations = {
        "statistics": storage.write_text(output, baseline.STATISTICS_FILE, json.dumps(statistics, indent=2), s3_client),
        "violations": storage.write_text(output, baseline.VIOLATIONS_FILE, json.dumps(violations, indent=2), s3_client),
    }
    if cloudwatch is not None:
        publish_metrics(cloudwatch, metrics_namespace, endpoint_name, schedule_name, verdict,
                        end or datetime.now(timezone.utc), watched)
    lines = summary_lines(window, verdict, locations)
    if watched is not None and not watched.broken:
        lines.insert(-1, f"The certificate in force holds: {watched.description()}.")
    return MonitorResult(window, statistics, violations, verdict, locations, lines, watched)


# --- command line -------------------------------------------------------------------------------

def moment(text: str) -> datetime:
    """An ISO 8601 time read as capture reads inferenceTime (a trailing Z, or no zone, means UTC)."""
    try:
        return parse_inference_time(text)
    except MalformedCaptureRecord:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-12-01T14:00Z)") from None


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.monitor",
        description="Judge one window of SageMaker data capture against the model's baseline: writes statistics.json "
                    "and constraint_violations.json (Model Monitor's formats), prints a summary, and exits 0 whether "
                    "or not it found violations.")
    parser.add_argument("--captures", default=str(settings.LOCAL_CAPTURE_DIR), metavar="DIR_OR_S3_URI",
                        help="data-capture JSONL below this directory or s3://bucket/prefix (default: %(default)s)")
    parser.add_argument("--baseline", default=str(settings.LOCAL_BASELINE_DIR), metavar="DIR_OR_S3_URI",
                        help="folder or s3:// prefix with the baseline's statistics.json and constraints.json, or a "
                             "model directory (default: %(default)s)")
    parser.add_argument("--output", default=str(settings.LOCAL_MONITORING_DIR), metavar="DIR_OR_S3_URI",
                        help="where statistics.json and constraint_violations.json go (default: %(default)s)")
    parser.add_argument("--ground-truth", default=None, metavar="DIR_OR_S3_URI",
                        help="Model Quality Monitor ground truth from the review loop: adds the check of the precision "
                             "of automatic routing (default: none)")
    parser.add_argument("--start", type=moment, default=None, help="first inference time of the window (ISO 8601, UTC)")
    parser.add_argument("--end", type=moment, default=None, help="end of the window, exclusive (ISO 8601, UTC)")
    parser.add_argument("--threshold", type=fraction, default=settings.DEFAULT_THRESHOLD,
                        help="the workflow's confidence threshold in that window (default: %(default)s)")
    parser.add_argument("--target-precision", type=fraction, default=settings.TARGET_PRECISION,
                        help="precision of automatic routing the quality check holds it to (default: %(default)s)")
    parser.add_argument("--variant", default=None,
                        help="judge only this variant's capture folder, e.g. AllTraffic when a shadow is captured "
                             "beside it (default: every variant below --captures)")
    parser.add_argument("--publish-metrics", action="store_true",
                        help="also put the metrics to CloudWatch (feature_baseline_drift_<feature>, violation_count, "
                             "item_count, precision_accepted, expected_precision_accepted)")
    parser.add_argument("--endpoint-name", default=settings.DEFAULT_ENDPOINT_NAME,
                        help="the Endpoint dimension of the metrics (default: %(default)s)")
    parser.add_argument("--schedule-name", default=DEFAULT_SCHEDULE_NAME,
                        help="the MonitoringSchedule dimension of the metrics (default: %(default)s)")
    parser.add_argument("--metrics-namespace", default=DEFAULT_METRICS_NAMESPACE, help="(default: %(default)s)")
    args = parser.parse_args(argv)
    if args.start and args.end and args.start >= args.end:
        parser.error("--start must be before --end")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    cloudwatch = None
    try:
        if args.publish_metrics:
            import boto3
            cloudwatch = boto3.client("cloudwatch")
        result = run(args.captures, args.baseline, args.output, args.ground_truth, args.start, args.end,
                     args.threshold, args.target_precision, cloudwatch=cloudwatch,
                     metrics_namespace=args.metrics_namespace, endpoint_name=args.endpoint_name,
                     schedule_name=args.schedule_name, variant=args.variant)
    except (MonitorError, storage.LocationNotFound, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # boto3 errors: say which, not a traceback
        if storage.is_aws_error(error):
            print(f"error: AWS said: {error}", file=sys.stderr)
            return 2
        raise
    for line in result.lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
