"""Certify the routing threshold from captures and people's answers: a certificate, or "not yet".

    python -m monitoring.certify --captures LOC --ground-truth LOC [--target-precision 0.99]
        [--confidence 0.95] [--threshold-now 0.95] --output FILE.json
        [--model-version S3_URI | --endpoint-name NAME] [--apply --parameter-name NAME]

It reads the same sources as monitoring.report (directories or s3:// prefixes), counts every usable
driver (routed at --threshold-now or sent to a person), joins people's answers, and asks
monitoring/certificate.py for the lowest threshold at which at least --target-precision of routed
drivers are right with --confidence. The JSON holds `certified`, `threshold` (null when not
certified), `routed_share`, `target_precision`, `confidence`, `checks` (per stratum),
`missing_checks` (null once certified), the model version and the window of captures it holds
for, and the looks at the labels so far.

The pile of answers grows; each look at it spends part of the error rate (certificate.py). The
looks so far travel in the output file: run it again with the same --output and it carries on
from there (the same model, threshold in force, target and confidence), looking again only when
the audits have grown enough. --apply sets the stack's routing threshold to the certified one
(monitoring/threshold_store.py), only when the certificate is for the model the endpoint serves.
"""
import argparse
import getpass
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence, Tuple

import settings
from monitoring import certificate, storage, threshold_store
from monitoring.certificate import answer_text
from monitoring.formatting import fraction
from monitoring.ground_truth import read_ground_truth
from monitoring.monitor import Window, moment, read_window

logger = logging.getLogger(__name__)

CERTIFICATE_FILE = "certificate.json"
UNKNOWN_MODEL = "unknown"


class CertifyError(Exception):
    """Bad input or a refused --apply, in one line."""


def tallies_of(window: Window, labels: Dict[str, str], threshold_now: float) -> List[certificate.Tally]:
    """One tally per usable driver of the window: routed at threshold_now (its checks an audit) or
    sent to a person (reviewed). A driver a person found to show no vehicle is wrong if routed."""
    tallies = []
    for row, key in zip(window.rows, window.join_keys):
        if row.get("usable") == "false":
            continue  # never routed, whatever its confidence
        label = labels.get(key)
        checked = label is not None
        tallies.append(certificate.Tally(row["confidence"], 1, int(checked),
                                         int(checked and label != row["predicted_class"]),
                                         audited=row["confidence"] >= threshold_now))
    return tallies


def read_previous(output: str, s3_client=None) -> Optional[dict]:
    """The certificate already at `output`, if any (its looks carry on)."""
    parent, name = _split(output)
    try:
        return json.loads(storage.read_text(parent, name, s3_client))
    except (storage.LocationNotFound, ValueError):
        return None


def _split(output: str) -> Tuple[str, str]:
    text = str(output).rstrip("/")
    parent, _, name = text.rpartition("/")
    return parent or ".", name


def certify_captures(captures: storage.Location, ground_truth: Optional[storage.Location],
                     threshold_now: float = settings.DEFAULT_THRESHOLD,
                     target_precision: float = certificate.DEFAULT_TARGET_PRECISION,
                     confidence: float = certificate.DEFAULT_CONFIDENCE, model_version: Optional[str] = None,
                     previous: Optional[dict] = None, variant: Optional[str] = None,
                     start: Optional[datetime] = None, end: Optional[datetime] = None,
                     class_names: Sequence[str] = settings.CLASS_NAMES, s3_client=None) -> dict:
    """The certificate (JSON-ready) over the captures and answers; `previous` carries its looks on
    when it is about the same model, threshold in force, target and confidence."""
    carried = _same_pile(previous, model_version, threshold_now, target_precision, confidence)
    if carried and start is None and (carried.get("window") or {}).get("start"):
        start = datetime.fromisoformat(carried["window"]["start"])
    window = read_window(captures, start, end, class_names, s3_client, variant)
    labels = read_ground_truth(ground_truth, class_names, s3_client)[0] if ground_truth is not None else {}
    return certify_tallies(tallies_of(window, labels, threshold_now), window.times, threshold_now, target_precision,
                           confidence, model_version, previous,
                           {"captures": str(captures), "ground_truth": str(ground_truth) if ground_truth else None,
                            "variant": variant}, start)


def certify_tallies(tallies: Sequence[certificate.Tally], times: Sequence[datetime], threshold_now: float,
                    target_precision: float = certificate.DEFAULT_TARGET_PRECISION,
                    confidence: float = certificate.DEFAULT_CONFIDENCE, model_version: Optional[str] = None,
                    previous: Optional[dict] = None, sources: Optional[dict] = None,
                    start: Optional[datetime] = None) -> dict:
    """The certificate document over drivers already counted (the report counts them from its own
    reading of the captures): the answer, the model version, the window and its sources."""
    model_version = model_version or UNKNOWN_MODEL
    carried = _same_pile(previous, model_version, threshold_now, target_precision, confidence)
    looks = certificate.Looks(**{key: (carried.get("looks") or {}).get(key, 0)
                                 for key in ("count", "checks_at_last", "wrong_at_last")}) if carried else certificate.Looks()
    times = sorted(times)
    days = (times[-1] - times[0]).total_seconds() / 86400 if len(times) > 1 else None
    answer = certificate.certify(tallies, threshold_now, target_precision, confidence, days, looks)
    if carried and carried.get("certified") and not answer.looked:
        result = dict(carried)  # no new look: the last look's certificate stands
    else:
        result = answer.to_json()
    first = start or (times[0] if times else None)
    result["model_version"] = model_version
    result["window"] = {
        "start": first.isoformat() if first else None,
        "first_inference": times[0].isoformat() if times else None,
        "last_inference": times[-1].isoformat() if times else None,
        "days": None if days is None else round(days, 4), **(sources or {}),
        "issued_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    result["answer"] = answer_text(result)
    return result


def _same_pile(previous: Optional[dict], model_version: Optional[str], threshold_now: float, target: float,
               confidence: float) -> Optional[dict]:
    """The previous certificate when it is about the same pile (model, threshold in force, target and
    confidence), else None: its looks carry on."""
    if not previous:
        return None
    same = (previous.get("model_version") == (model_version or UNKNOWN_MODEL)
            and abs(previous.get("threshold_now", -1) - threshold_now) < 1e-9
            and abs(previous.get("target_precision", -1) - target) < 1e-9
            and abs(previous.get("confidence", -1) - confidence) < 1e-9)
    return previous if same else None


# --- command line -------------------------------------------------------------------------------

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.certify",
        description="Certify the routing threshold: the lowest threshold at which people's answers prove, with the "
                    "chosen confidence, that at least the target share of routed drivers is right; or 'not yet', "
                    "with how many clean audits are missing. Writes the certificate as JSON.")
    parser.add_argument("--captures", required=True, metavar="DIR_OR_S3_URI",
                        help="SageMaker data-capture JSONL below this directory or s3://bucket/prefix")
    parser.add_argument("--ground-truth", required=True, metavar="DIR_OR_S3_URI",
                        help="Model Quality Monitor ground truth from the review loop")
    parser.add_argument("--target-precision", type=fraction, default=certificate.DEFAULT_TARGET_PRECISION,
                        help="share of routed drivers that must be right (default: %(default)s)")
    parser.add_argument("--confidence", type=fraction, default=certificate.DEFAULT_CONFIDENCE,
                        help="confidence of the certificate (default: %(default)s)")
    parser.add_argument("--threshold-now", type=fraction, default=settings.DEFAULT_THRESHOLD,
                        help="the threshold the workflow judged these drivers at (default: %(default)s)")
    parser.add_argument("--start", type=moment, default=None,
                        help="first inference time of the pile (ISO 8601, UTC): when the model began serving at "
                             "--threshold-now, e.g. when a certificate was applied or the default put back "
                             "(default: every capture, or the start of the certificate at --output)")
    parser.add_argument("--output", required=True, metavar="FILE_OR_S3_URI",
                        help="where the certificate JSON goes; a certificate already there carries its looks on")
    parser.add_argument("--restart", action="store_true",
                        help="ignore the certificate already at --output (a new pile: another model or traffic)")
    parser.add_argument("--model-version", default=None,
                        help="the model these captures come from (default: the model --endpoint-name serves)")
    parser.add_argument("--endpoint-name", default=None,
                        help="the SageMaker endpoint: names the model version, and --apply checks it still serves it")
    parser.add_argument("--variant", default=settings.DEFAULT_VARIANT_NAME,
                        help="the production variant's capture folder (default: %(default)s)")
    parser.add_argument("--apply", action="store_true",
                        help="set the stack's routing threshold to the certified one (needs --endpoint-name and "
                             "--parameter-name; refused unless the certificate is for the model served)")
    parser.add_argument("--parameter-name", default=None,
                        help="the SSM parameter Check Confidence reads (the stack's RoutingThresholdParameterName output)")
    parser.add_argument("--applied-by", default=None, help="who applies it (default: the login name)")
    args = parser.parse_args(argv)
    if args.apply and not (args.endpoint_name and args.parameter_name):
        parser.error("--apply needs --endpoint-name and --parameter-name")
    if not 0 < args.target_precision < 1 or not 0 < args.confidence < 1:
        parser.error("--target-precision and --confidence must be between 0 and 1")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        sagemaker = ssm = None
        if args.endpoint_name:
            import boto3
            sagemaker = boto3.client("sagemaker")
        model_version = args.model_version or (
            threshold_store.served_model(sagemaker, args.endpoint_name) if sagemaker else None)
        previous = None if args.restart else read_previous(args.output)
        result = certify_captures(args.captures, args.ground_truth, args.threshold_now, args.target_precision,
                                  args.confidence, model_version, previous, args.variant, start=args.start)
        parent, name = _split(args.output)
        written = storage.write_text(parent, name, json.dumps(result, indent=2), None)
        print(result["answer"])
        print(f"Certificate: {written}")
        if args.apply:
            import boto3
            ssm = boto3.client("ssm")
            record = threshold_store.apply(ssm, args.parameter_name, result, written,
                                           threshold_store.served_model(sagemaker, args.endpoint_name),
                                           args.applied_by or getpass.getuser())
            print(f"Applied: Check Confidence now routes at {record['threshold']:g} ({args.parameter_name}, "
                  f"by {record['applied_by']} at {record['applied_at']}).")
    except (threshold_store.NotApplicable, CertifyError, storage.LocationNotFound, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # boto3 errors: say which, not a traceback
        if storage.is_aws_error(error):
            print(f"error: AWS said: {error}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
