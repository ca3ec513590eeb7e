"""The operations loop, offline: what starts executions, who hears the decisions, who answers reviews.

In the stand-in as in AWS, a photo uploaded under drivers/ is what starts its execution (S3 tells
EventBridge, the stack's rule starts the state machine). This module plays the other parties of the
loop for the offline run:
  - `Dispatch` subscribes to the decisions bus the way a dispatch system would: a rule of its own
    on the bus, delivering to a queue of its own, read at the end;
  - `Uploads` uploads photos and finds the execution each upload started;
  - `answer_reviews` answers the review queue with known labels through monitoring.review, so the
    ground truth of the run's report comes from the review path; with `local.run --review` a person
    answers first in the review page (`answer_in_the_page`).
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

import settings

UPLOAD_PREFIX = "drivers"
DISPATCH_RULE = "offline-dispatch"


class UploadNotRouted(RuntimeError):
    """An upload started no execution: the bucket's EventBridge notifications or the rule are missing."""


class Dispatch:
    """A subscriber of the decisions bus: what a dispatch system deploys on its side."""

    def __init__(self, events, sqs, bus: str):
        self._sqs = sqs
        self.queue_url = sqs.create_queue(QueueName=DISPATCH_RULE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=DISPATCH_RULE, EventBusName=bus,
                        EventPattern=json.dumps({"source": [settings.DECISION_EVENT_SOURCE]}))
        events.put_targets(Rule=DISPATCH_RULE, EventBusName=bus, Targets=[{"Id": "dispatch", "Arn": queue_arn}])

    def received(self) -> Counter:
        """Events received so far, by detail type (each read once)."""
        return Counter(event.get("detail-type", "?") for event in self.events())

    def events(self) -> list:
        """The events received so far, whole (each read once)."""
        events = []
        while True:
            messages = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
            self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]} for number, message in enumerate(messages)])


@dataclass(frozen=True)
class Upload:
    key: str
    execution_arn: str
    inference_id: Optional[str]


class Uploads:
    """Puts photos under drivers/ and names the execution each one started."""

    def __init__(self, s3, stepfunctions, bucket: str, state_machine_arn: str):
        self._s3, self._stepfunctions = s3, stepfunctions
        self.bucket, self._state_machine_arn = bucket, state_machine_arn
        self._known: Dict[str, str] = {}          # execution ARN -> the key it was started for
        self._lock = threading.Lock()

    def upload(self, key: str, body: bytes) -> Upload:
        with self._lock:  # one upload at a time, so the new execution is this upload's
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            return self._started_for(key)

    def _started_for(self, key: str) -> Upload:
        paginator = self._stepfunctions.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self._state_machine_arn):
            for execution in page["executions"]:
                arn = execution["executionArn"]
                if arn in self._known:
                    continue
                execution_input = json.loads(self._stepfunctions.describe_execution(executionArn=arn)["input"])
                self._known[arn] = execution_input.get("s3_key")
                if execution_input.get("s3_key") == key:
                    return Upload(key, arn, execution_input.get("inference_id"))
        raise UploadNotRouted(f"uploading s3://{self.bucket}/{key} started no execution: are the bucket's EventBridge "
                              f"notifications on, and the stack's photo-uploaded rule there?")


@dataclass
class ReviewCounts:
    reviews: int = 0
    audits: int = 0
    answered: int = 0
    ground_truth_files: tuple = ()


def answer_reviews(sqs, s3, queue_url: str, labels: Dict[str, str], ground_truth_dir) -> ReviewCounts:
    """Answer every request on the review queue from known labels, as a person would with
    `python -m monitoring.review --labels`; requests without a label stay on the queue."""
    from monitoring import review

    kinds: Counter = Counter()

    def answer(request: review.Request) -> str:
        kinds[request.kind] += 1
        return labels.get(request.inference_id, review.SKIP)

    outcome = review.review(sqs, s3, queue_url, answer, ground_truth_dir, wait_seconds=0, show=lambda line: None)
    return ReviewCounts(reviews=kinds[settings.REVIEW_REQUEST], audits=kinds[settings.AUDIT_REQUEST],
                        answered=outcome.total_answered,
                        ground_truth_files=tuple(outcome.ground_truth_files))


def answer_in_the_page(sqs, s3, queue_url: str, ground_truth_dir, reviewer: str, port: int = 0,
                       wait: Callable[[], None] = None) -> Counter:
    """Serve the review page on the run's queue until the person is done (Enter, or end of input):
    what `local.run --review` does before the rest is answered from the photos' folders. Returns
    the requests answered in the page, by kind."""
    from monitoring import review
    from reviewing.desk import REVIEW_RECORD_PREFIX

    def until_enter() -> None:
        try:
            input("Answer in the browser; press Enter here when you are done (what you leave is answered "
                  "from the photos' folders) ... ")
        except EOFError:
            pass

    review.serve_page(sqs, s3, queue_url, ground_truth_dir, reviewer, port, until=wait or until_enter)
    kinds: Counter = Counter()
    for file_location, line in _page_records(ground_truth_dir, REVIEW_RECORD_PREFIX):
        kinds[json.loads(line).get("inputContent", {}).get("kind", settings.REVIEW_REQUEST)] += 1
    return kinds


def _page_records(ground_truth_dir, prefix: str):
    from monitoring import storage
    try:
        for file_location, line in storage.iter_jsonl_lines(ground_truth_dir):
            if Path(file_location).name.startswith(prefix):
                yield file_location, line
    except storage.LocationNotFound:
        return
