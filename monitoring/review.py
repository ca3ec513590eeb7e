"""Answer review requests and audits from the review queue; what people find becomes ground truth.

    python -m monitoring.review --queue QUEUE_URL                 # a person answers, photo by photo
    python -m monitoring.review --queue QUEUE_URL --labels FILE   # answers from JSON Lines, for automation
    python -m monitoring.review --queue QUEUE_URL --labels-from-folders   # rehearsals: bicycle/photo.jpg ...
    python -m monitoring.review --web --queue QUEUE_URL [--reviewer NAME]  # the review page on 127.0.0.1

The workflow puts a message on the review queue when the model is unsure or the photo unusable
("review"), and for a reproducible share of routed drivers ("audit"). For each message this shows
the photo (its S3 location, and a thumbnail on a local review page that refreshes itself), takes
the answer (bicycle / motorcycle / not a vehicle photo / skip), writes the answers as Model Quality
Monitor ground truth joined on the inference id (to --ground-truth, a directory or s3:// prefix),
and only then deletes the answered messages; skipped ones go back to the queue at once.
With --web the same queue is answered in a browser instead (reviewing/: one photo at a time, keys
1 2 3, s, z), served on 127.0.0.1 until Ctrl-C.
"""
from __future__ import annotations

import argparse
import html
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import settings
from monitoring import ground_truth, storage

SKIP = "skip"
ANSWERS = {"b": "bicycle", "m": "motorcycle", "n": settings.NOT_A_VEHICLE, "s": SKIP}
PROMPT = "[b]icycle, [m]otorcycle, [n]ot a vehicle photo, [s]kip, [q]uit? "
THUMBNAIL_SIDE = 256
PAGE_REFRESH_SECONDS = 3
RECEIVE_BATCH = 10


class ReviewError(Exception):
    """Something the reviewer can fix (wrong queue, no credentials, a bad labels file)."""


@dataclass
class Request:
    """One message of the review queue."""
    receipt_handle: str
    body: dict
    message_id: str = ""

    @property
    def inference_id(self) -> str:
        return str(self.body.get("inference_id", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", settings.REVIEW_REQUEST))

    def describe(self) -> str:
        reasons = "; ".join(self.body.get("unusable_reasons") or [])
        confidence = self.body.get("confidence")
        guess = (f"model says {self.body.get('label')} at {confidence:.4f}" if isinstance(confidence, (int, float))
                 else "no model answer")
        why = ("audit of a routed driver" if self.kind == settings.AUDIT_REQUEST
               else self.body.get("reason", settings.REVIEW_REQUEST))
        return f"{self.body.get('image', '?')} ({why}; {guess}{'; ' + reasons if reasons else ''})"


@dataclass
class Outcome:
    answered: Counter = field(default_factory=Counter)       # label -> count
    skipped: int = 0
    by_kind: Counter = field(default_factory=Counter)        # kind -> answered count
    audits_right: int = 0
    ground_truth_files: List[str] = field(default_factory=list)

    @property
    def total_answered(self) -> int:
        return sum(self.answered.values())


def read_labels(path: Path) -> Dict[str, str]:
    """{inference id: label} from JSON Lines of {"inference_id": ..., "label": ...}; labels are class
    names or NOT_A_VEHICLE. An unknown label is refused, naming its line."""
    try:
        return ground_truth.read_label_lines(path, settings.REVIEW_LABELS)
    except ground_truth.MalformedGroundTruth as error:
        raise ReviewError(str(error)) from None
    except OSError as error:
        raise ReviewError(f"cannot read {path}: {error.strerror or error}") from None


def answer_from_folder(request: Request) -> str:
    """The answer a photo's folder gives (drivers/.../bicycle/photo.jpg is a bicycle, .../other/...
    not a vehicle, settings.FOLDER_ANSWERS); SKIP when its folder names none."""
    parts = str(request.body.get("s3_key") or "").split("/")
    return settings.FOLDER_ANSWERS.get(parts[-2], SKIP) if len(parts) >= 2 else SKIP


def check_queue(sqs, queue_url: str) -> None:
    """Fail with one clear line when the queue is not there or AWS cannot be reached."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    try:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except NoCredentialsError:
        raise ReviewError("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE "
                          "(offline: the export lines `python -m local.aws` prints)") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise ReviewError(f"no review queue at {queue_url} ({code}): use the ReviewQueueUrl output of "
                          f"`sls deploy` (or `sls info --verbose`)") from None
    except (BotoCoreError, ValueError) as error:
        raise ReviewError(f"cannot reach the review queue {queue_url}: {error}") from None


def receive(sqs, queue_url: str, wait_seconds: int, seen: set, held: Dict[str, str],
            batch_size: int = RECEIVE_BATCH) -> Iterator[List[Request]]:
    """Batches of requests not seen before in this session, until the queue offers none.

    Messages this session holds back (skipped requests, messages that are no review request) stay
    invisible to it until the end: when one comes round again (a session longer than the queue's
    visibility timeout), `held` keeps its newest receipt handle and receiving goes on."""
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=batch_size,
                                       WaitTimeSeconds=wait_seconds).get("Messages", [])
        if not messages:
            return
        fresh = []
        for message in messages:
            if message["MessageId"] in seen:
                held[message["MessageId"]] = message["ReceiptHandle"]
            else:
                fresh.append(message)
        seen.update(message["MessageId"] for message in fresh)
        batch = []
        for message in fresh:
            try:
                body = json.loads(message["Body"])
            except ValueError:
                body = None
            if not isinstance(body, dict) or not body.get("inference_id"):
                # Not a review request: held, then let go (after maxReceiveCount the dead-letter queue keeps it).
                held[message["MessageId"]] = message["ReceiptHandle"]
                continue
            batch.append(Request(message["ReceiptHandle"], body, message["MessageId"]))
        if batch:
            yield batch


class ReviewPage:
    """A local HTML page with each photo's thumbnail and the answers so far; it reloads itself."""

    def __init__(self, directory: Path, s3):
        self.directory, self.s3 = Path(directory), s3
        self.rows: List[tuple] = []

    @property
    def path(self) -> Path:
        return self.directory / "index.html"

    def add(self, request: Request) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)  # a session that shows nothing leaves nothing behind
        thumbnail = self._thumbnail(request)
        self.rows.append([request, thumbnail, "waiting"])
        self._write()

    def answer(self, request: Request, answer: str) -> None:
        for row in self.rows:
            if row[0] is request:
                row[2] = answer
        self._write()

    def _thumbnail(self, request: Request) -> Optional[str]:
        from imaging import photo
        bucket, key = request.body.get("s3_bucket"), request.body.get("s3_key")
        if not bucket or not key:
            return None
        name = f"{len(self.rows):05d}.jpg"
        try:
            data = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            image, _ = photo.decode(data, max_side=THUMBNAIL_SIDE)
            image.save(self.directory / name, format="JPEG", quality=85)
        except Exception as error:  # noqa: BLE001 - a missing thumbnail must not stop the review
            print(f"  (no thumbnail: {type(error).__name__}: {error})")
            return None
        return name

    def _write(self) -> None:
        cells = []
        for request, thumbnail, answer in self.rows:
            image = (f'<img src="{html.escape(thumbnail)}" alt="photo">' if thumbnail else "<em>no thumbnail</em>")
            cells.append(f"<tr><td>{image}</td><td>{html.escape(request.describe())}<br><small>inference "
                         f"{html.escape(request.inference_id)}</small></td><td><b>{html.escape(answer)}</b></td></tr>")
        page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f'<meta http-equiv="refresh" content="{PAGE_REFRESH_SECONDS}"><title>Driver photo review</title>'
                "<style>body{font-family:sans-serif;margin:2em}td{border-bottom:1px solid #ddd;padding:6px;"
                "vertical-align:top}img{max-width:256px}</style></head><body><h1>Driver photo review</h1>"
                f"<table>{''.join(reversed(cells))}</table></body></html>")
        storage.write_atomically(self.path, page.encode("utf-8"))


def ask_person(request: Request) -> str:
    """The reviewer's answer for one request, typed at the prompt ('q' stops the review)."""
    while True:
        reply = input(PROMPT).strip().lower()[:1]
        if reply == "q":
            raise KeyboardInterrupt
        if reply in ANSWERS:
            return ANSWERS[reply]
        print("  please answer b, m, n, s or q")


def review(sqs, s3, queue_url: str, answer: Callable[[Request], str], destination,
           page: Optional[ReviewPage] = None, wait_seconds: int = 1, limit: Optional[int] = None,
           show: Callable[[str], None] = print, batch_size: int = RECEIVE_BATCH) -> Outcome:
    """Answer the queue's requests. Each batch's answers are written as ground truth before its
    messages are deleted, so an interruption loses no answer and deletes nothing unanswered. A
    person takes one request at a time (batch_size 1): a batch of ten would stay hidden from other
    reviewers only for the queue's visibility timeout, however long the person takes."""
    check_queue(sqs, queue_url)
    outcome, seen, held, skipped = Outcome(), set(), {}, set()
    destination_s3 = s3_destination_client(s3, destination)
    try:
        for batch in receive(sqs, queue_url, wait_seconds, seen, held, batch_size):
            answered = {}
            try:
                for request in batch:
                    if limit is not None and outcome.total_answered + len(answered) >= limit:
                        continue  # left unanswered: back on the queue at the end
                    show(f"{request.kind}: {request.describe()}")
                    if page is not None:
                        page.add(request)
                    label = answer(request)
                    if page is not None:
                        page.answer(request, label)
                    if label != SKIP:
                        answered[request.inference_id] = (request, label)
            finally:
                for request in batch:
                    if request.inference_id not in answered:
                        held[request.message_id] = request.receipt_handle
                        skipped.add(request.message_id)
                _settle(sqs, destination_s3, queue_url, destination, answered, outcome)
            if limit is not None and outcome.total_answered >= limit:
                break
    finally:
        # Held messages stayed invisible while this session lasted (so it never offered them twice):
        # now they go back to the queue at once.
        for receipt_handle in held.values():
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0)
        outcome.skipped = len(skipped)
    return outcome


def s3_destination_client(s3, destination):
    return s3 if str(destination).startswith("s3://") else None


def _settle(sqs, s3, queue_url: str, destination, answered: dict, outcome: Outcome) -> None:
    if answered:
        labels = {inference_id: label for inference_id, (_, label) in answered.items()}
        outcome.ground_truth_files.append(ground_truth.write_ground_truth(
            labels, destination, s3_client=s3, class_names=settings.REVIEW_LABELS))
        for request, label in answered.values():
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=request.receipt_handle)
            outcome.answered[label] += 1
            outcome.by_kind[request.kind] += 1
            if request.kind == settings.AUDIT_REQUEST and label == request.body.get("label"):
                outcome.audits_right += 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.review",
        description="Answer the review queue's requests and audits: see each photo, say what it shows, and have "
                    "the answers written as Model Quality Monitor ground truth (joined on the inference id) for "
                    "`python -m monitoring.report` and `python -m monitoring.monitor`. Answered messages are deleted, skipped ones "
                    "return to the queue.")
    parser.add_argument("--queue", required=True, metavar="QUEUE_URL",
                        help="the review queue (the stack's ReviewQueueUrl output)")
    parser.add_argument("--labels", type=Path, metavar="FILE",
                        help='answer from JSON Lines of {"inference_id": ..., "label": ...} instead of asking '
                             f"(labels: {', '.join(settings.REVIEW_LABELS)}); requests not in the file are skipped")
    parser.add_argument("--labels-from-folders", action="store_true",
                        help="for rehearsals: answer from the folder each photo was uploaded under "
                             f"({', '.join(f'{folder}/ = {label}' for folder, label in settings.FOLDER_ANSWERS.items())})")
    parser.add_argument("--ground-truth", default=str(settings.LOCAL_GROUND_TRUTH_DIR / "reviews"),
                        metavar="DIR_OR_S3_URI", help="where the answers go (default: %(default)s)")
    parser.add_argument("--page", type=Path, default=settings.ARTIFACTS_DIR / "review",
                        help="folder of the review page and thumbnails (default: %(default)s)")
    parser.add_argument("--web", action="store_true",
                        help="serve the review page on 127.0.0.1 and answer in a browser (prints its address; Ctrl-C stops)")
    parser.add_argument("--reviewer", default=None, metavar="NAME",
                        help="with --web: who answers, recorded as workerId (default: your login name)")
    parser.add_argument("--port", type=int, default=0, help="with --web: the page's port (default: any free port)")
    parser.add_argument("--max", type=int, default=None, metavar="N", help="stop after N answers")
    parser.add_argument("--wait", type=int, default=1, metavar="SECONDS",
                        help="long-poll the queue this long for more requests (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.max is not None and args.max < 1:
        parser.error("--max must be at least 1")
    if args.labels and args.labels_from_folders:
        parser.error("give --labels or --labels-from-folders, not both")
    if args.web and (args.labels or args.labels_from_folders):
        parser.error("--web is for people; --labels and --labels-from-folders answer without one")
    if (args.reviewer is not None or args.port) and not args.web:
        parser.error("--reviewer and --port go with --web")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.reviewer is not None and not args.reviewer.strip():
        parser.error("--reviewer must not be empty")
    if not 0 <= args.wait <= 20:
        parser.error("--wait must be between 0 and 20 seconds (SQS's long-poll limit)")
    return args


def summary_lines(outcome: Outcome) -> List[str]:
    labels = ", ".join(f"{count} {label}" for label, count in sorted(outcome.answered.items()))
    lines = [f"Answered {outcome.total_answered}{f' ({labels})' if labels else ''}, skipped {outcome.skipped}."]
    if outcome.by_kind.get(settings.AUDIT_REQUEST):
        lines.append(f"Audits: {outcome.audits_right} of {outcome.by_kind[settings.AUDIT_REQUEST]} routed drivers "
                     f"were routed right.")
    lines += [f"Ground truth: {path}" for path in outcome.ground_truth_files]
    return lines


def login_name() -> str:
    import getpass
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment (a container, say)
        return "reviewer"


def serve_page(sqs, s3, queue_url: str, destination, reviewer: str, port: int = 0,
               ready: Callable[[str], None] = print, until: Optional[Callable[[], None]] = None) -> int:
    """Serve the review page for one reviewer on 127.0.0.1 until Ctrl-C (or until `until` returns)."""
    from reviewing.desk import Desk
    from reviewing.serve import serving
    check_queue(sqs, queue_url)
    with serving(Desk(sqs, s3, queue_url, destination), reviewer, port) as server:
        ready(f"Review page: {server.url} (reviewer {reviewer}; answers go to {destination}). Ctrl-C stops it.")
        if until is not None:
            until()
        else:
            while True:
                time.sleep(3600)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import boto3
        session = boto3.Session()  # credentials as the environment says now
        sqs, s3 = session.client("sqs"), session.client("s3")
        if args.web:
            return serve_page(sqs, s3, args.queue, args.ground_truth, args.reviewer or login_name(), args.port)
        labels = read_labels(args.labels) if args.labels else None
        automatic = labels is not None or args.labels_from_folders
        page = ReviewPage(args.page, s3)
        if not automatic:
            print(f"Review page: {page.path} (open it in a browser; it refreshes itself)")

        def answer(request: Request) -> str:
            if args.labels_from_folders:
                return answer_from_folder(request)
            if labels is None:
                return ask_person(request)
            return labels.get(request.inference_id, SKIP)

        started = time.perf_counter()
        outcome = review(sqs, s3, args.queue, answer, args.ground_truth, page, args.wait, args.max,
                         batch_size=RECEIVE_BATCH if automatic else 1)
    except ReviewError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nStopped: answers so far are written, the rest stay on the queue.", file=sys.stderr)
        return 130
    except Exception as error:  # botocore errors not foreseen above: one line, not a traceback
        if storage.is_aws_error(error):
            print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
            return 2
        raise
    for line in summary_lines(outcome):
        print(line)
    print(f"Done in {time.perf_counter() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
