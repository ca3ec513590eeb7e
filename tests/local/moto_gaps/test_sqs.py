"""local/moto_gaps/sqs.py: moto still scans a queue's messages on every attribute read, and bridged it
does not, while GetQueueAttributes still counts the messages right.

The plain-moto test failing after a moto upgrade means moto fixed the gap: remove the bridge.
"""
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.sqs import models as sqs_models

from local import moto_gaps
from tests.local.moto_gaps import BRIDGED, IDS, moto

MESSAGES = 30


def counting_scans():
    """Patches Queue.approximate_number_of_messages (a walk over every message) to count its calls."""
    scans = []
    walk = sqs_models.Queue.approximate_number_of_messages.fget

    def counted(queue):
        scans.append(queue.name)
        return walk(queue)
    return scans, mock.patch.object(sqs_models.Queue, "approximate_number_of_messages", property(counted))


def queue_with_messages(sqs) -> str:
    url = sqs.create_queue(QueueName="decisions")["QueueUrl"]
    for start in range(0, MESSAGES, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(number), "MessageBody": f"m{start + number}"}
                                                      for number in range(10)])
    return url


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_sending_and_receiving_scan_the_queue_only_in_plain_moto(bridged):
    with mock_aws(), moto(bridged):
        sqs = boto3.client("sqs")
        url = queue_with_messages(sqs)
        scans, counting = counting_scans()
        with counting:
            sqs.send_message(QueueUrl=url, MessageBody="one more")
            received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

        assert len(received) == 10
        if bridged:
            assert scans == []
        else:  # one scan for the send, and one for each message received
            assert len(scans) >= 1 + len(received)


def test_bridged_queue_attributes_still_count_the_messages():
    with mock_aws(), moto_gaps.bridged():
        sqs = boto3.client("sqs")
        url = queue_with_messages(sqs)
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=4, VisibilityTimeout=60)

        everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        one = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]

    assert (everything["ApproximateNumberOfMessages"], everything["ApproximateNumberOfMessagesNotVisible"],
            everything["ApproximateNumberOfMessagesDelayed"]) == (str(MESSAGES - 4), "4", "1")
    assert one == {"ApproximateNumberOfMessages": str(MESSAGES - 4)}
    assert everything["MessageRetentionPeriod"] == "345600" and everything["QueueArn"].endswith(":decisions")
