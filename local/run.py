"""The whole product offline, in one command: `python -m local.run`.

1. stages the real CIFAR-100 bicycle and motorcycle images (training/stage_data.py),
2. trains the model with the default hyperparameters (training/train.py), or reuses a trained one,
3. starts the AWS stand-in (local/aws.py: moto's server, the handlers running in this process, and
   the model behind a local SageMaker runtime endpoint with data capture),
4. packages the service with the real `sls package` and deploys the generated CloudFormation
   template into the stand-in (local/deployment.py), uploads the official test images to its S3
   and runs one execution of the deployed state machine per image,
5. prints a routing table and a summary, writes them to artifacts/results/, writes ground truth
   and the monitoring report (monitoring/), runs the deterioration monitor over the run's
   capture, and shuts everything down.

The model trains on the CIFAR thumbnails and the second collection of the real photos of
../shared/data/real-world (staged as the real-photo channel). Beside the 200 CIFAR test thumbnails,
the run routes that folder's first collection (local/real_photos.py), whose sources no training saw,
and sums each set up apart:
the model reads photos at 160 px, and a 32-px thumbnail, upsampled, shows the backbone's ImageNet
head too little of a two-wheeler, so a third of the thumbnails go to a person as "not a two-wheeler".
`--image PATH [PATH ...]` instead sends your own photos (files, or the images in folders) through
the same workflow.
The steps live in local/product.py, which local.learn and the benchmarks share; this module is
the command: its arguments, the routing table and summaries, and the results files.
Nothing reaches AWS: the stand-in answers every AWS call, and the classify handler reaches the
local endpoint through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, as it would reach a real one.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
import time
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

import settings
from local import loop as operations_loop
from local import operations_page
from local import real_photos
from local.product import (LOW_CONFIDENCE_ERROR, OFFLINE_STAGE, PHOTO_SUFFIXES, TO_A_PERSON, UNUSABLE_ERROR, Routing,
                           RunError, close_the_loop, model_is_complete, quiet_expected_noise, route_all, run_monitor,
                           running_product, stage_images, stage_real_photos, test_images, train_model, write_monitoring)
from monitoring import formatting, label_free

logger = logging.getLogger(__name__)

RESULTS_JSON = "routing.json"
RESULTS_CSV = "routing.csv"
# The sets of photos the main command routes, summed up apart.
CIFAR_SET = "CIFAR-100 test thumbnails"
REAL_SET = "real photos, first collection (sources never trained on)"
OWN_SET = "your photos"



def summarise(routings: Sequence[Routing], threshold: float) -> dict:
    total = len(routings)
    classified = [r for r in routings if r.label is not None]
    labelled = [r for r in classified if r.correct is not None]
    accepted = [r for r in routings if r.accepted]
    mopeds = [r for r in routings if r.kind == "moped_or_scooter"]
    others = [r for r in routings if r.true_class == settings.NOT_A_VEHICLE and r.kind != "moped_or_scooter"]
    # A routed picture of something else is a wrong routing, whatever class it was given.
    accepted_labelled = [r for r in accepted if r.correct is not None or r.true_class == settings.NOT_A_VEHICLE]
    low_confidence = [r for r in routings if r.error == LOW_CONFIDENCE_ERROR]
    unusable = [r for r in routings if r.error == UNUSABLE_ERROR]
    errors = [r for r in routings if r.error and r.error not in TO_A_PERSON]

    def share(part, whole):
        return round(len(part) / len(whole), 4) if whole else None

    # What the routed drivers' confidences alone say their precision is (monitoring/label_free.py),
    # beside routed_accuracy, which this run knows from the photos' true classes.
    estimate = label_free.expected_share_right([r.confidence for r in accepted if r.confidence is not None])
    label_free_routed_accuracy = {**estimate.as_dict(), "text": formatting.label_free_share(estimate, "routed drivers")}

    return {
        "images": total,
        "threshold": threshold,
        "accuracy": share([r for r in labelled if r.correct], labelled),
        "routed_share": share(accepted, routings),
        "routed_accuracy": share([r for r in accepted_labelled if r.correct], accepted_labelled),
        "low_confidence_share": share(low_confidence, routings),
        "unusable_share": share(unusable, routings),
        "error_share": share(errors, routings),
        "others": len(others),
        "others_routed": sum(r.accepted for r in others),
        "mopeds": len(mopeds),
        "mopeds_routed": sum(r.accepted for r in mopeds),
        "errors": sorted({r.error for r in errors}),
        "routes": {route: sum(r.route == route for r in accepted)
                   for route in sorted(set(settings.ROUTE_BY_LABEL.values()))},
        "median_execution_seconds": sorted(r.seconds for r in routings)[total // 2] if total else None,
        "label_free_routed_accuracy": label_free_routed_accuracy,
    }


def decision_text(routing: Routing) -> str:
    if routing.accepted:
        return f"routed: {routing.route} orders"
    if routing.error == LOW_CONFIDENCE_ERROR:
        return "to a person: low confidence"
    if routing.error == UNUSABLE_ERROR:
        return f"to a person: unusable photo ({routing.unusable_reasons or 'see the error message'})"
    return f"failed: {routing.error}: {routing.error_message or ''}".strip()


def single_decision(routing: Routing, threshold: float) -> str:
    if routing.accepted:
        return (f"a {routing.label} (confidence {routing.confidence:.4f} >= {threshold}): "
                f"route this driver to {routing.route} orders.")
    if routing.error == LOW_CONFIDENCE_ERROR:
        return (f"probably a {routing.label}, but the confidence {routing.confidence:.4f} is below {threshold}: "
                f"a person should check this driver.")
    if routing.error == UNUSABLE_ERROR:
        return f"not a usable photo of a vehicle ({routing.unusable_reasons}): a person should check this driver."
    return f"the workflow failed with {routing.error}: {routing.error_message}"


def print_table(routings: Sequence[Routing]) -> None:
    header = f"{'image':<34} {'true class':<11} {'predicted':<11} {'confidence':>10}  decision"
    print(header)
    print("-" * len(header))
    for r in routings:
        confidence = f"{r.confidence:.4f}" if r.confidence is not None else "-"
        print(f"{Path(r.image).name[:34]:<34} {r.true_class or '-':<11} {r.label or '-':<11} "
              f"{confidence:>10}  {decision_text(r)}")


def percent(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def print_summary(summary: dict, title: str = "images") -> None:
    print(f"\n{summary['images']} {title}, threshold {summary['threshold']}:")
    print(f"  accuracy of the model           {percent(summary['accuracy'])}")
    print(f"  routed automatically            {percent(summary['routed_share'])} "
          f"(correct among routed: {percent(summary['routed_accuracy'])}; "
          + ", ".join(f"{count} {route}" for route, count in summary["routes"].items()) + ")")
    estimate = summary["label_free_routed_accuracy"]
    if estimate["drivers"]:
        print(f"  right among routed, label-free  {estimate['text']}")
    print(f"  sent to a person (low conf.)    {percent(summary['low_confidence_share'])}")
    print(f"  sent to a person (unusable)     {percent(summary['unusable_share'])}")
    errors = f" ({', '.join(summary['errors'])})" if summary["errors"] else ""
    print(f"  failed with an error            {percent(summary['error_share'])}{errors}")
    if summary.get("others"):
        print(f"  other things routed             {summary['others_routed']} of {summary['others']} "
              f"(cars, people, streets, kick scooters: must stay with a person)")
    if summary.get("mopeds"):
        print(f"  mopeds and motor scooters routed {summary['mopeds_routed']} of {summary['mopeds']} "
              f"(\"other\" in the data; ImageNet files them with motorcycles, and so does the model)")
    loop = summary.get("loop")
    if loop:
        print(f"  events published                {loop['driver_routed_events']} {settings.DRIVER_ROUTED}, "
              f"{loop['driver_needs_review_events']} {settings.DRIVER_NEEDS_REVIEW}")
        print(f"  reviews queued                  {loop['reviews_queued']}")
        print(f"  audits queued                   {loop['audits_queued']}"
              + (f" ({loop['waiting_for_a_person']} requests wait for a person)" if loop["waiting_for_a_person"] else
                 f" (all {loop['requests_answered']} answered"
                 + (f", {loop['answered_in_the_page']} of them by you in the review page"
                    if loop.get("answered_in_the_page") else " with the true classes")
                 + ": the report's ground truth)"))


def write_results(routings: Sequence[Routing], summary: dict, results_dir: Path) -> tuple[Path, Path]:
    """routing.json (summary and rows) and routing.csv (rows), each replaced whole."""
    from monitoring.storage import write_atomically
    rows = [{**asdict(r), "correct": r.correct} for r in routings]
    json_path, csv_path = results_dir / RESULTS_JSON, results_dir / RESULTS_CSV
    write_atomically(json_path, (json.dumps({"summary": summary, "images": rows}, indent=2) + "\n").encode())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["image"])
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(csv_path, buffer.getvalue().encode())
    return json_path, csv_path


# --- command line ---------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.run",
        description="Run the whole product offline: stage the CIFAR-100 bicycle/motorcycle images, train "
                    "(or reuse) the model, serve it on a local SageMaker-compatible endpoint with data "
                    "capture, deploy the service with `sls package` into an AWS stand-in (moto), run the "
                    "deployed Step Functions workflow for every test image, and "
                    "write the routing results and the monitoring report below the artifacts directory "
                    f"({settings.ARTIFACTS_DIR}; set VEHICLE_ARTIFACTS_DIR to move it).")
    parser.add_argument("--image", type=Path, metavar="PATH", nargs="+",
                        help="route these photos instead of the test set: files (JPEG, PNG, WebP; anything else "
                             "fails as NotAnImage) or folders (their photos by suffix; other files are skipped)")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="route a reproducible random sample of N test images (default: all)")
    parser.add_argument("--real-photos", type=Path, metavar="DIR", default=settings.REAL_WORLD_DIR,
                        help="the real photos: their second collection (or your own bicycle/, motorcycle/, other/) "
                             "trains the model, their first collection (the test) is routed too, answered by "
                             "their folders (skipped when it does not exist; default: %(default)s)")
    parser.add_argument("--no-real-photos", action="store_true",
                        help="train on the CIFAR thumbnails alone and route the CIFAR test images only")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-source", type=Path, default=None,
                        help="image folder laid out {train,test}/{class}/*.png (default: "
                             f"{settings.DEFAULT_DATA_SOURCE}, or the images staged before in "
                             f"{settings.ARTIFACTS_DIR / 'data'} when that folder is absent)")
    source.add_argument("--archive", type=Path, metavar="PATH",
                        help="stage from this copy of the CIFAR-100 python archive (cifar-100-python.tar.gz)")
    source.add_argument("--download", action="store_true",
                        help="download the CIFAR-100 python archive (MD5 checked) and stage from it")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="trained model directory to use, or where training writes one "
                             f"(default: {settings.ARTIFACTS_DIR / 'model'})")
    parser.add_argument("--retrain", action="store_true",
                        help="train again even if the model directory holds a trained model")
    parser.add_argument("--threshold", type=float, default=settings.DEFAULT_THRESHOLD,
                        help="confidence below which an image goes to a person (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0,
                        help="port of the AWS stand-in on 127.0.0.1 (default: any free port)")
    parser.add_argument("--endpoint-name", default=settings.DEFAULT_ENDPOINT_NAME,
                        help="name of the local endpoint (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--review", action="store_true",
                        help="before the run answers the review queue from the photos' folders, leave the review page "
                             "open on it (its address is printed) so you answer in a browser; Enter goes on")
    parser.add_argument("--reviewer", default=None, metavar="NAME",
                        help="with --review: who answers, recorded in the ground truth (default: your login name)")
    args = parser.parse_args(argv)
    if args.reviewer is not None and not args.review:
        parser.error("--reviewer goes with --review")
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be at least 1")
    if not 0.0 < args.threshold <= 1.0:
        parser.error("--threshold must be in (0, 1]")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    for path in args.image or ():
        if not path.exists():
            parser.error(f"--image {path}: no such file or folder")
    return args


def real_photo_list(folder: Path) -> list:
    """The real photos' first collection, the test (local/real_photos.py), [] when the folder is absent
    or has no manifest of collections (a user's own photos: they train, nothing of them is routed)."""
    try:
        return real_photos.read(folder, collection=1)
    except FileNotFoundError:
        return []


def photos_to_route(paths: Sequence[Path]) -> list[tuple[Path, None]]:
    """Files as given; a folder's photos, its sub-folders' too (by suffix, sorted); other files of a
    folder skipped with a note."""
    photos, skipped = [], []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in PHOTO_SUFFIXES:
                    photos.append(child)
                elif child.is_file():
                    skipped.append(child)
        else:
            photos.append(path)
    for path in skipped:
        print(f"Skipping {path}: not a {'/'.join(PHOTO_SUFFIXES)} file")
    if not photos:
        raise RunError(f"No photos to route in {', '.join(map(str, paths))} "
                       f"(folders and their sub-folders are searched for {', '.join(PHOTO_SUFFIXES)} files).")
    return [(path, None) for path in photos]


def run(args: argparse.Namespace) -> int:
    with quiet_expected_noise():
        return run_quietly(args)


def run_quietly(args: argparse.Namespace) -> int:
    artifacts = settings.ARTIFACTS_DIR
    data_dir = artifacts / "data"
    model_dir = args.model_dir or artifacts / "model"
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    # Each run captures below its own prefix, so the report and ground truth describe this run only.
    capture_dir = settings.LOCAL_CAPTURE_DIR / run_id

    # --retrain first: a model the workflow cannot use (trained before usability) is what it replaces.
    if args.retrain or args.image is None or not model_is_complete(model_dir):
        document = stage_images(data_dir, args.data_source, args.archive, args.download)
        print(f"Data: {data_dir} ({'already staged' if document.get('already_staged') else 'staged'}: "
              f"{json.dumps(document['counts'])})")
        print(f"Data: {stage_real_photos(data_dir, None if args.no_real_photos else args.real_photos)}")
    if args.retrain or not model_is_complete(model_dir):
        print(f"Training the model into {model_dir} with the default hyperparameters ...", flush=True)
        train_model(data_dir, model_dir)
    else:
        print(f"Model: reusing {model_dir} (--retrain trains again)")

    from local import deployment

    photo_sets, kinds = {}, {}
    if args.image is not None:
        images = photos_to_route(args.image)
        photo_sets.update((str(path), OWN_SET) for path, _ in images)
    else:
        images = test_images(data_dir, args.sample, args.seed)
        photo_sets.update((str(path), CIFAR_SET) for path, _ in images)
        real = real_photo_list(args.real_photos) if not args.no_real_photos else []
        photo_sets.update((str(item.path), REAL_SET) for item in real)
        kinds.update((str(item.path), item.kind) for item in real)
        images += [(item.path, item.answer) for item in real]
        if real:
            print(f"Routing {len(real)} real photos of the first collection: the model never trained on their "
                  f"sources ({', '.join(sorted({item.source for item in real}))})")
    ground_truth_dir = settings.LOCAL_GROUND_TRUTH_DIR / run_id
    with running_product(model_dir, args.endpoint_name, args.port, capture_dir, args.threshold,
                         operations_page_file=settings.LOCAL_REPORT_DIR / operations_page.PAGE_FILE) as product:
        print(f"Endpoint {args.endpoint_name} at {product.endpoint_url}, service deployed as stack "
              f"{deployment.stack_name(OFFLINE_STAGE)}; uploading {len(images)} photo(s) under "
              f"s3://{product.workflow.images_bucket}/{operations_loop.UPLOAD_PREFIX}/ ...", flush=True)
        routings = route_all(product, images, run_id, progress=not args.no_progress)
        answered_in_page = None
        if args.review:
            from monitoring.review import login_name
            answered_in_page = operations_loop.answer_in_the_page(
                product.clients["sqs"], product.clients["s3"], product.workflow.review_queue_url, ground_truth_dir,
                args.reviewer or login_name())
        loop = close_the_loop(product, routings, ground_truth_dir, answered_in_page)
    for routing in routings:
        routing.photo_set = photo_sets.get(routing.image, OWN_SET)
        routing.kind = kinds.get(routing.image, "")

    print_table(routings)
    if len(routings) == 1:
        print(f"\nDecision for {routings[0].image}: {single_decision(routings[0], args.threshold)}")
    summary = summarise(routings, args.threshold)
    summary.update(run_id=run_id, model_dir=str(model_dir), endpoint_name=args.endpoint_name,
                   captures=str(capture_dir), ground_truth=str(ground_truth_dir), loop=loop)
    sets = sorted({r.photo_set for r in routings}, key=[CIFAR_SET, REAL_SET, OWN_SET].index)
    if len(sets) > 1:
        summary["sets"] = {name: summarise([r for r in routings if r.photo_set == name], args.threshold)
                           for name in sets}
        for name, part in summary["sets"].items():
            print_summary(part, name)
            if name == CIFAR_SET:
                print("  (a 32-px thumbnail is not a driver's photo: upsampled to the model's input, many show "
                      "the backbone's ImageNet head too little of a two-wheeler, and go to a person)")
    print_summary(summary, "photos in all" if len(sets) > 1 else sets[0] if sets else "images")
    result = write_monitoring(capture_dir, ground_truth_dir if loop["requests_answered"] else None,
                              settings.LOCAL_REPORT_DIR, args.threshold, model_dir)
    if result is not None:
        # The promise, certified or not: the operator's answer, in the summary and routing.json too.
        summary["certificate"] = result.summary["certificate"]
        print(f"  certificate                     {summary['certificate']['answer']}")
    json_path, csv_path = write_results(routings, summary, settings.LOCAL_RESULTS_DIR)
    print(f"\nResults: {json_path} and {csv_path}")
    if result is not None:
        for sentence in result.summary.get("sentences", []):
            print(f"  {sentence}")
        print(f"Monitoring report: {result.html_path} (certificate: {result.summary['certificate_file']})")
    print("Deterioration monitor (python -m monitoring.monitor, as the scheduled monitorModel runs it):")
    for line in run_monitor(capture_dir, model_dir, ground_truth_dir if loop["requests_answered"] else None,
                            settings.LOCAL_MONITORING_DIR / run_id, args.threshold):
        print(f"  {line}")
    # Your own photos: a photo the workflow failed on (not one sent to a person) fails the command.
    return 1 if args.image is not None and summary["errors"] else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    try:
        status = run(args)
        print(f"Done in {time.perf_counter() - started:.0f} s.")
        return status
    except RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; the endpoint and the AWS stand-in are stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
