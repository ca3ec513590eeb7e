"""onboardFleet's real ASL (a Distributed Map over chunks) executed by moto's interpreter with the real
handlers, deployed from the packaged template; the endpoint (moto's) answers by the photo's colour."""
import base64
import csv
import io
import json
from types import SimpleNamespace

import boto3
import pytest
from moto.sagemakerruntime.models import SageMakerRuntimeBackend
from PIL import Image

import settings
from handlers import onboarding
from local import deployment
from tests.handlers.doubles import SageMakerRuntimeError, assessment, image_bytes
from tests.statemachine.conftest import STAGE, Subscriber, drain

ONBOARD_OUTPUT = "OnboardFleetStateMachineArn"
# What the endpoint answers for a photo of each colour: routed both ways, unsure, unusable.
ANSWERS = {"blue": assessment(0.99, 0.01), "red": assessment(0.02, 0.98), "green": assessment(0.6, 0.4),
           "black": assessment(0.97, 0.03, reasons=["too dark (brightness 0 < 18 of 255)"], codes=["too_dark"])}
COLOURS = {"blue": (0, 0, 255), "red": (255, 0, 0), "green": (0, 128, 0), "black": (0, 0, 0)}


@pytest.fixture
def colour_endpoint(endpoint, monkeypatch):
    """The endpoint answers each photo by its colour (the middle pixel of what it is sent); `failures`
    lists errors the next calls raise first, and photos of a colour in `throttled` are always throttled."""
    state = SimpleNamespace(failures=[], throttled=set())

    def invoke_endpoint(backend, endpoint_name, unique_repr):
        if state.failures:
            raise state.failures.pop(0)
        body = json.loads(base64.b64decode(unique_repr))["Body"].encode("latin-1")
        with Image.open(io.BytesIO(body)) as image:
            pixel = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
        colour = min(COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOURS[name], pixel)))
        if colour in state.throttled:
            raise SageMakerRuntimeError("ThrottlingException", "Rate exceeded")
        return ANSWERS[colour], settings.ASSESSMENT_CONTENT_TYPE, "AllTraffic", None

    monkeypatch.setattr(SageMakerRuntimeBackend, "invoke_endpoint", invoke_endpoint)
    return state


@pytest.fixture
def onboard(workflow, packaged_service, dispatch):
    deployed = deployment.Deployment(deployment.stack_name(STAGE), _outputs())
    return deployed.workflow(output=ONBOARD_OUTPUT)


def _outputs() -> dict:
    [stack] = boto3.client("cloudformation").describe_stacks(StackName=deployment.stack_name(STAGE))["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def put(bucket: str, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def manifest(bucket: str, lines: list, name: str = "fleet.csv") -> str:
    key = f"{onboarding.MANIFESTS_PREFIX}/{name}"
    put(bucket, key, ("\n".join(["driver_id,s3_key", *lines]) + "\n").encode())
    return key


def report_of(bucket: str, output: dict) -> dict:
    key = output["report"].split(f"s3://{bucket}/", 1)[1]
    text = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return {row["driver_id"]: row for row in csv.DictReader(io.StringIO(text))}


def fleet(bucket: str, colours: dict) -> list:
    for driver, colour in colours.items():
        put(bucket, f"fleet/{driver}.png", image_bytes("PNG", size=(64, 48), color=colour))
    return [f"{driver},fleet/{driver}.png" for driver in colours]


def test_onboard_fleet_decides_good_rows_and_reports_bad_ones_without_stopping(onboard, colour_endpoint, dispatch,
                                                                               review_requests):
    bucket = onboard.images_bucket
    lines = fleet(bucket, {"d1": "blue", "d2": "red", "d3": "green", "d4": "black"})
    put(bucket, "fleet/not-a-photo.png", b"plain text, not an image")
    lines += ["d5,fleet/not-a-photo.png",                  # read, refused as the workflow refuses it: a person
              "d6,fleet/missing.png",                      # no such photo: failed before reading
              "d1,fleet/d2.png",                           # d1 listed twice: failed, the first line stands
              ",fleet/d1.png",                             # no driver
              "d7,"]                                       # no key

    result = onboard.run({"manifest_key": manifest(bucket, lines)}, timeout_seconds=120)

    assert result.status == "SUCCEEDED", result.cause
    rows = list(csv.DictReader(io.StringIO(boto3.client("s3").get_object(
        Bucket=bucket, Key=result.output["report"].split(f"{bucket}/", 1)[1])["Body"].read().decode())))
    assert len(rows) == 9 and [row["decision"] for row in rows] == [
        "routed", "routed", "review", "review", "review", "failed", "failed", "failed", "failed"]
    assert [row["reason"].split(":")[0] for row in rows[2:]] == [
        "ConfidenceBelowThreshold", "UnusableImage", "NotAnImage", "PhotoNotFound", "DuplicateDriver",
        "MissingDriverId", "MissingKey"]
    assert (rows[0]["label"], rows[0]["route"], rows[1]["label"], rows[1]["route"]) == ("bicycle", "near",
                                                                                     "motorcycle", "far")
    assert {key: result.output[key] for key in ("rows", "routed", "review", "failed", "events_published")} == {
        "rows": 9, "routed": 2, "review": 3, "failed": 4, "events_published": 5}
    events = dispatch.events()
    assert sorted((event["detail-type"], event["detail"]["driver_id"]) for event in events) == [
        ("DriverNeedsReview", "d3"), ("DriverNeedsReview", "d4"), ("DriverNeedsReview", "d5"),
        ("DriverRouted", "d1"), ("DriverRouted", "d2")]
    routed = next(event["detail"] for event in events if event["detail"]["driver_id"] == "d1")
    assert (routed["route"], routed["threshold"], routed["s3_key"]) == ("near", settings.DEFAULT_THRESHOLD, "fleet/d1.png")
    requests = review_requests()
    assert sorted((request["driver_id"], request["reason"]) for request in requests if request["kind"] == "review") == [
        ("d3", "ConfidenceBelowThreshold"), ("d4", "UnusableImage"), ("d5", "NotAnImage")]


def test_onboard_fleet_rerun_of_the_same_manifest_publishes_nothing_again(onboard, colour_endpoint, dispatch,
                                                                         review_requests):
    bucket = onboard.images_bucket
    key = manifest(bucket, fleet(bucket, {"d1": "blue", "d2": "green", "d3": "red"}))
    first = onboard.run({"manifest_key": key}, timeout_seconds=120)
    published, requested = dispatch.events(), review_requests()

    again = onboard.run({"manifest_key": key}, timeout_seconds=120)

    assert (first.status, again.status) == ("SUCCEEDED", "SUCCEEDED")
    assert (len(published), first.output["events_published"]) == (3, 3)
    assert (dispatch.events(), review_requests(), again.output["events_published"]) == ([], [], 0)
    assert again.output["decided_earlier"] == 3
    assert {d: r["decision"] for d, r in report_of(bucket, again.output).items()} == {
        d: r["decision"] for d, r in report_of(bucket, first.output).items()}
    assert len(requested) == 1


def test_onboard_fleet_retries_a_throttled_chunk_and_finishes_only_what_is_left(onboard, colour_endpoint, dispatch,
                                                                             retry_waits):
    bucket = onboard.images_bucket
    key = manifest(bucket, fleet(bucket, {f"d{number}": "blue" for number in range(6)}))
    colour_endpoint.failures.append(SageMakerRuntimeError("ThrottlingException", "Rate exceeded"))

    result = onboard.run({"manifest_key": key}, timeout_seconds=120)

    assert result.status == "SUCCEEDED", result.cause
    assert (result.output["routed"], result.output["failed"]) == (6, 0)
    events = dispatch.events()
    assert sorted(event["detail"]["driver_id"] for event in events) == [f"d{number}" for number in range(6)]
    assert retry_waits  # the state machine waited before trying the chunk again


def test_onboard_fleet_refuses_a_manifest_without_its_header(onboard, colour_endpoint):
    bucket = onboard.images_bucket
    put(bucket, f"{onboarding.MANIFESTS_PREFIX}/bad.csv", b"driver,photo\nd1,fleet/d1.png\n")

    result = onboard.run({"manifest_key": f"{onboarding.MANIFESTS_PREFIX}/bad.csv"}, timeout_seconds=60)

    assert (result.status, result.error) == ("FAILED", "InvalidManifest")
    assert "driver_id,s3_key" in result.error_message


def test_onboard_fleet_run_that_failed_half_way_is_finished_by_a_rerun_deciding_each_driver_once(
        onboard, colour_endpoint, dispatch):
    bucket = onboard.images_bucket
    key = manifest(bucket, fleet(bucket, {f"d{number}": "blue" if number % 2 else "red" for number in range(6)}))
    colour_endpoint.throttled.add("red")  # throttled through every retry of the chunk

    half = onboard.run({"manifest_key": key}, timeout_seconds=120)
    colour_endpoint.throttled.clear()
    heard_first = dispatch.events()
    rest = onboard.run({"manifest_key": key}, timeout_seconds=120)
    heard_then = dispatch.events()

    assert (half.status, half.output["routed"], half.output["failed"]) == ("SUCCEEDED", 3, 3)
    assert half.output["events_published"] == 3
    reasons = {driver: row["reason"] for driver, row in report_of(bucket, half.output).items()
               if row["decision"] == "failed"}
    assert sorted(reasons) == ["d0", "d2", "d4"] and all(reason.startswith("EndpointUnavailable")
                                                        for reason in reasons.values())
    assert (rest.status, rest.output["routed"], rest.output["failed"], rest.output["events_published"],
            rest.output["decided_earlier"]) == ("SUCCEEDED", 6, 0, 3, 3)
    drivers = sorted(event["detail"]["driver_id"] for event in heard_first + heard_then)
    assert drivers == [f"d{number}" for number in range(6)]


def test_onboard_fleet_decides_as_the_per_photo_workflow_does_on_the_same_photos(onboard, workflow, endpoint,
                                                                               monkeypatch):
    """A few hundred photos through both paths: the same label, confidence, decision and reason each."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    def invoke_endpoint(backend, endpoint_name, unique_repr):  # an answer that follows the photo's colour
        body = json.loads(base64.b64decode(unique_repr))["Body"].encode("latin-1")
        with Image.open(io.BytesIO(body)) as image:
            red, green, blue = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
        bicycle = round(red / 255, 3)
        reasons = ["too dark (brightness below 18 of 255)"] if max(red, green, blue) < 40 else []
        return (assessment(bicycle, round(1 - bicycle, 3), reasons=reasons, codes=["too_dark"] if reasons else []),
                settings.ASSESSMENT_CONTENT_TYPE, "AllTraffic", None)

    monkeypatch.setattr(SageMakerRuntimeBackend, "invoke_endpoint", invoke_endpoint)
    bucket, draw = onboard.images_bucket, random.Random(31)
    colours = {f"p{number:03d}": (draw.choice([0, 3, 8, 12, 30, 128, 242, 246, 250, 255]), draw.randrange(60),
                                  draw.randrange(60)) for number in range(240)}
    lines = fleet(bucket, colours)
    put(bucket, "fleet/broken.png", b"\x89PNG broken")
    lines.append("broken,fleet/broken.png")
    keys = {line.split(",")[0]: line.split(",")[1] for line in lines}

    def per_photo(driver):
        result = workflow.run({"s3_bucket": bucket, "s3_key": keys[driver]})
        if result.status == "SUCCEEDED":
            return driver, ("routed", result.output["label"], round(result.output["confidence"], 6), "")
        return driver, ("review", *_classified(result), result.error)

    with ThreadPoolExecutor(max_workers=4) as pool:
        expected = dict(pool.map(per_photo, keys))
    fleet_run = onboard.run({"manifest_key": manifest(bucket, lines)}, timeout_seconds=600)
    decided = {driver: (row["decision"], row["label"] or None,
                        round(float(row["confidence"]), 6) if row["confidence"] else None,
                        row["reason"].split(":", 1)[0]) for driver, row in report_of(bucket, fleet_run.output).items()}

    assert fleet_run.status == "SUCCEEDED" and len(decided) == len(keys) == 241
    assert decided == expected
    assert {outcome[3] for outcome in expected.values()} == {"", "ConfidenceBelowThreshold", "UnusableImage",
                                                             "NotAnImage"}


def _classified(result) -> tuple:
    """(label, confidence) a failed per-photo execution carried, from its history (None when never classified)."""
    events = boto3.client("stepfunctions").get_execution_history(executionArn=result.arn, reverseOrder=True)["events"]
    for event in events:
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails")
        if details:
            output = json.loads(details["output"])
            payload = output.get("Payload", output)
            if "confidence" in payload:
                return payload["label"], round(payload["confidence"], 6)
    return None, None
