"""How the report, the comparison and the monitor write numbers for people, and read them from a
command line.

One rule for every share shown: its point estimate only when the checks behind it can pin it down
(monitoring/estimates.py, MINIMUM_CHECKS); below that, the interval, how many checks it rests on,
and how many more would make it informative at the current rate. Plain Python, like the monitor.
"""
import argparse
import math
from typing import Optional, Sequence

from monitoring.estimates import MINIMUM_CHECKS, Estimate


def percent(value: Optional[float]) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def percent_interval(interval: Optional[Sequence[Optional[float]]]) -> str:
    """'95% interval 91.2% to 99.0%', or 'no interval' when either end is unknown."""
    if not interval or interval[0] is None or interval[1] is None:
        return "no interval"
    return f"95% interval {percent(interval[0])} to {percent(interval[1])}"


def evidence(estimate: Estimate) -> str:
    """What an audited figure rests on: 'exact: all 40 drivers checked' (every stratum a census) or
    '3 checked of 116 routed drivers' (its most thinly checked sampled stratum)."""
    stratum = estimate.thinnest
    if stratum is None:
        return f"exact: all {estimate.size} drivers checked"
    return f"{stratum.labelled} checked of {stratum.size} {stratum.name or 'drivers'}"


def more_needed(estimate: Estimate) -> str:
    """How many more checks would make an uninformative figure informative, at the current rate:
    'a point estimate needs 36 checks: 33 more, about 1,276 more routed drivers at the current rate'."""
    stratum, more = estimate.thinnest, estimate.more_checks()
    if stratum is None or not more:
        return ""
    drivers = estimate.more_drivers()
    if drivers is None:
        return f"none of them checked yet, and a point estimate needs {MINIMUM_CHECKS} checks"
    return (f"a point estimate needs {MINIMUM_CHECKS} checks: {more} more, about {drivers:,} more "
            f"{stratum.name or 'drivers'} at the current rate")


def audited_share(estimate: Estimate) -> str:
    """An audited share as a phrase: '94.0% (95% interval 90.1% to 97.0%; 40 checked of 800
    routed drivers)', or below the minimum 'between 30.1% and 100.0% (95% interval from only 3
    checked of 116 routed drivers; a point estimate needs 36 checks: 33 more, ...)'."""
    if estimate.low is None or estimate.high is None:
        return "unknown (no driver to estimate it on)"
    if estimate.informative and estimate.thinnest is None:
        return f"{percent(estimate.value)} ({evidence(estimate)})"
    if estimate.informative:
        return f"{percent(estimate.value)} ({percent_interval(estimate.interval)}; {evidence(estimate)})"
    return (f"between {percent(estimate.low)} and {percent(estimate.high)} (95% interval from only "
            f"{evidence(estimate)}; {more_needed(estimate)})")


def coverage_share(estimate: Estimate) -> str:
    """A coverage chosen by estimated precision (coverage at the target precision): its point only
    when the precision that chose it is informative."""
    if estimate.low is None or estimate.high is None:
        return "unknown"
    if estimate.high == 0:
        return "none: no threshold reaches the target precision on these drivers"
    if estimate.informative:
        return f"{percent(estimate.value)} ({percent_interval(estimate.interval)})"
    return (f"between {percent(estimate.low)} and {percent(estimate.high)} (95% interval; the precision that sets it "
            f"rests on only {evidence(estimate)}; {more_needed(estimate)})")


def label_free_share(estimate, of_what: str) -> str:
    """A label-free share (monitoring.label_free.LabelFreeEstimate) as a phrase that says what it
    assumes."""
    if estimate.value is None:
        return f"unknown (no {of_what})"
    if estimate.informative:
        return (f"{percent(estimate.value)} ({percent_interval(estimate.interval)}; from the confidences of "
                f"{estimate.drivers} {of_what}, if calibration holds)")
    return (f"between {percent(estimate.low)} and {percent(estimate.high)} (95% interval from the confidences of only "
            f"{estimate.drivers} {of_what}, if calibration holds; a point estimate needs {MINIMUM_CHECKS})")


def calibration_finding(check, checked_what: str) -> str:
    """The count behind a calibration check (monitoring.label_free.CalibrationCheck)."""
    allowed = ("none" if check.most == 0 else f"at most {check.most}" if check.fewest == 0 else
               f"{check.fewest} to {check.most}")
    expected = f"{check.expected_wrong:.1f}" if check.expected_wrong >= 1 else f"{check.expected_wrong:.2f}"
    return (f"people found {check.wrong} of the {check.checked} {checked_what} wrong, where their confidences expect "
            f"{expected} and allow {allowed} (95%)")


def calibration_meaning(check) -> str:
    """What a contradiction means, in plain words."""
    direction = ("the model is over-confident: the label-free figure is too rosy" if check.over_confident else
                 "the model is under-confident: the label-free figure is too gloomy")
    return (f"calibration no longer holds on this traffic ({direction}), itself a sign of deterioration; "
            f"trust the audited interval")


def calibration_verdict(check, checked_what: str) -> str:
    """What the checked drivers say of the label-free figure, as a sentence."""
    if not check.checked:
        return f"No {checked_what} yet, so nothing confirms or contradicts the label-free figure."
    if not check.contradicted:
        return (f"The {checked_what} do not contradict the label-free figure: "
                f"{calibration_finding(check, checked_what)}.")
    meaning = calibration_meaning(check)
    return (f"The {checked_what} contradict the label-free figure: {calibration_finding(check, checked_what)}. "
            f"{meaning[:1].upper()}{meaning[1:]}.")


def fraction(text: str) -> float:
    """An argparse type: a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value
