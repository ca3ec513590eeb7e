"""The review desk: claim, skip, answer, undo and set aside review requests. Plain Python and boto3.

- Claiming a request is receiving its message with a visibility timeout: while a reviewer holds it,
  SQS offers it to nobody else. Skipping makes it visible again at once.
- An answer writes the ground-truth record first, then deletes the message. The record's key comes
  from the inference id and the hour the request was queued, so an answer given twice (a double
  click, a retry, two tabs) writes the same object: written once.
- The record is Model Quality Monitor ground truth (monitoring/ground_truth.py) plus what Augmented
  AI's output carries per answer (`humanAnswers`: workerId, acceptanceTime, submissionTime,
  timeSpentInSeconds, answerContent) and the request itself (`inputContent`). Undo brings the
  request back; answering it again rewrites the record and keeps every earlier answer in it.
- A bad request (no inference id, no photo, a photo gone from S3) is shown with its reason and can
  be set aside: sent to the review queue's dead-letter queue with the reason, then deleted.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

import settings
from monitoring import ground_truth, storage

# How long a claimed request stays hidden from other reviewers (the review queue's own timeout is 300 s).
CLAIM_SECONDS = 300
PHOTO_URL_SECONDS = 300
REVIEWER_LOG = "reviewers"           # below the ground truth: one empty marker per answer, for "answered today"
MARKER_SUFFIX = ".answer"
REVIEW_RECORD_PREFIX = "review-"      # the desk's ground-truth files: review-<inference id>.jsonl
SET_ASIDE_REASON_ATTRIBUTE = "SetAsideReason"
# Bad requests, by reason: what the page shows.
NO_INFERENCE_ID = "no inference id (not a review request)"
NO_PHOTO = "the request names no photo"
PHOTO_GONE = "the photo is gone from S3"
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


class DeskError(Exception):
    """A request the desk cannot carry out (a stale task, a label it does not know)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def safe_name(text: str) -> str:
    """A file-name form of an id or a worker name: itself when plain, else a digest of it."""
    return text if SAFE_NAME.match(text) else hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def encode_token(document: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict:
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise DeskError("not a task token") from None
    if not isinstance(document, dict):
        raise DeskError("not a task token")
    return document


@dataclass
class Desk:
    """The review queue and the ground truth, for one deployment (clients made by the caller)."""
    sqs: object
    s3: object
    queue_url: str
    ground_truth: storage.Location
    claim_seconds: int = CLAIM_SECONDS
    photo_url_seconds: int = PHOTO_URL_SECONDS
    dead_letter_url: Optional[str] = None   # default: the review queue's own dead-letter queue
    clock: Callable[[], datetime] = _now
    # A local server remembers its claims, to give back at once what its pages still hold when it stops.
    track_claims: bool = False
    _held: dict = field(default_factory=dict, repr=False)

    # --- what the page shows ------------------------------------------------------------------------
    def waiting(self) -> int:
        """Requests waiting on the queue, and those being reviewed now (SQS's approximate counts)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def answered_today(self, worker: str) -> int:
        folder = storage.join(self.ground_truth, f"{REVIEWER_LOG}/{safe_name(worker)}/{self.clock():%Y-%m-%d}")
        try:
            return sum(1 for _ in storage.list_files(folder, (MARKER_SUFFIX,), self.s3))
        except storage.LocationNotFound:
            return 0

    # --- claim and skip -------------------------------------------------------------------------------
    def claim(self) -> Optional[dict]:
        """The next request, hidden from other reviewers for claim_seconds; None when none waits."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=self.claim_seconds,
            WaitTimeSeconds=0, AttributeNames=["SentTimestamp", "ApproximateReceiveCount"]).get("Messages", [])
        if not messages:
            return None
        message = messages[0]
        if self.track_claims:
            self._held[message["MessageId"]] = message["ReceiptHandle"]
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {"unreadable_body": message["Body"][:500]}
        sent = datetime.fromtimestamp(int(message["Attributes"]["SentTimestamp"]) / 1000, timezone.utc)
        accepted = self.clock()
        task = {"token": encode_token({"receipt": message["ReceiptHandle"], "message_id": message["MessageId"],
                                       "sent": iso(sent),
                                       "accepted": iso(accepted), "body": body}),
                **self.describe(body)}
        return task

    def skip(self, token: str) -> None:
        """The request goes back on the queue at once, for anyone."""
        task = decode_token(token)
        self._held.pop(task.get("message_id"), None)
        self._visible_again(task["receipt"])

    def release_all(self) -> int:
        """Give back every request this desk claimed and nobody answered (track_claims); how many."""
        held, self._held = self._held, {}
        for receipt in held.values():
            self._visible_again(receipt)
        return len(held)

    def _visible_again(self, receipt: str) -> None:
        from botocore.exceptions import ClientError
        try:
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
        except ClientError as error:  # answered meanwhile (another tab), or the claim expired: nothing to give back
            if error.response.get("Error", {}).get("Code") not in ("ReceiptHandleIsInvalid", "MessageNotInflight",
                                                                     "InvalidParameterValue",
                                                                     "AWS.SimpleQueueService.MessageNotInflight"):
                raise

    def describe(self, body: dict) -> dict:
        """What the page shows of a request: kind, why, the model's answer (none on audits, so that
        it cannot anchor the reviewer's), a short-lived photo URL, or the reason it is a bad request."""
        kind = str(body.get("kind", settings.REVIEW_REQUEST))
        shown = {"kind": kind, "inference_id": str(body.get("inference_id") or ""),
                 "reason": "audit" if kind == settings.AUDIT_REQUEST else str(body.get("reason") or kind),
                 "unusable_reasons": list(body.get("unusable_reasons") or [])}
        if kind != settings.AUDIT_REQUEST and isinstance(body.get("confidence"), (int, float)):
            shown.update(model_label=body.get("label"), model_confidence=round(float(body["confidence"]), 4))
        problem = self.problem(body)
        if problem:
            shown["problem"] = problem
        else:
            shown["photo_url"] = self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": body["s3_bucket"], "Key": body["s3_key"]},
                ExpiresIn=self.photo_url_seconds)
        return shown

    def problem(self, body: dict) -> Optional[str]:
        """Why this request cannot be answered, or None."""
        from botocore.exceptions import ClientError
        if not str(body.get("inference_id") or "").strip():
            return NO_INFERENCE_ID
        if not body.get("s3_bucket") or not body.get("s3_key"):
            return NO_PHOTO
        try:
            self.s3.head_object(Bucket=body["s3_bucket"], Key=body["s3_key"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
                return PHOTO_GONE
            raise
        return None

    # --- answer, undo, set aside ----------------------------------------------------------------------
    def answer(self, token: str, label: str, worker: str, seconds_on_screen: Optional[float] = None) -> dict:
        """Write the answer as ground truth, then delete the message. Returns the answer's id (for undo).

        seconds_on_screen: how long the page showed the request (it claims the next one ahead, so the
        claim's time is not when the reviewer began); at most the time since the claim."""
        if label not in settings.REVIEW_LABELS:
            raise DeskError(f"unknown answer {label!r}; expected one of {', '.join(settings.REVIEW_LABELS)}")
        task = decode_token(token)
        body = task.get("body") or {}
        if not str(body.get("inference_id") or "").strip():
            raise DeskError("this request has no inference id: set it aside instead")
        key = self.record_key(str(body["inference_id"]), task["sent"])
        self._write_record(key, body, label, worker, task["accepted"], seconds_on_screen)
        self._delete(task["receipt"])
        self._held.pop(task.get("message_id"), None)
        return {"answer_id": key, "inference_id": body["inference_id"], "label": label}

    def undo(self, answer_id: str, worker: str) -> dict:
        """The answered request again, to be answered anew (its record stays until then)."""
        record = self._read_record(answer_id)
        if record["humanAnswers"][-1].get("workerId") != worker:
            raise DeskError("only the reviewer who gave an answer can undo it")
        body = record.get("inputContent") or {}
        return {"token": encode_token({"answer_id": answer_id, "accepted": iso(self.clock()), "body": body}),
                "undone": record["groundTruthData"]["data"], **self.describe(body)}

    def answer_again(self, token: str, label: str, worker: str, seconds_on_screen: Optional[float] = None) -> dict:
        """The new answer to an undone request: the same record, rewritten."""
        if label not in settings.REVIEW_LABELS:
            raise DeskError(f"unknown answer {label!r}")
        task = decode_token(token)
        key = task.get("answer_id")
        record = self._read_record(key)  # one of the desk's records, and what it was about comes from it
        if record["humanAnswers"][-1].get("workerId") != worker:
            raise DeskError("only the reviewer who gave an answer can answer it again")
        body = record.get("inputContent") or {}
        self._write_record(key, body, label, worker, task["accepted"], seconds_on_screen, count=False)
        return {"answer_id": key, "inference_id": body.get("inference_id"), "label": label}

    def set_aside(self, token: str, reason: str) -> None:
        """Move a request nobody can answer to the dead-letter queue, with its reason."""
        task = decode_token(token)
        dead_letter = self.dead_letter_queue_url()
        self.sqs.send_message(QueueUrl=dead_letter, MessageBody=json.dumps(task.get("body") or {}),
                              MessageAttributes={SET_ASIDE_REASON_ATTRIBUTE: {
                                  "DataType": "String", "StringValue": (reason or "set aside")[:1000]}})
        self._delete(task["receipt"])
        self._held.pop(task.get("message_id"), None)

    def dead_letter_queue_url(self) -> str:
        if self.dead_letter_url:
            return self.dead_letter_url
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"])
        policy = attributes.get("Attributes", {}).get("RedrivePolicy")
        if not policy:
            raise DeskError(f"the review queue {self.queue_url} has no dead-letter queue to set requests aside in")
        arn = json.loads(policy)["deadLetterTargetArn"]
        name, account = arn.split(":")[-1], arn.split(":")[-2]
        return self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]

    # --- records ----------------------------------------------------------------------------------------
    @staticmethod
    def record_key(inference_id: str, sent: str) -> str:
        """yyyy/mm/dd/hh/review-<inference id>.jsonl, the hour the request was queued."""
        queued = datetime.fromisoformat(sent.replace("Z", "+00:00"))
        return ground_truth.ground_truth_key(queued, f"{REVIEW_RECORD_PREFIX}{safe_name(inference_id)}{storage.JSONL_SUFFIX}")

    def _read_record(self, key) -> dict:
        if not isinstance(key, str) or not re.fullmatch(r"\d{4}/\d{2}/\d{2}/\d{2}/review-[A-Za-z0-9._-]+\.jsonl", key):
            raise DeskError("not an answer of this desk")
        try:
            return json.loads(storage.read_text(self.ground_truth, key, self.s3))
        except storage.LocationNotFound:
            raise DeskError("that answer is not there") from None

    def _write_record(self, key: str, body: dict, label: str, worker: str, accepted: str,
                      seconds_on_screen: Optional[float] = None, count: bool = True) -> None:
        submitted = self.clock()
        accepted_at = datetime.fromisoformat(accepted.replace("Z", "+00:00"))
        if seconds_on_screen is not None and accepted_at < submitted - timedelta(seconds=seconds_on_screen):
            accepted_at = submitted - timedelta(seconds=seconds_on_screen)
        try:
            earlier = json.loads(storage.read_text(self.ground_truth, key, self.s3)).get("humanAnswers", [])
        except storage.LocationNotFound:
            earlier = []
        answer = {"workerId": worker, "acceptanceTime": iso(accepted_at), "submissionTime": iso(submitted),
                  "timeSpentInSeconds": round(max(0.0, (submitted - accepted_at).total_seconds()), 3),
                  "answerContent": {"label": label}}
        if earlier and count and earlier[-1].get("answerContent") == answer["answerContent"] \
                and earlier[-1].get("workerId") == worker:
            return  # the same answer again (double click, retry): already written
        record = {**ground_truth.build_ground_truth_record(str(body["inference_id"]), label, settings.REVIEW_LABELS),
                  "humanAnswers": earlier + [answer], "inputContent": body}
        storage.write_text(self.ground_truth, key, json.dumps(record, separators=(",", ":")) + "\n", self.s3)
        if count and not earlier:
            storage.write_bytes(self.ground_truth, f"{REVIEWER_LOG}/{safe_name(worker)}/{submitted:%Y-%m-%d}/"
                                                   f"{safe_name(str(body['inference_id']))}{MARKER_SUFFIX}", b"", self.s3)

    def _delete(self, receipt: str) -> None:
        from botocore.exceptions import ClientError
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except ClientError as error:  # deleted already (the same answer twice)
            if error.response.get("Error", {}).get("Code") != "ReceiptHandleIsInvalid":
                raise
