"""The review desk against moto: claims, skips, answers written once, undo, bad requests set aside."""
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

import settings
from monitoring import ground_truth, storage
from reviewing import desk as desk_module
from reviewing.desk import Desk, DeskError
from tests.reviewing.conftest import BUCKET, make_review_queue, request


@pytest.fixture
def queue(aws_credentials):
    with mock_aws():
        yield make_review_queue(boto3.client("sqs"), boto3.client("s3"))


@pytest.fixture
def desk(queue, tmp_path):
    return Desk(queue.sqs, queue.s3, queue.url, tmp_path / "ground-truth")


def records(desk: Desk) -> list:
    return [json.loads(line) for _, line in storage.iter_jsonl_lines(desk.ground_truth)]


def test_desk_claim_hides_the_request_from_a_second_reviewer(queue, desk):
    queue.put(request("id-1"), request("id-2"))

    first, second, third = desk.claim(), desk.claim(), desk.claim()

    assert {first["inference_id"], second["inference_id"]} == {"id-1", "id-2"}
    assert third is None


def test_desk_skip_makes_the_request_visible_at_once(queue, desk):
    queue.put(request("id-1"))
    task = desk.claim()

    desk.skip(task["token"])

    assert desk.claim()["inference_id"] == "id-1"


def test_desk_answer_writes_ground_truth_then_deletes_the_message(queue, desk):
    queue.put(request("id-1"))
    claimed = datetime.now(timezone.utc)
    desk.clock = lambda: claimed
    task = desk.claim()
    desk.clock = lambda: claimed + timedelta(seconds=10)  # the page claimed it ahead; shown for 2.5 s

    desk.answer(task["token"], "motorcycle", "ann", seconds_on_screen=2.5)

    labels, skipped = ground_truth.read_ground_truth(desk.ground_truth)
    assert (labels, sum(skipped.values())) == ({"id-1": "motorcycle"}, 0)
    (record,) = records(desk)
    (answer,) = record["humanAnswers"]
    assert answer["workerId"] == "ann" and answer["answerContent"] == {"label": "motorcycle"}
    assert answer["timeSpentInSeconds"] == 2.5
    assert answer["submissionTime"] == desk_module.iso(claimed + timedelta(seconds=10))
    assert answer["acceptanceTime"] == desk_module.iso(claimed + timedelta(seconds=7.5))
    assert record["inputContent"]["s3_key"] == "drivers/id-1.jpg"
    assert queue.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessagesNotVisible"] == "0"
    assert desk.claim() is None


def test_desk_answer_given_twice_is_written_once(queue, desk):
    queue.put(request("id-1"))
    task = desk.claim()

    desk.answer(task["token"], "bicycle", "ann")
    desk.answer(task["token"], "bicycle", "ann")

    (record,) = records(desk)
    assert len(record["humanAnswers"]) == 1
    assert desk.answered_today("ann") == 1


def test_desk_the_same_request_delivered_twice_keeps_one_record(queue, desk):
    queue.put(request("id-1"))
    task = desk.claim()
    desk.skip(task["token"])
    again = desk.claim()

    desk.answer(task["token"], "bicycle", "ann")
    desk.answer(again["token"], "bicycle", "bob")

    assert len(records(desk)) == 1


def test_desk_undo_then_answer_again_rewrites_the_record_and_keeps_both_answers(queue, desk):
    queue.put(request("id-1"))
    answered = desk.answer(desk.claim()["token"], "bicycle", "ann")

    undone = desk.undo(answered["answer_id"], "ann")
    assert undone["undone"] == "bicycle" and undone["inference_id"] == "id-1" and "photo_url" in undone
    assert ground_truth.read_ground_truth(desk.ground_truth)[0] == {"id-1": "bicycle"}  # nothing lost meanwhile
    desk.answer_again(undone["token"], "motorcycle", "ann")

    (record,) = records(desk)
    assert ground_truth.read_ground_truth(desk.ground_truth)[0] == {"id-1": "motorcycle"}
    assert [answer["answerContent"]["label"] for answer in record["humanAnswers"]] == ["bicycle", "motorcycle"]
    assert desk.answered_today("ann") == 1


@pytest.mark.parametrize("answer_id", ["../../etc/passwd", "2026/12/07/12/other-file.jsonl", "", None],
                         ids=["outside", "not-a-review", "empty", "none"])
def test_desk_undo_refuses_what_is_not_its_answer(desk, answer_id):
    with pytest.raises(DeskError):
        desk.undo(answer_id, "ann")


def test_desk_undo_refuses_another_reviewers_answer(queue, desk):
    queue.put(request("id-1"))
    answered = desk.answer(desk.claim()["token"], "bicycle", "ann")

    with pytest.raises(DeskError, match="only the reviewer"):
        desk.undo(answered["answer_id"], "bob")


def test_desk_audit_hides_the_models_answer_and_a_review_shows_it(queue, desk):
    queue.put(request("id-1", kind="audit", label="motorcycle", confidence=0.99), request("id-2", confidence=0.81))

    audit, review = desk.claim(), desk.claim()

    assert audit["kind"] == settings.AUDIT_REQUEST and "model_label" not in audit and "model_confidence" not in audit
    assert "0.99" not in json.dumps({key: value for key, value in audit.items() if key != "token"})
    assert (review["model_label"], review["model_confidence"]) == ("bicycle", 0.81)


@pytest.mark.parametrize("message, problem", [
    ('{"kind": "review"}', desk_module.NO_INFERENCE_ID),
    ("not json at all", desk_module.NO_INFERENCE_ID),
    ({"kind": "review", "inference_id": "id-9"}, desk_module.NO_PHOTO),
], ids=["no-inference-id", "not-json", "no-photo"])
def test_desk_bad_request_is_shown_with_its_reason_and_set_aside(queue, desk, message, problem):
    queue.put(message if isinstance(message, str) else json.dumps(message))

    task = desk.claim()
    assert task["problem"] == problem and "photo_url" not in task
    desk.set_aside(task["token"], task["problem"])

    assert desk.claim() is None
    (dead,) = queue.sqs.receive_message(QueueUrl=queue.dead_letter_url, MessageAttributeNames=["All"])["Messages"]
    assert dead["MessageAttributes"][desk_module.SET_ASIDE_REASON_ATTRIBUTE]["StringValue"] == problem


def test_desk_photo_gone_from_s3_is_a_bad_request_that_does_not_block_the_next(queue, desk):
    queue.put(request("id-1"), request("id-2"))
    queue.s3.delete_object(Bucket=BUCKET, Key="drivers/id-1.jpg")

    first, second = desk.claim(), desk.claim()

    assert first["problem"] == desk_module.PHOTO_GONE
    assert "problem" not in second and second["photo_url"]
    with pytest.raises(DeskError):
        desk.answer(first["token"], "maybe", "ann")


def test_desk_waiting_and_answered_today_per_reviewer(queue, desk):
    queue.put(request("id-1"), request("id-2"), request("id-3"))
    desk.answer(desk.claim()["token"], "bicycle", "ann")
    desk.answer(desk.claim()["token"], "bicycle", "bob")

    assert desk.waiting() == 1
    assert (desk.answered_today("ann"), desk.answered_today("bob"), desk.answered_today("cy")) == (1, 1, 0)


def test_desk_record_lands_in_the_hour_the_request_was_queued(queue, desk):
    later = datetime.now(timezone.utc) + timedelta(hours=3)
    desk.clock = lambda: later
    queue.put(request("id-1"))

    answered = desk.answer(desk.claim()["token"], "bicycle", "ann")

    assert answered["answer_id"].startswith(f"{datetime.now(timezone.utc):%Y/%m/%d/%H}/review-id-1")


def test_desk_answer_refuses_an_unknown_label(queue, desk):
    queue.put(request("id-1"))

    with pytest.raises(DeskError, match="unknown answer"):
        desk.answer(desk.claim()["token"], "car", "ann")


def test_desk_answers_are_what_the_learning_cycle_assembles_unchanged(queue, desk, tmp_path):
    # GIVEN three captured photos, answered on the desk (one undone and answered again, one set aside)
    from monitoring import capture_format
    from training import dataset
    from imaging import samples as sample_photos
    photos = {f"id-{number}": sample_photos.encoded(sample_photos.scene(64 + number, 48, noise=3, seed=number), "PNG")
              for number in range(3)}
    captured = tmp_path / "captures" / capture_format.capture_key("", "ep", "AllTraffic", datetime.now(timezone.utc))
    captured.parent.mkdir(parents=True)
    captured.write_text("".join(capture_format.to_jsonl_line(capture_format.build_capture_record(
        body, "image/png", b"[0.6, 0.4]", "application/json", inference_id=inference_id))
        for inference_id, body in photos.items()))
    queue.put(*(request(inference_id) for inference_id in photos), '{"kind": "review"}')
    answers = {"id-0": "bicycle", "id-1": "motorcycle", "id-2": settings.NOT_A_VEHICLE}
    for _ in range(4):
        task = desk.claim()
        if task.get("problem"):
            desk.set_aside(task["token"], task["problem"])
        else:
            given = desk.answer(task["token"], "bicycle" if task["inference_id"] == "id-1" else answers[task["inference_id"]],
                                "ann")
            if task["inference_id"] == "id-1":
                desk.answer_again(desk.undo(given["answer_id"], "ann")["token"], "motorcycle", "ann")

    # WHEN the retraining pipeline's first step assembles its channel from that ground truth
    document = dataset.build(desk.ground_truth, tmp_path / "captures", tmp_path / "channel", holdout_share=0.0)

    # THEN every answer is a labelled photo, with its latest answer
    assert document["counts"][dataset.REVIEWED_CHANNEL] == {"bicycle": 1, "motorcycle": 1, settings.NOT_A_VEHICLE: 1}


def test_desk_release_all_gives_back_what_it_claimed_and_nobody_answered(queue, desk):
    desk.track_claims = True
    queue.put(request("id-1"), request("id-2"), request("id-3"))
    answered, skipped, held = desk.claim(), desk.claim(), desk.claim()
    desk.answer(answered["token"], "bicycle", "ann")
    desk.skip(skipped["token"])

    assert desk.release_all() == 1
    assert queue.visible() == 2 and held["inference_id"] != answered["inference_id"]


def test_desk_answer_again_keeps_what_the_record_was_about_and_its_reviewer(queue, desk):
    queue.put(request("id-1"))
    answered = desk.answer(desk.claim()["token"], "bicycle", "ann")
    undone = desk.undo(answered["answer_id"], "ann")
    tampered = desk_module.encode_token({**desk_module.decode_token(undone["token"]),
                                         "body": {"inference_id": "someone-else"}})

    with pytest.raises(DeskError, match="only the reviewer"):
        desk.answer_again(undone["token"], "motorcycle", "bob")
    desk.answer_again(tampered, "motorcycle", "ann")

    assert ground_truth.read_ground_truth(desk.ground_truth)[0] == {"id-1": "motorcycle"}
