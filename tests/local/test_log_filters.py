"""CloudWatch Logs' JSON filter patterns and metric transformations, as the stand-in applies them."""
import json

import pytest

from local import log_filters
from local.log_filters import FilterPatternError

# The patterns of the stack's metric filters (serverless.yml), on Step Functions' execution log lines.
UNEXPECTED = ('{ ($.type = "ExecutionFailed") && ($.details.error != "ConfidenceBelowThreshold") && '
              '($.details.error != "UnusableImage") }')
BY_ERROR = '{ $.type = "ExecutionFailed" }'


def execution_line(event_type: str, error: str = None) -> dict:
    return {"id": "12", "type": event_type, "details": {"error": error, "cause": "..."} if error else {},
            "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:machine:run"}


@pytest.mark.parametrize("line, unexpected, failed", [
    (execution_line("ExecutionFailed", "ImageNotFound"), True, True),
    (execution_line("ExecutionFailed", "ConfidenceBelowThreshold"), False, True),
    (execution_line("TaskFailed", "ImageNotFound"), False, False),
    (execution_line("ExecutionSucceeded"), False, False),
], ids=["a-system-failure", "sent-to-a-person", "a-task-retried", "a-success"])
def test_the_stacks_patterns_match_the_execution_lines_they_count(line, unexpected, failed):
    assert log_filters.compile_pattern(UNEXPECTED)(line) is unexpected
    assert log_filters.compile_pattern(BY_ERROR)(line) is failed


@pytest.mark.parametrize("pattern, event, matches", [
    ('{ ($.status = "a") || ($.status = "b") }', {"status": "b"}, True),
    ('{ $.latency > 250 && $.latency <= 300 }', {"latency": 300}, True),
    ('{ $.latency > 250 }', {"latency": "300"}, False),
    ('{ $.missing != "x" }', {}, False),
], ids=["or", "numbers", "text-is-no-number", "absent-field"])
def test_compile_pattern_comparisons_and_connectives(pattern, event, matches):
    assert log_filters.compile_pattern(pattern)(event) is matches


@pytest.mark.parametrize("pattern", ["ERROR", "[ip, user, status=404]", '{ $.error = "Image*" }',
                                     "{ $.error IS NULL }", '{ ($.a = "b" }', '{ $.a = "b" $.c = "d" }'],
                         ids=["term", "space-delimited", "wildcard", "is-null", "unbalanced", "no-connective"])
def test_compile_pattern_refuses_what_it_cannot_apply_faithfully(pattern):
    with pytest.raises(FilterPatternError):
        log_filters.compile_pattern(pattern)


def test_metric_value_takes_dimensions_from_the_event_and_a_default_when_it_does_not_match():
    matcher = log_filters.compile_pattern(BY_ERROR)
    by_error = {"metricValue": "1", "dimensions": {"Error": "$.details.error"}}
    counted = {"metricValue": "1", "defaultValue": 0}

    failed, succeeded = (json.dumps(execution_line("ExecutionFailed", "ModelError")),
                         json.dumps(execution_line("ExecutionSucceeded")))

    assert log_filters.metric_value(matcher, by_error, failed) == (1.0, {"Error": "ModelError"})
    assert log_filters.metric_value(matcher, by_error, succeeded) is None
    assert log_filters.metric_value(matcher, counted, succeeded) == (0.0, {})
    assert log_filters.metric_value(matcher, counted, "not JSON at all") == (0.0, {})
