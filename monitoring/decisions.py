"""Watch the decisions bus: each DriverRouted and DriverNeedsReview event, one line as it arrives.

    python -m monitoring.decisions --bus vehicle-routing-dev-decisions [--seconds 60]

An EventBridge bus cannot be read directly, so this subscribes the way dispatch does: a rule of
its own on the bus and a queue of its own as the rule's target, both removed again when it stops
(Ctrl-C, SIGTERM, or after --seconds). Events published before it started are not shown.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import uuid
from typing import Callable, Optional

import settings

POLL_SECONDS = 2


class WatchError(Exception):
    """Something the person watching can fix (no such bus, no credentials)."""


class Subscription:
    """A temporary rule on the bus delivering the service's events to a temporary queue."""

    def __init__(self, events, sqs, bus: str):
        self.events, self.sqs, self.bus = events, sqs, bus
        self.name = f"watch-decisions-{uuid.uuid4().hex[:8]}"
        self.queue_url: Optional[str] = None

    def __enter__(self) -> "Subscription":
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
        try:
            self.events.describe_event_bus(Name=self.bus)
        except EndpointConnectionError as error:
            raise WatchError(f"cannot reach {error.kwargs.get('endpoint_url')} (offline: is `python -m local.aws` "
                             f"running?)") from None
        except NoCredentialsError:
            raise WatchError("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE "
                             "(offline: the export lines `python -m local.aws` prints)") from None
        except ClientError as error:
            raise WatchError(f"no event bus {self.bus!r} ({error.response['Error']['Code']}): use the "
                             f"DecisionBusName output of `sls deploy`") from None
        try:
            self.queue_url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
            queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                                      AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            pattern = json.dumps({"source": [settings.DECISION_EVENT_SOURCE]})
            rule_arn = self.events.put_rule(Name=self.name, EventBusName=self.bus, EventPattern=pattern)["RuleArn"]
            self.sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
                    "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
            self.events.put_targets(Rule=self.name, EventBusName=self.bus, Targets=[{"Id": "watch", "Arn": queue_arn}])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        for remove in (lambda: self.events.remove_targets(Rule=self.name, EventBusName=self.bus, Ids=["watch"]),
                       lambda: self.events.delete_rule(Name=self.name, EventBusName=self.bus),
                       lambda: self.queue_url and self.sqs.delete_queue(QueueUrl=self.queue_url)):
            try:
                remove()
            except Exception:  # noqa: BLE001 - remove what exists; a missing part is not an error here
                pass

    def arrived(self, wait_seconds: int = POLL_SECONDS) -> list:
        from botocore.exceptions import ClientError, EndpointConnectionError
        try:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=wait_seconds).get("Messages", [])
        except EndpointConnectionError as error:  # the stand-in was stopped, or the network went
            raise WatchError(f"lost {error.kwargs.get('endpoint_url')} while watching {self.bus}") from None
        except ClientError as error:  # someone removed the temporary queue (or the stack with the bus)
            raise WatchError(f"the watch queue {self.queue_url} went away "
                             f"({error.response['Error']['Code']}); start watching again") from None
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(message["Body"]) for message in messages]


def describe(event: dict) -> str:
    detail = event.get("detail", {})
    kind = event.get("detail-type", "?")
    if kind == settings.DRIVER_ROUTED:
        return (f"{event.get('time', '')} {kind} {detail.get('image')}: {detail.get('label')} "
                f"({detail.get('confidence', 0):.4f}) -> {detail.get('route')} orders")
    model = (f"model: {detail['label']}, {detail['confidence']:.4f}" if detail.get("label") is not None
             else "no model answer")
    return f"{event.get('time', '')} {kind} {detail.get('image')}: {detail.get('reason')} ({model})"


def watch(subscription: Subscription, seconds: Optional[float], show: Callable[[str], None] = print) -> int:
    deadline = None if seconds is None else time.monotonic() + seconds
    count = 0
    while deadline is None or time.monotonic() < deadline:
        for event in subscription.arrived():
            show(describe(event))
            count += 1
    return count


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitoring.decisions",
                                     description="Print the routing decisions (DriverRouted) and requests for a person "
                                                 "(DriverNeedsReview) published on the decisions bus, as they arrive.")
    parser.add_argument("--bus", required=True, help="the stack's DecisionBusName output")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    import boto3
    session = boto3.Session()
    try:
        with Subscription(session.client("events"), session.client("sqs"), args.bus) as subscription:
            print(f"Watching {args.bus} (Ctrl-C stops; the temporary rule and queue are removed)", flush=True)
            count = watch(subscription, args.seconds)
            print(f"{count} event(s) in {args.seconds:g} s.", file=sys.stderr)
    except WatchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
