"""Every state machine rides out a burst: each Lambda Task retries Lambda's throttling long enough
and spread out, on a retrier of its own, within the machine's own time limit."""
import json

import pytest

import settings

THROTTLED = "Lambda.TooManyRequestsException"
DEFINITIONS = sorted((settings.PROJECT_ROOT / "statemachine").glob("*.asl.json"))


def lambda_tasks(states: dict):
    for name, state in states.items():
        if state.get("Resource") == "arn:aws:states:::lambda:invoke":
            yield name, state
        if "ItemProcessor" in state:
            yield from lambda_tasks(state["ItemProcessor"]["States"])


def longest_wait(rule: dict) -> float:
    """All the waits of a retrier at their longest (full jitter draws each below its ceiling)."""
    return sum(min(rule["IntervalSeconds"] * rule["BackoffRate"] ** attempt, rule.get("MaxDelaySeconds", float("inf")))
               for attempt in range(rule["MaxAttempts"]))


def test_the_definitions_have_lambda_tasks():
    assert len(DEFINITIONS) == 5
    assert all(list(lambda_tasks(json.loads(path.read_text())["States"])) for path in DEFINITIONS)


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda path: path.name.split(".")[0])
def test_every_lambda_task_retries_throttling_for_minutes_with_full_jitter(path):
    definition = json.loads(path.read_text())

    for name, state in lambda_tasks(definition["States"]):
        [rule] = [rule for rule in state["Retry"] if THROTTLED in rule["ErrorEquals"]]
        assert rule["ErrorEquals"] == [THROTTLED], name  # its own retrier: other Lambda errors retry briefly
        assert (rule["JitterStrategy"], rule["MaxAttempts"]) == ("FULL", 20), name
        assert 600 <= longest_wait(rule) < definition["TimeoutSeconds"], name
