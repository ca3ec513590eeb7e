import hashlib

import pytest

import settings
from handlers import routing_rule
from handlers.errors import ConfidenceBelowThreshold, InvalidEvent, UnusableImage


def decide(label="bicycle", confidence=0.99, usable=True, reasons=(), inference_id="id-1", threshold=0.95,
           audit_rate=0.0):
    return routing_rule.decide(label, confidence, usable, list(reasons), inference_id, threshold, audit_rate,
                               image="s3://b/k.jpg")


@pytest.mark.parametrize("label, route", list(settings.ROUTE_BY_LABEL.items()))
def test_routing_rule_routes_a_usable_confident_photo_by_its_label(label, route):
    decision = decide(label=label, confidence=0.95)

    assert (decision.outcome, decision.route, decision.reason, decision.error) == (routing_rule.ROUTED, route, None, None)


def test_routing_rule_sends_a_confidence_below_the_threshold_to_a_person_under_its_error_name():
    decision = decide(confidence=0.9499)

    assert (decision.outcome, decision.route, decision.reason) == (routing_rule.REVIEW, None, "ConfidenceBelowThreshold")
    assert isinstance(decision.error, ConfidenceBelowThreshold)
    assert "0.9499" in decision.message and "0.95" in decision.message and "s3://b/k.jpg" in decision.message


def test_routing_rule_sends_an_unusable_photo_to_a_person_however_confident():
    decision = decide(confidence=1.0, usable=False, reasons=["too dark", "blank"])

    assert decision.reason == "UnusableImage" and isinstance(decision.error, UnusableImage)
    assert decision.message == ("s3://b/k.jpg is not a usable photo of a vehicle: too dark; blank; "
                                "a person should check this driver")


def test_routing_rule_takes_the_threshold_as_an_input():
    assert decide(confidence=0.85, threshold=0.8).outcome == routing_rule.ROUTED
    assert decide(confidence=0.85, threshold=0.9).outcome == routing_rule.REVIEW


def test_routing_rule_audits_only_routed_drivers_and_the_same_id_always_alike():
    assert decide(audit_rate=1.0).audit is True
    assert decide(audit_rate=1.0, confidence=0.5).audit is False
    assert decide(audit_rate=0.0).audit is False


def test_routing_rule_audit_choice_does_not_depend_on_the_process():
    """The same id is audited or not in every process and on every machine: a hash, not a random draw."""
    assert [routing_rule.audited(f"id-{number}", 0.05) for number in range(8)] == [
        int(hashlib.sha256(f"id-{number}".encode()).hexdigest()[:13], 16) / 16 ** 13 < 0.05 for number in range(8)]
    assert not routing_rule.audited(None, 1.0) and not routing_rule.audited("", 1.0)


@pytest.mark.parametrize("fields", [
    {"label": None}, {"label": "scooter"}, {"confidence": "0.99"}, {"confidence": True}, {"confidence": float("nan")},
    {"usable": None}, {"usable": False, "reasons": ()}, {"usable": True, "reasons": ("dark",)},
])
def test_routing_rule_refuses_a_malformed_classification(fields):
    with pytest.raises(InvalidEvent):
        decide(**fields)


@pytest.mark.parametrize("value", ["-0.1", "2"])
def test_routing_rule_refuses_a_meaningless_audit_rate(monkeypatch, value):
    monkeypatch.setenv(settings.ENV_AUDIT_RATE, value)

    with pytest.raises(ValueError, match=settings.ENV_AUDIT_RATE):
        routing_rule.audit_rate_from_environment()
