"""monitoring.review end to end against moto: the review queue, the photos in S3, ground truth written."""
import json

import boto3
import pytest
from moto import mock_aws

import settings
from monitoring import review, storage
from monitoring.ground_truth import parse_ground_truth_line
from imaging import samples

BUCKET = "vehicle-routing-test-images"


@pytest.fixture
def aws(aws_credentials):
    with mock_aws():
        yield


def request(inference_id: str, kind: str = "review", label: str = "bicycle", reason: str = "ConfidenceBelowThreshold",
            key: str = None) -> dict:
    """A message as the state machine's Request Review / Request Audit states send it."""
    key = key or f"drivers/{inference_id}.png"
    return {"kind": kind, "reason": reason if kind == "review" else "Audit", "image": f"s3://{BUCKET}/{key}",
            "s3_bucket": BUCKET, "s3_key": key, "inference_id": inference_id, "label": label, "confidence": 0.7,
            "unusable_reasons": [], "execution": "arn:aws:states:us-east-1:123456789012:execution:x:1"}


def review_queue(name: str, messages, visibility_seconds: int = 300) -> str:
    """A review queue holding these messages in order (requests as dicts, anything else as text),
    each request's photo in the images bucket."""
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility_seconds)})["QueueUrl"]
    s3.create_bucket(Bucket=BUCKET)
    for message in messages:
        if isinstance(message, dict) and "s3_key" in message:
            s3.put_object(Bucket=BUCKET, Key=message["s3_key"],
                          Body=samples.encoded(samples.scene(640, 480, noise=5), "JPEG"))
        sqs.send_message(QueueUrl=url, MessageBody=message if isinstance(message, str) else json.dumps(message))
    return url


@pytest.fixture
def queue(aws):
    """The review queue with three requests whose photos are in the images bucket."""
    return review_queue("reviews", [request("id-1"), request("id-2", kind="audit", label="motorcycle"),
                                    request("id-3")])


def visible_messages(url: str) -> list:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"])["inference_id"] for message in messages]


def written_ground_truth(directory) -> dict:
    return dict(parse_ground_truth_line(line, settings.REVIEW_LABELS) for _, line in storage.iter_jsonl_lines(directory))


def test_review_with_labels_writes_ground_truth_deletes_answered_and_returns_the_rest(queue, tmp_path, capsys):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"inference_id": "id-1", "label": "bicycle"}\n'
                      '{"inference_id": "id-2", "label": "motorcycle"}\n')

    status = review.main(["--queue", queue, "--labels", str(labels), "--ground-truth", str(tmp_path / "truth"),
                          "--page", str(tmp_path / "page"), "--wait", "0"])

    printed = capsys.readouterr().out
    assert status == 0
    assert written_ground_truth(tmp_path / "truth") == {"id-1": "bicycle", "id-2": "motorcycle"}
    assert visible_messages(queue) == ["id-3"]  # skipped: back on the queue at once
    assert "Answered 2 (1 bicycle, 1 motorcycle), skipped 1." in printed
    assert "Audits: 1 of 1 routed drivers were routed right." in printed


def test_review_page_shows_each_photo_and_its_answer(queue, tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"inference_id": "id-1", "label": "not_a_vehicle"}\n')

    review.main(["--queue", queue, "--labels", str(labels), "--ground-truth", str(tmp_path / "truth"),
                 "--page", str(tmp_path / "page"), "--wait", "0"])

    page = (tmp_path / "page" / "index.html").read_text()
    thumbnails = sorted((tmp_path / "page").glob("*.jpg"))
    assert len(thumbnails) == 3 and all(path.stat().st_size > 1000 for path in thumbnails)
    assert 'http-equiv="refresh"' in page and "not_a_vehicle" in page and f"s3://{BUCKET}/drivers/id-1.png" in page
    assert written_ground_truth(tmp_path / "truth") == {"id-1": "not_a_vehicle"}


def test_review_asks_a_person_and_stops_on_quit_keeping_what_was_answered(queue, tmp_path, monkeypatch, capsys):
    replies = iter(["x", "b", "s", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(replies))

    status = review.main(["--queue", queue, "--ground-truth", str(tmp_path / "truth"), "--page",
                          str(tmp_path / "page"), "--wait", "0"])

    assert status == 130
    assert "please answer b, m, n, s or q" in capsys.readouterr().out
    assert written_ground_truth(tmp_path / "truth") == {"id-1": "bicycle"}
    assert sorted(visible_messages(queue)) == ["id-2", "id-3"]


def test_review_a_person_holds_only_the_request_in_front_of_them(queue, tmp_path, monkeypatch):
    visible_to_a_second_reviewer = []

    def person(prompt):
        visible_to_a_second_reviewer.append(boto3.client("sqs").get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
        return "q"
    monkeypatch.setattr("builtins.input", person)

    review.main(["--queue", queue, "--ground-truth", str(tmp_path / "truth"), "--page", str(tmp_path / "page"),
                 "--wait", "0"])

    assert visible_to_a_second_reviewer == ["2"]


def test_review_stops_after_max_answers(queue, tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"inference_id": f"id-{n}", "label": "bicycle"}) + "\n" for n in (1, 2, 3)))

    review.main(["--queue", queue, "--labels", str(labels), "--ground-truth", str(tmp_path / "truth"),
                 "--page", str(tmp_path / "page"), "--max", "2", "--wait", "0"])

    assert len(written_ground_truth(tmp_path / "truth")) == 2 and len(visible_messages(queue)) == 1


def test_review_refuses_a_queue_that_is_not_there(aws, tmp_path, capsys):
    status = review.main(["--queue", "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue",
                          "--ground-truth", str(tmp_path), "--page", str(tmp_path / "page"), "--wait", "0"])

    assert status == 2
    assert "no review queue at https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue" in capsys.readouterr().err
    assert not (tmp_path / "page").exists()  # a session that showed nothing leaves no page behind


def test_review_says_when_there_are_no_credentials(tmp_path, monkeypatch, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    status = review.main(["--queue", "https://sqs.us-east-1.amazonaws.com/123456789012/reviews", "--wait", "0"])

    assert status == 2
    assert capsys.readouterr().err.startswith("error: no AWS credentials")


def test_review_refuses_an_unknown_label_naming_its_line(queue, tmp_path, capsys):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"inference_id": "id-1", "label": "bicycle"}\n{"inference_id": "id-2", "label": "scooter"}\n')

    status = review.main(["--queue", queue, "--labels", str(labels), "--ground-truth", str(tmp_path / "truth")])

    error = capsys.readouterr().err
    assert status == 2
    assert "line 2" in error and "scooter" in error
    assert sorted(visible_messages(queue)) == ["id-1", "id-2", "id-3"]  # nothing answered, nothing deleted


def test_review_goes_on_past_messages_that_are_no_review_request_and_returns_them(aws, tmp_path):
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    queue = review_queue("odd-first", ["not json", {"kind": "review"}, request("id-1"), request("id-2"),
                                       request("id-3")])

    # One message at a time, as for a person: the odd ones must not end the session early.
    outcome = review.review(sqs, s3, queue, lambda request: "bicycle", tmp_path / "truth", wait_seconds=0,
                            batch_size=1, show=lambda line: None)

    assert written_ground_truth(tmp_path / "truth") == {"id-1": "bicycle", "id-2": "bicycle", "id-3": "bicycle"}
    assert (outcome.total_answered, outcome.skipped) == (3, 0)
    bodies = [message["Body"] for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(bodies) == sorted(["not json", json.dumps({"kind": "review"})])


def test_review_holds_a_skipped_request_that_comes_round_again_in_a_long_session(aws, tmp_path, monkeypatch):
    import time
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    url = review_queue("short-visibility", [request("id-1"), request("id-2"), request("id-3")], visibility_seconds=1)
    replies = iter(["s", "b", "b", "b"])

    def slow_person(prompt):
        time.sleep(1.2)  # longer than the visibility timeout: the skipped request comes round again
        return next(replies)
    monkeypatch.setattr("builtins.input", slow_person)

    outcome = review.review(sqs, s3, url, review.ask_person, tmp_path / "truth", wait_seconds=0, batch_size=1,
                            show=lambda line: None)

    assert (outcome.total_answered, outcome.skipped) == (2, 1)
    assert len(visible_messages(url)) == 1  # the skipped one, released with its newest receipt handle


@pytest.mark.parametrize("key, expected", [
    ("drivers/bicycle/a.jpg", "bicycle"), ("drivers/run/motorcycle/b.png", "motorcycle"),
    ("drivers/other/c.jpg", settings.NOT_A_VEHICLE), ("drivers/d.jpg", review.SKIP), ("", review.SKIP)],
    ids=["bicycle", "motorcycle", "other-is-not-a-vehicle", "no-answer-folder", "no-key"])
def test_answer_from_folder_reads_the_folder_a_photo_was_uploaded_under(key, expected):
    assert review.answer_from_folder(review.Request("handle", {"s3_key": key})) == expected


@pytest.mark.parametrize("arguments, message", [
    (["--web", "--labels", "answers.jsonl"], "--web is for people"),
    (["--web", "--labels-from-folders"], "--web is for people"),
    (["--reviewer", "ann"], "--reviewer and --port go with --web"),
    (["--web", "--reviewer", " "], "--reviewer must not be empty"),
    (["--web", "--port", "70000"], "--port must be between 0 and 65535"),
], ids=["web-and-labels", "web-and-folders", "reviewer-without-web", "blank-reviewer", "port-too-high"])
def test_review_web_arguments_that_cannot_go_together_exit_with_usage(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        review.parse_args(["--queue", "https://sqs.us-east-1.amazonaws.com/123456789012/reviews", *arguments])

    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_review_web_refuses_a_queue_that_is_not_there(aws, tmp_path, capsys):
    status = review.main(["--web", "--queue", "https://sqs.us-east-1.amazonaws.com/123456789012/nope",
                          "--ground-truth", str(tmp_path)])

    assert status == 2 and "no review queue" in capsys.readouterr().err
