"""The whole learning cycle offline, in one command, on the AWS stand-in.

    python -m local.learn FOLDER [FOLDER ...] [--later-share 0.3] [--shadow-share 100] [--audit-share 0.05]

  1. Every photo below the folders arrives as a driver's upload, in a fixed shuffled order (the
     arrival order); its folder answers for it when a person is asked (bicycle/, motorcycle/,
     other/ = not a vehicle: settings.FOLDER_ANSWERS).
  2. The first share goes through the current model: reviews and audits are answered (--audit-share
     of the routed drivers audited: 1 audits every one, for a rehearsal), the deterioration monitor
     judges the capture, and monitoring.certify certifies the threshold or says "not yet"; a
     certificate is applied to the stand-in's routing threshold, which stays the default otherwise.
  3. retrainModel trains a challenger on what people answered (a real training job in the
     stand-in) and registers it.
  4. A person approves the package: the approval event starts deployChallenger, which deploys it as
     the endpoint's shadow variant; the later share, kept back from training, goes through both;
     people answer again.
  5. promoteChallenger compares champion and challenger on those later photos (monitoring.compare)
     and promotes the challenger only on a "promote" verdict, through a canary watched by the
     rollback alarms. A promoted model is left in the model directory that local.run and
     local.endpoint serve by default, and the previous model is kept beside it.

It prints the monitor's findings on the first share (the audited precision of routing beside the
label-free one), the champion's certificate on it, the champion-versus-challenger table (each
model's precision audited and label-free, and each one's certificate from the shadow answers) and
the verdict with the counts it rests on, what it did, and the routing threshold the stand-in
ends with; and writes the monitoring report with its side-by-side section (thumbnails of the
checked disagreements).
"""
import argparse
import io
import json
import random
import shutil
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional, Sequence

import settings
from local import product as offline
from local.workflow import message_of

STAGE = "learn"
DEFAULT_LATER_SHARE = 0.3
RETRAIN_TIMEOUT_SECONDS = 3600
RETRAIN_OUTPUT = "RetrainModelStateMachineArn"
DEPLOY_OUTPUT = "DeployChallengerStateMachineArn"
PROMOTE_OUTPUT = "PromoteChallengerStateMachineArn"
THRESHOLD_OUTPUT = "RoutingThresholdParameterName"
ROLLOUT_TIMEOUT_SECONDS = 600
# The stack's rollout, quick enough for a rehearsal: the canary is watched for seconds, not minutes.
ROLLOUT_PARAMS = {"canaryWaitSeconds": "5", "rolloutPollSeconds": "1"}


class LearnError(Exception):
    """What stops the cycle, in one line."""


def photos_in(folders: Sequence[Path]) -> List[tuple]:
    """[(photo, answer)] for every photo below the folders whose own folder answers for it."""
    found = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise LearnError(f"{folder} is not a folder")
        for path in sorted(folder.rglob("*")):
            answer = settings.FOLDER_ANSWERS.get(path.parent.name)
            if path.is_file() and path.suffix.lower() in offline.PHOTO_SUFFIXES and answer:
                found.append((path, answer))
    if not found:
        raise LearnError(f"no photos in folders named {', '.join(settings.FOLDER_ANSWERS)} below "
                         f"{', '.join(map(str, folders))}")
    return found


def route_and_answer(product, photos, run_id: str, ground_truth_uri: str, progress: bool) -> dict:
    """Upload the photos as drivers' photos, then answer the review queue from their folders."""
    from local import loop
    routings = offline.route_all(product, [(path, answer if answer in settings.CLASS_NAMES else None)
                                             for path, answer in photos], run_id, progress)
    labels = {routing.inference_id: answer for routing, (_, answer) in zip(routings, photos) if routing.inference_id}
    counts = loop.answer_reviews(product.clients["sqs"], product.clients["s3"], product.workflow.review_queue_url,
                                 labels, ground_truth_uri)
    return {"routings": routings, "answered": counts.answered,
            "routed": sum(1 for routing in routings if routing.accepted)}


def retrain(product, hyperparameters: dict) -> dict:
    """Run retrainModel to the end; its output (the registered package) or a LearnError."""
    stepfunctions = product.clients["stepfunctions"]
    arn = product.deployment.outputs[RETRAIN_OUTPUT]
    started = stepfunctions.start_execution(stateMachineArn=arn,
                                            input=json.dumps({"hyperparameters": hyperparameters}))
    result = product.workflow.wait(started["executionArn"], timeout_seconds=RETRAIN_TIMEOUT_SECONDS)
    if result.status != "SUCCEEDED":
        why = task_failure(stepfunctions, started["executionArn"]) or result.error_message
        raise LearnError(f"retrainModel ended {result.status}: {result.error}: {why}")
    return result.output


def task_failure(stepfunctions, execution_arn: str) -> Optional[str]:
    """The message of the last task that failed in an execution (a Fail state's Cause is fixed text;
    the function's own message says what to do)."""
    events = stepfunctions.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                                 reverseOrder=True)["events"]
    for event in events:
        details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
        if details.get("cause"):
            return message_of(details["cause"])
    return None


def started_by_event(product, output: str, timeout_seconds: float = ROLLOUT_TIMEOUT_SECONDS):
    """The execution of a state machine that an event started (the approval's), once it ends."""
    stepfunctions, arn = product.clients["stepfunctions"], product.deployment.outputs[output]
    deadline = time.monotonic() + timeout_seconds
    while not (runs := stepfunctions.list_executions(stateMachineArn=arn)["executions"]):
        if time.monotonic() > deadline:
            raise LearnError(f"nothing started {arn} within {timeout_seconds:.0f} s")
        time.sleep(0.2)
    return product.workflow.wait(runs[0]["executionArn"], timeout_seconds=timeout_seconds)


def promote_if_it_wins(product) -> tuple:
    """Run promoteChallenger; (its comparison's figures, its promotion (config, previous, model_data)
    or None, why it failed or None)."""
    stepfunctions, arn = product.clients["stepfunctions"], product.deployment.outputs[PROMOTE_OUTPUT]
    started = stepfunctions.start_execution(stateMachineArn=arn, input="{}")
    result = product.workflow.wait(started["executionArn"], timeout_seconds=ROLLOUT_TIMEOUT_SECONDS)
    history = stepfunctions.get_execution_history(executionArn=started["executionArn"], maxResults=1000)["events"]
    figures = None
    for event in history:   # the comparison's figures, whichever way the execution ended
        details = event.get("taskSucceededEventDetails") or {}
        output = json.loads(details.get("output") or "{}")
        if isinstance(output.get("Payload"), dict) and "verdict" in output["Payload"]:
            figures = output["Payload"]
    if result.status == "SUCCEEDED":
        promoted = result.output.get("promotion")
        return figures, (promoted or None), None
    return figures, None, f"promoteChallenger ended {result.status} ({result.error}: {result.error_message})"


def install(s3, model_data: str, model_dir: Path) -> Path:
    """The promoted model into model_dir, the one it replaces kept beside it; returns where that is."""
    from monitoring import storage
    archive = storage.read_bytes(model_data, s3)
    incoming = model_dir.with_name(f".{model_dir.name}.incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as handle:
        handle.extractall(incoming, filter="data")
    from local.endpoint import require_model_dir
    require_model_dir(incoming)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    previous = model_dir.with_name(f"{model_dir.name}-previous-{stamp}")
    if model_dir.exists():
        model_dir.rename(previous)
    incoming.rename(model_dir)
    return previous


def certify_first_share(product, capture_uri: str, ground_truth_uri: str, report_dir: Path, say) -> dict:
    """The champion's certificate on what people answered so far, applied to the stand-in's routing
    threshold when it certifies (as `monitoring.certify --apply` would); the threshold stays the
    default otherwise."""
    from monitoring import certify, storage, threshold_store
    clients, endpoint = product.clients, settings.DEFAULT_ENDPOINT_NAME
    served = threshold_store.served_model(clients["sagemaker"], endpoint)
    cert = certify.certify_captures(f"{capture_uri}/{endpoint}", ground_truth_uri, settings.DEFAULT_THRESHOLD,
                                    model_version=served, variant=settings.DEFAULT_VARIANT_NAME,
                                    s3_client=clients["s3"])
    location = str(Path(report_dir) / "certificate-champion.json")
    storage.write_atomically(Path(location), json.dumps(cert, indent=2).encode())
    say(f"   Certificate: {cert['answer']}")
    if cert["certified"]:
        record = threshold_store.apply(clients["ssm"], product.deployment.outputs[THRESHOLD_OUTPUT], cert, location,
                                       served, "local.learn")
        say(f"   Applied: the stand-in's Check Confidence now routes at {record['threshold']:g}.")
    return cert


def learn(folders: Sequence[Path], model_dir: Path, later_share: float = DEFAULT_LATER_SHARE,
          shadow_share: float = 100.0, hyperparameters: Optional[dict] = None, seed: int = 1,
          progress: bool = True, say=print, data_dir: Optional[Path] = None,
          report_dir: Optional[Path] = None, audit_share: float = settings.DEFAULT_AUDIT_RATE) -> dict:
    from monitoring import compare, monitor, threshold_store
    from monitoring.report import build_report

    photos = photos_in(folders)
    random.Random(seed).shuffle(photos)
    later_count = max(1, round(len(photos) * later_share))
    first, later = photos[:-later_count], photos[-later_count:]
    bucket = settings.LOCAL_MONITORING_BUCKET
    capture_uri = f"s3://{bucket}/{settings.CAPTURE_PREFIX}"
    ground_truth_uri = f"s3://{bucket}/ground-truth"
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    data_dir = Path(data_dir or settings.ARTIFACTS_DIR / "data")
    report_dir = Path(report_dir or settings.ARTIFACTS_DIR / "report-learn")
    offline.stage_images(data_dir)
    if not (data_dir / settings.REAL_CHANNEL).is_dir():  # the parent's real photos: the challenger keeps them
        say(offline.stage_real_photos(data_dir, settings.REAL_WORLD_DIR))
    if not offline.model_is_complete(model_dir):
        raise LearnError(f"no trained model in {model_dir}: run `python -m local.run` first")
    params = {"monitoringBucket": bucket, "retrainPollSeconds": "2", "minNewLabels": "4",
              "shadowShare": format(shadow_share, "g"), "auditRate": format(audit_share, "g"), **ROLLOUT_PARAMS}
    options = {"monitoring_bucket": bucket, "data_dir": data_dir}
    with offline.quiet_expected_noise(), offline.running_product(
            model_dir, settings.DEFAULT_ENDPOINT_NAME, 0, capture_uri, settings.DEFAULT_THRESHOLD, STAGE,
            options, params) as product:
        endpoint, clients = settings.DEFAULT_ENDPOINT_NAME, product.clients
        say(f"1. {len(first)} of {len(photos)} photos arrive as drivers' photos; their folders answer the reviews ...")
        before = route_and_answer(product, first, f"{run_id}-first", ground_truth_uri, progress)
        say(f"   routed {before['routed']} without a person; people answered {before['answered']} requests")
        product.stand_in.capture.flush()
        # With the answers so far: the audited precision of routing beside the label-free one.
        verdict = monitor.run(f"{capture_uri}/{endpoint}", product.stand_in.baseline_uri(),
                              f"s3://{bucket}/{settings.MONITORING_PREFIX}/reports/learn/{run_id}",
                              ground_truth=ground_truth_uri, s3_client=clients["s3"],
                              variant=settings.DEFAULT_VARIANT_NAME)
        say("2. The deterioration monitor, on the capture and the answers so far:")
        for line in verdict.lines[1:-1]:
            say(f"   {line}")
        champion_certificate = certify_first_share(product, capture_uri, ground_truth_uri, report_dir, say)
        say("3. retrainModel trains a challenger on what people answered (a real training job) ...")
        retrained = retrain(product, hyperparameters or {})
        package = retrained["model_package_arn"]
        say(f"   registered {package} (PendingManualApproval)")
        clients["sagemaker"].update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
        deployed = started_by_event(product, DEPLOY_OUTPUT)
        if deployed.status != "SUCCEEDED":
            raise LearnError(f"deployChallenger ended {deployed.status}: {deployed.error}: {deployed.error_message}")
        say(f"4. Approved: deployChallenger put it in shadow ({shadow_share:g}% of the requests); the {len(later)} "
            f"later photos arrive ...")
        after = route_and_answer(product, later, f"{run_id}-later", ground_truth_uri, progress)
        time.sleep(1)
        product.stand_in.endpoint_app.shadow.wait()
        product.stand_in.capture.flush()
        say(f"   routed {after['routed']} without a person; people answered {after['answered']} requests")
        say("5. promoteChallenger: champion against challenger on the later photos people checked "
            "(the challenger never trained on them) ...")
        result, promoted, failure = promote_if_it_wins(product)
        if result is None:
            raise LearnError(failure or "promoteChallenger compared nothing")
        for line in compare.table(result):
            say(f"   {line}")
        dataset = retrained.get("dataset_uri") or ""
        report = build_report(f"{capture_uri}/{endpoint}", ground_truth_uri, output_dir=report_dir,
                              s3_client=clients["s3"], exclude_manifest=f"{dataset}/manifest.jsonl" if dataset else None)
        if promoted:
            previous = install(clients["s3"], promoted["model_data"], Path(model_dir))
            say(f"   Promoted after a canary no rollback alarm stopped: {model_dir} now holds the challenger (the "
                f"previous model is in {previous}); local.run and local.endpoint serve it from now on. "
                f"`python -m training.launch rollback` would bring the champion back on the endpoint.")
        elif failure:
            say(f"   Not promoted: {failure}; {model_dir} keeps the current model.")
        else:
            # The verdict's reason, with the counts it rests on, is the table's last line above.
            meaning = compare.VERDICT_MEANINGS[result["verdict"]]
            say(f"   Not promoted: the verdict is {result['verdict']!r} ({meaning}); {model_dir} keeps the current model.")
        record = threshold_store.read(clients["ssm"], product.deployment.outputs[THRESHOLD_OUTPUT])
        say(f"   Routing threshold in the stand-in now: {record['threshold']:g} ({record['source']}: "
            f"{record.get('reason')}, set by {record.get('set_by')}).")
        say(f"   Report with the side-by-side section: {report.html_path}")
    return {"comparison": result, "promoted": promoted, "package": package, "report": str(report.html_path),
            "certificate": champion_certificate, "threshold": record}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.learn", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path,
                        help="folders of photos in bicycle/, motorcycle/ and other/ (or those folders themselves)")
    parser.add_argument("--model-dir", type=Path, default=settings.ARTIFACTS_DIR / "model",
                        help="the current model, replaced by the challenger if it wins (default: %(default)s)")
    parser.add_argument("--later-share", type=float, default=DEFAULT_LATER_SHARE,
                        help="share of the photos kept back from training, to judge both models (default: %(default)s)")
    parser.add_argument("--shadow-share", type=float, default=100.0, help="percent of requests the shadow gets")
    parser.add_argument("--audit-share", type=float, default=settings.DEFAULT_AUDIT_RATE,
                        help="share of routed drivers a person audits (1 audits every one, so a rehearsal can "
                             "certify the threshold; default: %(default)s)")
    parser.add_argument("--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
                        help="train.py option for the challenger's training job (e.g. epochs=20)")
    parser.add_argument("--seed", type=int, default=1, help="the arrival order's shuffle")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.later_share < 1:
        parser.error("--later-share must be between 0 and 1")
    if not 0 <= args.audit_share <= 1:
        parser.error("--audit-share must be between 0 and 1")
    from training.launch import LaunchError, parse_hyperparameters
    try:
        hyperparameters = parse_hyperparameters(args.hyperparameter)
    except LaunchError as error:
        parser.error(str(error))
    started = time.perf_counter()
    try:
        learn(args.folders, args.model_dir, args.later_share, args.shadow_share, hyperparameters, args.seed,
              progress=not args.no_progress, audit_share=args.audit_share)
    except (LearnError, offline.RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Done in {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
