"""Does the certificate in force still hold? The monitor's sequential check of the audits since it.

A certificate promises that at most 1 - target of the drivers routed at its threshold are wrong.
Every audit since it was applied is one more piece of evidence, and the monitor looks every hour:
a test repeated on a growing pile must stay valid however often it looks (Podkopaev and Ramdas,
"Tracking the risk of a deployed model and detecting harmful distribution shifts", ICLR 2022).
The evidence against the promise is a test martingale: the likelihood ratio of the audits under an
error rate several times the allowed one, averaged over a few such rates, against the allowed one.
Under the promise its expectation never exceeds 1, so by Ville's inequality it ever reaches
1 / (1 - confidence) with probability at most 1 - confidence, however many hours it is checked.
It depends on the audits only through how many there were and how many were wrong.
Plain Python, for the monitor Lambda.
"""
import math
from dataclasses import dataclass
from typing import Optional

import settings

CERTIFICATE_CHECK = "certificate_check"
# Error rates the evidence is weighed for, as multiples of the allowed one: a broken promise is
# usually broken by a lot (a new camera, a new kind of vehicle), and the average over several keeps
# the test quick for large breaks and still able to see smaller ones.
ALTERNATIVES = (1.5, 2.0, 3.0, 5.0, 10.0)


def evidence_against(wrong: int, checks: int, allowed_error: float) -> float:
    """The test martingale after `checks` audits with `wrong` mistakes (1 before any audit)."""
    total = 0.0
    for multiple in ALTERNATIVES:
        rate = min(multiple * allowed_error, 0.999)
        log_ratio = wrong * math.log(rate / allowed_error) + (checks - wrong) * math.log((1 - rate) / (1 - allowed_error))
        total += math.exp(min(log_ratio, 700.0))
    return total / len(ALTERNATIVES)


@dataclass(frozen=True)
class Watch:
    threshold: float
    checks: int
    wrong: int
    most_wrong_allowed: int
    evidence: float
    broken: bool
    since: Optional[str]

    def description(self) -> str:
        return (f"since the certificate applied at {self.since} (threshold {self.threshold:g}), people audited "
                f"{self.checks} routed drivers and found {self.wrong} wrong; the promise allows at most "
                f"{self.most_wrong_allowed} wrong of {self.checks} (evidence {self.evidence:.3g} against it, "
                f"1 / (1 - confidence) breaks it)" + (": it no longer holds, and the threshold goes back to the "
                                                      "default" if self.broken else ""))


def watch(checks: int, wrong: int, threshold: float, target_precision: float,
          confidence: float = settings.CERTIFICATE_CONFIDENCE, since: Optional[str] = None) -> Watch:
    allowed = 1.0 - target_precision
    limit = 1.0 / (1.0 - confidence)
    evidence = evidence_against(wrong, checks, allowed)
    most = 0
    while most < checks and evidence_against(most + 1, checks, allowed) < limit:
        most += 1
    if checks == 0 or evidence_against(0, checks, allowed) >= limit:
        most = 0
    return Watch(threshold, checks, wrong, most, evidence, evidence >= limit, since)
