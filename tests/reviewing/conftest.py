"""A review queue (with its dead-letter queue) and an images bucket, as the stack makes them."""
import json
from dataclasses import dataclass

import pytest

from imaging import samples

BUCKET = "vehicle-routing-test-images"


def request(inference_id: str, kind: str = "review", label: str = "bicycle", reason: str = "ConfidenceBelowThreshold",
            key: str = None, confidence: float = 0.7) -> dict:
    """A message as the state machine's Request Review / Request Audit states send it."""
    key = key or f"drivers/{inference_id}.jpg"
    return {"kind": kind, "reason": reason if kind == "review" else "Audit", "image": f"s3://{BUCKET}/{key}",
            "s3_bucket": BUCKET, "s3_key": key, "inference_id": inference_id, "label": label,
            "confidence": confidence, "unusable_reasons": [],
            "execution": "arn:aws:states:us-east-1:123456789012:execution:x:1"}


@dataclass
class ReviewQueue:
    sqs: object
    s3: object
    url: str
    dead_letter_url: str

    def put(self, *messages, photo: bytes = None) -> None:
        """Queue these messages in order (requests as dicts, anything else as text), each named photo uploaded."""
        for message in messages:
            if isinstance(message, dict) and message.get("s3_key"):
                self.s3.put_object(Bucket=BUCKET, Key=message["s3_key"],
                                   Body=photo or samples.encoded(samples.scene(640, 480, noise=5), "JPEG"))
            self.sqs.send_message(QueueUrl=self.url,
                                  MessageBody=message if isinstance(message, str) else json.dumps(message))

    def visible(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def make_review_queue(sqs, s3, name: str = "reviews") -> ReviewQueue:
    dead_letter_url = sqs.create_queue(QueueName=f"{name}-dead-letter")["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url,
                                               AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": "300",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": "10"})})["QueueUrl"]
    s3.create_bucket(Bucket=BUCKET)
    return ReviewQueue(sqs, s3, url, dead_letter_url)


@pytest.fixture
def aws_credentials(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
