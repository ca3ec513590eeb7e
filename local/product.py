"""The product offline, as a library: stage the data, train or reuse the model, start the endpoint,
the AWS stand-in and the deployed service together, route photos through the deployed state
machine and close the review loop. `python -m local.run` (the main command) and `python -m
local.learn` are built on it, and so are the benchmarks that need the running product.
"""
from __future__ import annotations

import json
import logging
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import settings
from local import loop as operations_loop

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# What a folder given to --image may hold as photos (the workflow decides by content, not by name).
PHOTO_SUFFIXES = IMAGE_SUFFIXES + (".webp",)
LOW_CONFIDENCE_ERROR = "ConfidenceBelowThreshold"
UNUSABLE_ERROR = "UnusableImage"
# Outcomes that send a driver to a person rather than fail the workflow.
TO_A_PERSON = (LOW_CONFIDENCE_ERROR, UNUSABLE_ERROR)
# Executions in flight at once: the handlers run one at a time in this process (one warm
# "container" each), so more only adds polling threads.
PARALLEL_EXECUTIONS = 4
EXECUTION_TIMEOUT_SECONDS = 120
# The handlers' Powertools Logger (named after POWERTOOLS_SERVICE_NAME, which the deployed functions
# get from serverless.yml): their JSON decision lines; the table says the same, once.
HANDLER_DECISION_LOGGER = settings.SERVICE_NAME
MOTO_STEPFUNCTIONS_LOGGER = "moto.stepfunctions"
# The stage the offline run deploys (its stack, functions and state machine are named after it).
OFFLINE_STAGE = "offline"


class RunError(Exception):
    """Something the person running the command can fix; printed without a traceback."""


def exit_status(command: Callable[[], int]) -> int:
    """A command's exit status: command()'s own, or 1 once a RunError it raised is printed as one line."""
    try:
        return command()
    except RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


@dataclass
class Routing:
    """What the workflow decided for one image."""
    image: str
    true_class: Optional[str]
    inference_id: str
    status: str                      # the execution's status: SUCCEEDED, FAILED, ...
    label: Optional[str] = None
    confidence: Optional[float] = None
    accepted: bool = False
    route: Optional[str] = None
    usable: Optional[bool] = None
    unusable_reasons: str = ""       # "; "-joined, as the endpoint gave them
    error: Optional[str] = None
    error_message: Optional[str] = None
    seconds: float = 0.0
    photo_set: str = ""
    kind: str = ""                   # a real photo's kind (local/real_photos.py): mopeds are counted apart

    @property
    def correct(self) -> Optional[bool]:
        """Whether the model named a vehicle's class right (None for pictures of other things)."""
        if self.true_class not in settings.CLASS_NAMES or self.label is None:
            return None
        return self.label == self.true_class


# --- data and model ---------------------------------------------------------------------------------

def stage_real_photos(data_dir: Path, real_photos: Optional[Path]) -> str:
    """Stage the real-photo channel (training/stage_data.py: the second collection, or a user's own
    bicycle/, motorcycle/ and other/; none when real_photos is None or absent); returns its one line."""
    from training import stage_data
    try:
        document = stage_data.stage_real_photos(real_photos, Path(data_dir) / settings.REAL_CHANNEL)
    except stage_data.StagingError as error:
        raise RunError(f"Could not stage the real photos: {error}") from error
    return stage_data.real_photos_line(document, real_photos)


def stage_images(data_dir: Path, data_source: Optional[Path] = None, archive: Optional[Path] = None,
                 download: bool = False) -> dict:
    """Stage the images into data_dir from the first source given: the CIFAR-100 archive
    (downloaded, or a local copy) or an image folder (by default the shared one). Without any of
    them and without the default folder, images staged there before are used as they are.
    Returns training/stage_data.py's document (image counts, and whether it was already staged)."""
    from training import stage_data
    data_dir = Path(data_dir)
    try:
        if download:
            archive = stage_data.download_archive(stage_data.DEFAULT_DOWNLOAD_PATH)
        if archive is not None:
            if not Path(archive).is_file():
                raise RunError(f"--archive {archive}: no such file; pass a copy of cifar-100-python.tar.gz "
                               f"or --download to fetch it.")
            return stage_data.stage("archive", Path(archive), data_dir)
        source = Path(data_source or settings.DEFAULT_DATA_SOURCE)
        if source.is_dir():
            return stage_data.stage("folder", source, data_dir)
        if data_source is not None:
            raise RunError(f"The image folder {source} does not exist; pass --data-source DIR laid out "
                           f"{{train,test}}/{{{','.join(settings.CLASS_NAMES)}}}/*.png, --archive PATH or --download.")
        staged = stage_data.staged_document(data_dir)
        if staged is not None:
            return {**staged, "already_staged": True}
        raise RunError(f"No images: the default image folder {source} does not exist and {data_dir} holds no "
                       f"staged data. Pass --archive PATH (a copy of cifar-100-python.tar.gz), --download "
                       f"(fetches it from the CIFAR site, MD5 checked) or --data-source DIR "
                       f"({{train,test}}/{{class}}/*.png), or stage first with `python -m training.stage_data`.")
    except stage_data.StagingError as error:
        raise RunError(f"Could not stage the images: {error}") from error


def model_is_complete(model_dir: Path) -> bool:
    """Whether model_dir holds a whole trained model; a model the workflow cannot use is an error."""
    from local.endpoint import ModelMismatch, require_model_dir
    try:
        require_model_dir(model_dir)
    except FileNotFoundError:
        return False
    except ModelMismatch as error:
        raise RunError(str(error)) from error
    return True


def require_model(model_dir: Path) -> None:
    """RunError unless model_dir holds a whole trained model (the offline commands and benchmarks serve it)."""
    if not model_is_complete(model_dir):
        raise RunError(f"No trained model in {model_dir}: run `python -m local.run` first, or pass --model-dir.")


def train_model(data_dir: Path, model_dir: Path) -> None:
    """Train with train.py's default hyperparameters, as SageMaker would run it."""
    from training import train
    status = train.main(["--train", str(data_dir / "train"), "--test", str(data_dir / "test"),
                         "--real", str(data_dir / settings.REAL_CHANNEL), "--model-dir", str(model_dir)])
    if status != 0 or not model_is_complete(model_dir):
        raise RunError(f"Training failed (exit status {status}); see its messages above.")


def test_images(data_dir: Path, limit: Optional[int], seed: int) -> list[tuple[Path, str]]:
    """(image, true class) for the official test split, all of them or a reproducible sample."""
    images = [(path, class_name) for class_name in settings.CLASS_NAMES
              for path in sorted((data_dir / "test" / class_name).glob("*"))
              if path.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise RunError(f"No test images below {data_dir / 'test'}.")
    if limit is not None and limit < len(images):
        images = sorted(random.Random(seed).sample(images, limit))
    return images


# --- the product, running -------------------------------------------------------------------------

class LocalProduct:
    """The endpoint, the AWS stand-in and the deployed service, all in this process."""

    def __init__(self, endpoint_url: str, workflow, uploads, dispatch, clients: dict, answers: dict):
        self.endpoint_url = endpoint_url
        self.workflow = workflow
        self.uploads = uploads
        self.dispatch = dispatch
        self.clients = clients
        self._answers = answers

    def route(self, image: Path, key: str, true_class: Optional[str]) -> Routing:
        """Upload one photo under drivers/ (which starts its execution) and say what was decided."""
        started = time.perf_counter()
        upload = self.uploads.upload(key, Path(image).read_bytes())
        result = self.workflow.wait(upload.execution_arn, timeout_seconds=EXECUTION_TIMEOUT_SECONDS)
        routing = Routing(image=str(image), true_class=true_class, inference_id=upload.inference_id or "",
                          status=result.status, seconds=round(time.perf_counter() - started, 3))
        if result.status == "SUCCEEDED":
            routing.label = result.output["label"]
            routing.confidence = float(result.output["confidence"])
            routing.accepted = bool(result.output.get("accepted"))
            routing.route = result.output.get("route")
            routing.usable = result.output.get("usable")
        else:
            routing.error = result.error or result.status
            routing.error_message = result.error_message
            # A rejected image was still classified: the endpoint's answer says what it saw.
            answer = self._answers.get(upload.inference_id)
            if answer is not None:
                probabilities, reasons = answer
                best = max(range(len(probabilities)), key=probabilities.__getitem__)
                routing.label, routing.confidence = settings.CLASS_NAMES[best], probabilities[best]
                routing.usable, routing.unusable_reasons = not reasons, "; ".join(reasons)
        return routing


@contextmanager
def running_product(model_dir: Path, endpoint_name: str, port: int, capture_dir,
                    threshold: float, stage: str = OFFLINE_STAGE, stand_in_options: Optional[dict] = None,
                    params: Optional[dict] = None, operations_page_file: Optional[Path] = None) -> Iterator[LocalProduct]:
    """The AWS stand-in (with the model behind its SageMaker runtime API), the service deployed into
    it as `sls deploy` would (the stack creating its images bucket), and a dispatch subscriber on
    its decisions bus; all of it stopped on the way out. stand_in_options and params (more
    `--param`s) serve the learning cycle (local/learn.py); with operations_page_file, the deployed
    dashboard is drawn there from the stand-in's CloudWatch before it stops (local/operations_page.py)."""
    import boto3

    from local import deployment, operations_page
    from local.aws import StandIn, StandInError

    answers: dict = {}
    answers_lock = threading.Lock()

    def remember_answer(invocation) -> None:
        try:
            answer = json.loads(invocation.response_body)
        except ValueError:
            return
        if isinstance(answer, dict):  # the assessment the workflow asks for
            answer = (answer.get("probabilities"), answer.get("unusable_reasons") or [])
        else:
            answer = (answer, [])
        with answers_lock:
            answers[invocation.inference_id] = answer

    with ExitStack() as stack:
        try:
            stand_in = stack.enter_context(StandIn(port, model_dir=model_dir, endpoint_name=endpoint_name,
                                                   capture_dir=capture_dir, extra_listener=remember_answer,
                                                   **(stand_in_options or {})))
        except StandInError as error:
            raise RunError(str(error)) from error
        environment = stand_in.client_environment()
        session = boto3.Session(aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
                                region_name=stand_in.region)
        clients = {name: session.client(name, endpoint_url=stand_in.url) for name in
                   ("cloudformation", "s3", "stepfunctions", "events", "sqs", "sagemaker", "cloudwatch", "ssm")}
        print(f"Packaging with `sls package` and deploying to the AWS stand-in at {stand_in.url} ...", flush=True)
        try:
            package_dir = deployment.package(
                stage, {"threshold": str(threshold), "endpointName": endpoint_name,
                        "createImagesBucket": "true", **(params or {})}, environment)
            deployed = deployment.deploy(package_dir, stage, clients["cloudformation"], clients["s3"])
        except deployment.DeploymentError as error:
            raise RunError(str(error)) from error
        workflow = deployed.workflow(clients["stepfunctions"])
        uploads = operations_loop.Uploads(clients["s3"], clients["stepfunctions"], workflow.images_bucket,
                               workflow.state_machine_arn)
        dispatch = operations_loop.Dispatch(clients["events"], clients["sqs"], workflow.decision_bus)
        product = LocalProduct(stand_in.endpoint_url, workflow, uploads, dispatch, clients, answers)
        product.stand_in, product.deployment = stand_in, deployed
        yield product
        stand_in.capture.flush()
        if operations_page_file is not None:
            operations_page.write_after_run(product, model_dir, capture_dir, operations_page_file)


def route_all(product: LocalProduct, images: Sequence[tuple[Path, Optional[str]]], run_id: str,
              progress: bool = True) -> list[Routing]:
    from tqdm import tqdm

    def route_one(numbered):
        number, (path, true_class) = numbered
        # Numbered: two photos of the same name from different folders must not overwrite each other;
        # the key never tells the class (a reviewer should not read it off the name).
        key = f"{operations_loop.UPLOAD_PREFIX}/{run_id}/{number:05d}-{Path(path).name}"
        return product.route(path, key, true_class)

    pool = ThreadPoolExecutor(max_workers=PARALLEL_EXECUTIONS, thread_name_prefix="execution")
    try:
        return list(tqdm(pool.map(route_one, enumerate(images)), total=len(images), desc="routing images",
                         unit="img", disable=not progress))
    except operations_loop.UploadNotRouted as error:
        raise RunError(str(error)) from error
    finally:
        # On Ctrl-C only the executions already running finish; the queued ones never start.
        pool.shutdown(wait=True, cancel_futures=True)


def close_the_loop(product: LocalProduct, routings: Sequence[Routing], ground_truth_dir: Path,
                   answered_in_page: Optional[Counter] = None) -> dict:
    """What the loop did: events dispatch heard, requests queued for people; labelled requests are
    answered (as a reviewer would with monitoring.review --labels) into ground_truth_dir, after those
    a person answered in the review page (answered_in_page, by kind: local.run --review)."""
    events = product.dispatch.received()
    labels = {r.inference_id: r.true_class for r in routings if r.true_class and r.inference_id}
    counts = operations_loop.answer_reviews(product.clients["sqs"], product.clients["s3"],
                                            product.workflow.review_queue_url, labels, ground_truth_dir)
    page = answered_in_page or Counter()
    reviews, audits = counts.reviews + page[settings.REVIEW_REQUEST], counts.audits + page[settings.AUDIT_REQUEST]
    answered = counts.answered + sum(page.values())
    return {"driver_routed_events": events.get(settings.DRIVER_ROUTED, 0),
            "driver_needs_review_events": events.get(settings.DRIVER_NEEDS_REVIEW, 0),
            "reviews_queued": reviews, "audits_queued": audits, "requests_answered": answered,
            "answered_in_the_page": sum(page.values()), "waiting_for_a_person": reviews + audits - answered}


# --- what the run says and writes -----------------------------------------------------------------

def model_version(model_dir: Path) -> str:
    """A model's identity for its certificate: the SHA-256 of its weights (the first 16 hex digits)."""
    import hashlib
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).glob("*.params")):
        digest.update(path.read_bytes())
    return f"weights-sha256:{digest.hexdigest()[:16]}"


def write_monitoring(capture_dir: Path, ground_truth_dir: Optional[Path], report_dir: Path, threshold: float,
                     model_dir: Optional[Path] = None):
    """The monitoring report over this run, its ground truth the review loop's answers: every
    rejected driver reviewed, routed ones audited at the workflow's audit rate. Its certificate
    rests on this run's capture alone (a pile of its own), for the model in model_dir."""
    from monitoring import report, storage
    try:
        return report.build_report(str(capture_dir), str(ground_truth_dir) if ground_truth_dir else None,
                                   threshold, report_dir,
                                   model_version=model_version(model_dir) if model_dir else None, carry_looks=False)
    except (report.NothingToReport, storage.LocationNotFound) as error:  # nothing reached the endpoint
        logger.warning("No monitoring report: %s", error)
        return None


def run_monitor(capture_dir: Path, model_dir: Path, ground_truth_dir: Optional[Path], output_dir: Path,
                threshold: float) -> Optional[list]:
    """The deterioration monitor over this run's capture, against the model's baseline, as the
    scheduled monitorModel function judges a window in the cloud; returns its summary lines."""
    from monitoring import monitor, storage
    try:
        result = monitor.run(capture_dir, model_dir, output_dir, ground_truth_dir, threshold=threshold)
    except monitor.MonitorError as error:
        return [f"not run: {error}; `python -m local.run --retrain` trains a model with one"]
    except storage.LocationNotFound as error:  # nothing reached the endpoint
        return [f"not run: {error}"]
    return result.lines


@contextmanager
def quiet_expected_noise() -> Iterator[None]:
    """The table reports every decision once: silence the handlers' per-decision JSON lines and the
    EMF lines of their metrics (in the cloud both go to CloudWatch), and moto's ERROR log of every
    failed execution, which here includes each low-confidence image the workflow rightly fails.
    Only while the run lasts: the loggers belong to the whole process (a test run, say), so they are
    restored afterwards."""
    from local.moto_gaps import EmbeddedMetricsToCloudWatch
    # The handlers' Logger is configured when a function first runs, so it is muted as a whole.
    decisions, moto_log = logging.getLogger(HANDLER_DECISION_LOGGER), logging.getLogger(MOTO_STEPFUNCTIONS_LOGGER)
    disabled, level, printing = decisions.disabled, moto_log.level, EmbeddedMetricsToCloudWatch.printing
    decisions.disabled = True
    # Only the printing is muted: the stand-in still turns the EMF lines into CloudWatch values.
    EmbeddedMetricsToCloudWatch.printing = False
    moto_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        decisions.disabled = disabled
        EmbeddedMetricsToCloudWatch.printing = printing
        moto_log.setLevel(level)


