"""CloudWatch's alarm evaluation, for the stand-in's deployment guardrails (local/moto_gaps/).

moto stores alarms and metric values but never evaluates an alarm: its state stays as it was put.
SageMaker's automatic rollback watches alarms while a canary takes traffic, so the stand-in
evaluates the rollback alarms itself at the end of the canary's wait, as CloudWatch would over that
interval: the alarm's statistic (Sum, Average, Minimum, Maximum, SampleCount or a percentile such as
p99) of every value of its metric and dimensions, compared with its threshold; no value counts as
TreatMissingData says. One period spans the whole interval (CloudWatch would use the alarm's
periods within it). Alarms on metric math are not evaluated here (a warning says so).
"""
import logging
import math
from datetime import datetime, timezone
from typing import List, Optional, Sequence, Tuple

logger = logging.getLogger(__name__)

ALARM, OK = "ALARM", "OK"
COMPARISONS = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def statistic(values: Sequence[float], name: str) -> float:
    """A CloudWatch statistic of raw values: Sum, Average, Minimum, Maximum, SampleCount or pNN."""
    if name.startswith("p"):
        ordered = sorted(values)
        rank = max(1, math.ceil(float(name[1:]) / 100 * len(ordered)))   # nearest rank
        return ordered[rank - 1]
    return {"Sum": lambda: sum(values), "Average": lambda: sum(values) / len(values),
            "Minimum": lambda: min(values), "Maximum": lambda: max(values),
            "SampleCount": lambda: float(len(values))}[name]()


def utc(value) -> datetime:
    """moto keeps a value's timestamp as given: an aware or naive (UTC) datetime, or ISO 8601 text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _matches(datum, alarm) -> bool:
    if datum.namespace != alarm.namespace or datum.name != alarm.metric_name:
        return False
    wanted = {(dimension.name, dimension.value) for dimension in alarm.dimensions}
    return wanted <= {(dimension.name, dimension.value) for dimension in datum.dimensions}


def evaluate(alarm, data: Sequence, since: datetime, until: datetime) -> Tuple[str, str]:
    """(state, reason) of a moto alarm over the raw metric values in [since, until]."""
    values = [float(datum.value) for datum in data if hasattr(datum, "value") and _matches(datum, alarm)
              and utc(since) <= utc(datum.timestamp) <= utc(until)]
    if not values:
        breaching = (alarm.treat_missing_data or "missing") == "breaching"
        return (ALARM if breaching else OK), "no data points in the interval"
    name = alarm.extended_statistic or alarm.statistic
    value = statistic(values, name)
    state = ALARM if COMPARISONS[alarm.comparison_operator](value, float(alarm.threshold)) else OK
    return state, f"{name} of {len(values)} values of {alarm.metric_name} is {value:g} ({alarm.comparison_operator} {alarm.threshold:g}: {state})"


def breached(backend, alarm_names: Sequence[str], since: datetime, until: datetime) -> List[Tuple[str, str]]:
    """The named alarms of a moto CloudWatch backend that are in ALARM over [since, until], with why;
    each alarm's state is set as CloudWatch would set it."""
    fired: List[Tuple[str, str]] = []
    for name in alarm_names:
        alarm: Optional[object] = backend.alarms.get(name)
        if alarm is None:
            logger.warning("Rollback alarm %s does not exist: it cannot roll the deployment back", name)
            continue
        if alarm.metric_data_queries:
            logger.warning("Rollback alarm %s is on metric math, which the stand-in does not evaluate", name)
            continue
        state, reason = evaluate(alarm, backend.metric_data, since, until)
        alarm.update_state(reason, '{"evaluatedBy": "stand-in"}', state)
        if state == ALARM:
            fired.append((name, reason))
    return fired
