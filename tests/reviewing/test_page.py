"""The review page in a real browser (Debian's chromium, headless) against the AWS stand-in on 127.0.0.1.

One browser for the module; each test has its own queue and page server. A missing browser fails
these tests (local/browser.py): they never skip. The screenshots in docs/review-page/ come from here:
`REVIEW_PAGE_SCREENSHOTS=docs/review-page .venv/bin/python -m pytest tests/reviewing/test_page.py`
refreshes them; a plain run writes its screenshots to a temporary folder, so tests never change the tree.
"""
import itertools
import json
import os
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from imaging import samples
from local import browser as local_browser
from local.aws import StandIn
from monitoring import ground_truth, storage
from reviewing import desk as desk_module
from reviewing.desk import Desk
from reviewing.serve import serving
from tests.reviewing.conftest import BUCKET, make_review_queue, request
import settings

SCREENSHOTS = Path(os.environ.get("REVIEW_PAGE_SCREENSHOTS") or tempfile.mkdtemp(prefix="review-page-"))
VIEWPORT = {"width": 1280, "height": 860}
_names = itertools.count()


@pytest.fixture(scope="module")
def aws():
    with StandIn(port=0) as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def browser():
    with local_browser.chromium() as chromium:
        yield chromium


@pytest.fixture
def queue(aws):
    return make_review_queue(aws.client("sqs"), aws.client("s3"), name=f"reviews-{next(_names)}")


@pytest.fixture
def desk(queue, tmp_path):
    return Desk(queue.sqs, queue.s3, queue.url, tmp_path / "ground-truth")


@pytest.fixture
def page_of(browser):
    """page_of(desk, reviewer): a fresh browser context with the page open for that reviewer."""
    opened = []

    def open_page(desk: Desk, reviewer: str = "ann"):
        server = serving(desk, reviewer)
        running = server.__enter__()
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        opened.append((server, context))
        page.goto(running.url)
        return page

    yield open_page
    for server, context in opened:
        context.close()
        server.__exit__(None, None, None)


def labels(desk: Desk) -> dict:
    return ground_truth.read_ground_truth(desk.ground_truth)[0]


def shown_id(page) -> str:
    return page.inner_text("#inference").removeprefix("inference ")


def photo_loaded(page) -> None:
    page.wait_for_function("() => { const p = document.getElementById('photo');"
                           " return !p.hidden && p.complete && p.naturalWidth > 0; }")


def on_screen(page) -> None:
    """Wait until the page shows a request or the empty queue (a key pressed before is ignored)."""
    page.wait_for_function("() => !document.getElementById('task').hidden || "
                           "!document.getElementById('empty').hidden")


def answer_one(page, key: str) -> str:
    """Press the key on the request shown, wait for the next (or the empty queue); the id answered."""
    on_screen(page)
    current = shown_id(page)
    page.keyboard.press(key)
    page.wait_for_function(f"() => document.getElementById('empty').offsetParent !== null || "
                           f"document.getElementById('inference').textContent !== 'inference {current}'")
    return current


def answer_until_empty(page, key: str, most: int = 10) -> list:
    """Answer with this key until the queue is empty; the inference ids answered."""
    answered = []
    for _ in range(most):
        on_screen(page)
        if page.locator("#empty").is_visible():
            return answered
        answered.append(answer_one(page, key))
    raise AssertionError(f"the queue was not empty after {most} answers")


def test_page_answers_by_click_and_by_key(queue, desk, page_of):
    queue.put(request("id-1", confidence=0.8123), request("id-2"), photo=samples.phone_jpeg(1600, 1200))
    page = page_of(desk)

    expect(page.locator("#inference")).to_have_text("inference id-1")
    photo_loaded(page)
    expect(page.locator("#model-guess")).to_have_text("The model says bicycle at 0.8123")
    expect(page.locator("#counts")).to_contain_text("0 answered by ann today")
    page.screenshot(path=str(SCREENSHOTS / "review.png"))
    page.get_by_role("button", name="2 Motorcycle").click()
    expect(page.locator("#inference")).to_have_text("inference id-2")
    page.keyboard.press("3")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#counts")).to_contain_text("2 answered by ann today")

    assert labels(desk) == {"id-1": "motorcycle", "id-2": settings.NOT_A_VEHICLE}
    assert queue.visible() == 0
    page.screenshot(path=str(SCREENSHOTS / "empty-queue.png"))


def test_page_skip_gives_the_request_back_and_undo_brings_the_last_answer_back(queue, desk, page_of):
    queue.put(request("id-1"), request("id-2"), request("id-3"))
    page = page_of(desk)
    expect(page.locator("#inference")).to_have_text("inference id-1")

    page.keyboard.press("s")
    expect(page.locator("#inference")).to_have_text("inference id-2")
    page.keyboard.press("1")
    expect(page.locator("#inference")).not_to_have_text("inference id-2")
    after_answer = shown_id(page)
    page.keyboard.press("z")
    expect(page.locator("#inference")).to_have_text("inference id-2")
    expect(page.locator("#why")).to_contain_text("you had answered bicycle")
    assert labels(desk) == {"id-2": "bicycle"}  # kept until answered again
    page.keyboard.press("2")
    expect(page.locator("#inference")).to_have_text(f"inference {after_answer}")  # the one undo pushed aside

    assert labels(desk) == {"id-2": "motorcycle"}
    (record,) = [json.loads(line) for _, line in storage.iter_jsonl_lines(desk.ground_truth)]
    assert [answer["answerContent"]["label"] for answer in record["humanAnswers"]] == ["bicycle", "motorcycle"]
    answer_until_empty(page, "1")
    assert set(labels(desk)) == {"id-1", "id-2", "id-3"}  # the skipped one came round again


def test_page_audit_hides_the_models_answer(queue, desk, page_of):
    queue.put(request("id-audit", kind="audit", label="motorcycle", confidence=0.9987),
              photo=samples.phone_jpeg(1600, 1200))
    page = page_of(desk)

    expect(page.locator("#why")).to_contain_text("Audit of a routed driver")
    photo_loaded(page)
    expect(page.locator("#model-guess")).to_be_hidden()
    assert "0.9987" not in page.content() and "motorcycle at" not in page.inner_text("body")
    page.screenshot(path=str(SCREENSHOTS / "audit.png"))


def test_page_shows_an_unusable_photo_with_its_reasons(queue, desk, page_of):
    unusable = {**request("id-dark", reason="UnusableImage", confidence=0.64), "unusable_reasons": ["too_dark"]}
    queue.put(unusable, photo=samples.encoded(samples.uniform_image((12, 12, 14), (1600, 1200)), "JPEG"))
    page = page_of(desk)

    expect(page.locator("#why")).to_have_text("Review: the photo looked unusable (too_dark)")
    photo_loaded(page)
    page.screenshot(path=str(SCREENSHOTS / "unusable-photo.png"))
    page.keyboard.press("3")
    expect(page.locator("#empty")).to_be_visible()
    assert labels(desk) == {"id-dark": settings.NOT_A_VEHICLE}


def test_page_two_reviewers_never_share_a_request(queue, desk, page_of):
    ids = [f"id-{number}" for number in range(6)]
    queue.put(*(request(inference_id) for inference_id in ids))
    ann, bob = page_of(desk, "ann"), page_of(desk, "bob")
    seen = {"ann": [], "bob": []}

    expect(bob.locator("#inference")).to_be_visible()
    for _ in range(len(ids)):
        for name, page in (("ann", ann), ("bob", bob)):
            if page.locator("#task").is_visible():
                seen[name].append(answer_one(page, "1"))

    assert not set(seen["ann"]) & set(seen["bob"])
    assert sorted(seen["ann"] + seen["bob"]) == ids
    records = [json.loads(line) for _, line in storage.iter_jsonl_lines(desk.ground_truth)]
    assert {record["eventMetadata"]["eventId"]: record["humanAnswers"][0]["workerId"] for record in records} == \
        {inference_id: name for name in seen for inference_id in seen[name]}


def test_page_photo_deleted_from_s3_is_set_aside_and_the_queue_goes_on(queue, desk, page_of):
    queue.put(request("id-gone"), request("id-2"))
    queue.s3.delete_object(Bucket=BUCKET, Key="drivers/id-gone.jpg")
    page = page_of(desk)

    expect(page.locator("#problem")).to_contain_text(desk_module.PHOTO_GONE)
    expect(page.get_by_role("button", name="1 Bicycle")).to_be_disabled()
    page.keyboard.press("1")  # no answer for a photo nobody can see
    page.keyboard.press("x")
    expect(page.locator("#inference")).to_have_text("inference id-2")
    page.keyboard.press("1")
    expect(page.locator("#empty")).to_be_visible()

    assert labels(desk) == {"id-2": "bicycle"}
    (dead,) = queue.sqs.receive_message(QueueUrl=queue.dead_letter_url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead["Body"])["inference_id"] == "id-gone"
    assert dead["MessageAttributes"][desk_module.SET_ASIDE_REASON_ATTRIBUTE]["StringValue"] == desk_module.PHOTO_GONE


def test_page_served_by_the_review_command_against_the_stand_in(aws, queue, browser, tmp_path):
    import os
    import subprocess
    import sys
    queue.put(request("id-1"), request("id-2", kind="audit"))
    command = subprocess.Popen(
        [sys.executable, "-m", "monitoring.review", "--web", "--queue", queue.url, "--ground-truth",
         str(tmp_path / "truth"), "--reviewer", "cli-reviewer"], cwd=settings.PROJECT_ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **aws.client_environment()})
    try:
        first_line = command.stdout.readline()
        assert first_line.startswith("Review page: http://127.0.0.1:"), first_line
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(first_line.split()[2])
        expect(page.locator("#reviewer")).to_have_text("cli-reviewer")
        answered = answer_until_empty(page, "2")
        context.close()
    finally:
        command.terminate()
        command.wait(timeout=30)

    assert sorted(answered) == ["id-1", "id-2"]
    assert ground_truth.read_ground_truth(tmp_path / "truth")[0] == {"id-1": "motorcycle", "id-2": "motorcycle"}


def test_page_left_open_by_the_run_then_the_rest_back_on_the_queue(aws, queue, browser, tmp_path, capsys):
    from local import loop
    queue.put(request("id-1"), request("id-2", kind="audit"), request("id-3"))

    def person_answers_two() -> None:
        page = browser.new_page(viewport=VIEWPORT)
        printed = capsys.readouterr().out.splitlines()
        page.goto(next(line for line in printed if "Review page:" in line).split()[2])
        answer_one(page, "1")
        answer_one(page, "2")
        page.close()

    kinds = loop.answer_in_the_page(queue.sqs, queue.s3, queue.url, tmp_path / "truth", "newcomer",
                                    wait=person_answers_two)

    assert sum(kinds.values()) == 2
    assert len(ground_truth.read_ground_truth(tmp_path / "truth")[0]) == 2
    assert queue.visible() == 1  # the one the page held ahead went back at once
