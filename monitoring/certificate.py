"""Certify a routing threshold: the lowest one at which people's answers prove, with a chosen
confidence, that at least the target share of routed drivers is right; or an honest "not yet".

Plain Python (no numpy, no scipy), so the monitor Lambda, the report, the comparison and the
command line share it. Selective classification with a finite-sample guarantee (Geifman and
El-Yaniv's SGR) chosen as multiple testing (Learn-then-Test):

- For a candidate threshold t the null hypothesis is "more than 1 - target of the drivers routed
  at t are wrong". It is rejected with an exact binomial (Clopper-Pearson) test on the checked
  drivers, stratum by stratum:
  - audited: drivers the workflow routed (confidence >= the threshold in force). People checked a
    random share of them (chosen by a hash of the inference id), so the checked ones among those
    with confidence >= t are a uniform random sample of them: their wrong count is binomial (or
    hypergeometric, which the binomial bound covers conservatively).
  - reviewed: drivers the workflow sent to a person (the band below the threshold in force). Every
    one is reviewed: a census, whose wrong count is known exactly; an unanswered review counts as
    wrong.
  The strata are combined by their sizes, counted from the captures without labels (as
  monitoring/estimates.py does): at t the promise holds when
  audited_size * audited_error + reviewed_wrong <= (1 - target) * (audited_size + reviewed_size),
  so the audited stratum's error is tested against the share of errors the census leaves it.
- Fixed-sequence testing: the candidates are tested from the highest down, each at the full
  level, and the sequence stops at the first that fails; the certificate names the lowest that
  passed. Trying many thresholds costs nothing, whatever their dependence.
- A candidate enters the sequence only when its audited stratum holds enough checks for a clean
  record to pass (or, with no audited driver, its census does): below that the high thresholds
  with a handful of audits would stop the sequence before it starts. Which candidates qualify
  depends on counts alone, never on whether the model was right, so the choice costs no validity.

Re-testing a growing pile of answers would inflate the error: tested again and again, some day a
lucky run passes. The pile is kept, and each look at its labels spends part of the error rate:
look j is tested at (1 - confidence) / (j (j + 1)), which sums to 1 - confidence over every look
(a union bound: the guarantee holds at every look, however many). A look is due only when the
audited checks have grown by LOOK_GROWTH since the last one: a count, so when to look is never
chosen from the labels, and the looks stay few. The looks so far travel in the certificate's file
(Looks). Disjoint windows would be valid too, but would throw each failed window's answers away.
bench/certificate.py checks the error rate of this whole procedure by simulation.
"""
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import List, Optional, Sequence

import settings
from monitoring.formatting import percent

DEFAULT_TARGET_PRECISION = settings.TARGET_PRECISION
DEFAULT_CONFIDENCE = settings.CERTIFICATE_CONFIDENCE
# The candidates: a fixed grid (chosen before any data), plus the threshold in force. Finer steps
# find a lower threshold but stop the sequence at more local failures; half a point of confidence
# is finer than a softmax's threshold is ever read.
GRID_STEP = 0.005
# A look at the labels is due when the audited checks have grown by this factor since the last one:
# looks spaced geometrically keep their count, and so the error each may spend, from shrinking fast.
LOOK_GROWTH = 1.25
LOWEST_CANDIDATE = 0.5
AUDITED, REVIEWED = "audited", "reviewed"


# --- the exact binomial arithmetic ---------------------------------------------------------------

def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for j in range(k + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
                          + j * log_p + (n - j) * log_q)
    return min(1.0, total)


def passes(wrong: int, checks: int, allowed_error: float, confidence: float = DEFAULT_CONFIDENCE) -> bool:
    """Whether `wrong` mistakes in `checks` random checks prove an error rate of at most
    allowed_error, at the confidence: the exact binomial test (equivalently, the one-sided
    Clopper-Pearson upper bound lies at or below allowed_error)."""
    if allowed_error >= 1.0:
        return True
    if allowed_error <= 0.0 or checks <= 0:
        return False
    return binomial_cdf(wrong, checks, allowed_error) <= 1.0 - confidence + 1e-12


@lru_cache(maxsize=65536)
def error_upper_bound(wrong: int, checks: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The one-sided Clopper-Pearson upper bound on an error rate from `wrong` of `checks` random
    checks: 1 - (1 - confidence) ** (1 / checks) with none wrong, about 3 / checks at 95%."""
    if checks <= 0 or wrong >= checks:
        return 1.0
    low, high = wrong / checks, 1.0
    for _ in range(60):  # bisection: P(X <= wrong) falls as p grows
        middle = (low + high) / 2
        if binomial_cdf(wrong, checks, middle) > 1.0 - confidence:
            low = middle
        else:
            high = middle
    return high


@lru_cache(maxsize=4096)
def clean_checks_needed(wrong: int, allowed_error: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The fewest checks that prove an error rate of at most allowed_error when `wrong` of them are
    wrong: 299 for 1% at 95% with none wrong, 473 with one, 628 with two."""
    if not 0.0 < allowed_error < 1.0:
        raise ValueError(f"the allowed error must be in (0, 1), got {allowed_error}")
    low = wrong + 1
    high = low
    while not passes(wrong, high, allowed_error, confidence):
        high *= 2
    while low < high:  # the test passes from some count on: the smallest such count
        middle = (low + high) // 2
        if passes(wrong, middle, allowed_error, confidence):
            high = middle
        else:
            low = middle + 1
    return low


# --- the drivers, grouped --------------------------------------------------------------------------

@dataclass(frozen=True)
class Tally:
    """Drivers of one confidence (or one narrow band of it) in one stratum: how many there are, how
    many a person checked, and how many of those the model got wrong. audited: the stratum whose
    checks are a random share (routed by the workflow); else the reviewed census."""

    confidence: float
    drivers: int
    checked: int
    wrong: int
    audited: bool

    def __post_init__(self):
        if not 0 <= self.wrong <= self.checked <= self.drivers:
            raise ValueError(f"need 0 <= wrong <= checked <= drivers, got {self}")


@dataclass(frozen=True)
class Stratum:
    drivers: int = 0
    checked: int = 0
    wrong: int = 0

    def add(self, tally: Tally) -> "Stratum":
        return Stratum(self.drivers + tally.drivers, self.checked + tally.checked, self.wrong + tally.wrong)


def strata_at(tallies: Sequence[Tally], threshold: float) -> dict:
    """{audited: Stratum, reviewed: Stratum} of the drivers a threshold routes (confidence >= it)."""
    result = {AUDITED: Stratum(), REVIEWED: Stratum()}
    for tally in tallies:
        if tally.confidence >= threshold - 1e-12:
            name = AUDITED if tally.audited else REVIEWED
            result[name] = result[name].add(tally)
    return result


@dataclass(frozen=True)
class Judged:
    """One candidate of the sequence: its strata, the lower bound on the precision of routing there,
    and whether it passed."""

    threshold: float
    audited: Stratum
    reviewed: Stratum
    precision_lower_bound: float
    passed: bool


def judge(threshold: float, audited: Stratum, reviewed: Stratum, target_precision: float,
          confidence: float = DEFAULT_CONFIDENCE) -> Judged:
    """Whether the drivers a threshold routes (its audited and reviewed strata) prove the target."""
    size = audited.drivers + reviewed.drivers
    allowed = (1.0 - target_precision) * size
    # An unanswered review is counted as wrong: people may skip exactly the hard ones.
    census_wrong = reviewed.wrong + (reviewed.drivers - reviewed.checked)
    if not size:
        return Judged(threshold, audited, reviewed, 0.0, False)
    if not audited.drivers:
        passed = census_wrong <= allowed + 1e-9
        return Judged(threshold, audited, reviewed, 1.0 - census_wrong / size, passed)
    left_for_audited = (allowed - census_wrong) / audited.drivers
    passed = passes(audited.wrong, audited.checked, left_for_audited, confidence)
    bound = error_upper_bound(audited.wrong, audited.checked, confidence)
    return Judged(threshold, audited, reviewed, 1.0 - (audited.drivers * bound + census_wrong) / size, passed)


def candidates(threshold_now: float, step: float = GRID_STEP, lowest: float = LOWEST_CANDIDATE) -> List[float]:
    """The fixed grid from just below 1 down to `lowest`, with the threshold in force, highest first."""
    count = int(round((1.0 - lowest) / step))
    grid = {round(lowest + index * step, 6) for index in range(count)}
    grid.add(round(float(threshold_now), 6))
    return sorted(grid, reverse=True)


# --- the certificate -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Looks:
    """The looks at the labels so far for one model (a certificate's file carries them to the next
    run): how many there were, and how many audited checks the pile held at the last one."""

    count: int = 0
    checks_at_last: int = 0
    wrong_at_last: int = 0   # audited mistakes the last look saw where its sequence stopped


def look_level(look: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The error rate look number `look` (1, 2, ...) may spend: (1 - confidence) / (look (look + 1)),
    which sums to 1 - confidence over every look there will ever be."""
    return (1.0 - confidence) / (look * (look + 1))


def next_look_at(looks: Looks, target_precision: float, confidence: float) -> int:
    """The audited checks the pile must hold before the next look: enough for a clean record to pass
    at that look's level, and LOOK_GROWTH times the checks of the last look."""
    level = look_level(looks.count + 1, confidence)
    clean = clean_checks_needed(0, 1.0 - target_precision, 1.0 - level)
    return max(clean, math.ceil(LOOK_GROWTH * looks.checks_at_last))


@dataclass
class Certificate:
    """The answer. certified: the promise holds at `threshold`, routing `routed_share` of the usable
    drivers, with `confidence`; else missing_checks says what is missing.

    looked: whether this answer looked at the labels (a look was due); look: its number, and
    look_level the error rate it spent. A "not yet" without a look repeats nothing about the labels.
    """

    certified: bool
    threshold: Optional[float]
    routed_share: Optional[float]
    target_precision: float
    confidence: float
    threshold_now: float
    usable_drivers: int
    checks: dict
    missing_checks: Optional[dict]
    looked: bool
    looks: dict
    precision_lower_bound: Optional[float] = None
    sequence: List[dict] = field(default_factory=list)
    model_version: Optional[str] = None
    window: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def certify(tallies: Sequence[Tally], threshold_now: float, target_precision: float = DEFAULT_TARGET_PRECISION,
            confidence: float = DEFAULT_CONFIDENCE, days: Optional[float] = None, looks: Looks = Looks(),
            grid_step: float = GRID_STEP) -> Certificate:
    """The lowest threshold at which the precision of routing is at least target_precision with
    `confidence`, by fixed-sequence testing from the highest candidate down; or "not yet".

    tallies: every usable driver since the model began serving (routed ones audited at random, the
    others reviewed): the pile grows, and each look at it spends look_level() of the error rate.
    looks: the looks before this one. A look is due once the audited checks reach next_look_at(): a
    count, so labels are looked at only when a look is due. days: how long the pile took to gather,
    to say how many days the missing checks take at its traffic.
    """
    if not 0.0 < target_precision < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"target precision and confidence must be in (0, 1), got {target_precision}, {confidence}")
    usable = sum(tally.drivers for tally in tallies)
    audited_checks = sum(tally.checked for tally in tallies if tally.audited)
    census_only = not any(tally.audited and tally.drivers for tally in tallies)
    pile = sum(tally.checked for tally in tallies) if census_only else audited_checks
    sequence: List[Judged] = []
    look = looks
    if pile >= next_look_at(looks, target_precision, confidence):
        look = Looks(looks.count + 1, pile, 0)
        level = 1.0 - look_level(look.count, confidence)
        needed = clean_checks_needed(0, 1.0 - target_precision, level)
        for threshold, (audited, reviewed) in _sweep(tallies, candidates(threshold_now, grid_step)):
            if audited.checked < needed and (audited.drivers or reviewed.checked < needed):
                continue  # not even a clean record could pass it: counted, no label looked at
            test = judge(threshold, audited, reviewed, target_precision, level)
            sequence.append(test)
            if not test.passed:
                break
    if sequence:
        look = Looks(look.count, look.checks_at_last, sequence[-1].audited.wrong)
    looks_json = {"count": look.count, "checks_at_last": look.checks_at_last, "wrong_at_last": look.wrong_at_last,
                  "level": look_level(look.count, confidence) if look.count else None,
                  "next_at": next_look_at(look, target_precision, confidence)}
    passed = [test for test in sequence if test.passed]
    if passed:
        # Of the passing candidates that route the same drivers as the lowest, the threshold in force
        # when it is one (a change that changes nothing is no advice), else the highest: a lower one
        # would also route confidences the pile never showed, which nothing here vouches for.
        lowest = passed[-1]
        alike = [test for test in passed if (test.audited, test.reviewed) == (lowest.audited, lowest.reviewed)]
        best = next((test for test in alike if abs(test.threshold - threshold_now) < 1e-9), alike[0])
        return Certificate(
            True, best.threshold, (best.audited.drivers + best.reviewed.drivers) / usable, target_precision,
            confidence, threshold_now, usable, _checks(best.audited, best.reviewed), None, True, looks_json,
            best.precision_lower_bound, _rows(sequence))
    at_now = strata_at(tallies, threshold_now)
    missing = _missing(at_now[AUDITED], look, target_precision, confidence, days)
    return Certificate(False, None, None, target_precision, confidence, threshold_now, usable,
                       _checks(at_now[AUDITED], at_now[REVIEWED]), missing, bool(sequence), looks_json, None,
                       _rows(sequence))


def _sweep(tallies: Sequence[Tally], thresholds: Sequence[float]):
    """(threshold, (audited, reviewed)) for each threshold, highest first, in one pass."""
    ordered = sorted(tallies, key=lambda tally: tally.confidence, reverse=True)
    audited, reviewed, position = Stratum(), Stratum(), 0
    for threshold in thresholds:
        while position < len(ordered) and ordered[position].confidence >= threshold - 1e-12:
            tally = ordered[position]
            if tally.audited:
                audited = audited.add(tally)
            else:
                reviewed = reviewed.add(tally)
            position += 1
        yield threshold, (audited, reviewed)


def _checks(audited: Stratum, reviewed: Stratum) -> dict:
    return {AUDITED: {"drivers": audited.drivers, "checked": audited.checked, "wrong": audited.wrong},
            REVIEWED: {"drivers": reviewed.drivers, "checked": reviewed.checked, "wrong": reviewed.wrong,
                       "unanswered": reviewed.drivers - reviewed.checked}}


def _rows(sequence: Sequence[Judged]) -> List[dict]:
    """The candidates tested, one row per change of the drivers they route (and the last)."""
    rows = []
    for index, test in enumerate(sequence):
        following = sequence[index + 1] if index + 1 < len(sequence) else None
        if following is None or (following.audited, following.reviewed) != (test.audited, test.reviewed):
            rows.append(_row(test))
    return rows


def _row(test: Judged) -> dict:
    return {"threshold": test.threshold, "audited_checked": test.audited.checked, "audited_wrong": test.audited.wrong,
            "reviewed": test.reviewed.drivers, "reviewed_wrong": test.reviewed.wrong,
            "precision_lower_bound": round(test.precision_lower_bound, 6), "passed": test.passed}


def _missing(audited: Stratum, looks: Looks, target_precision: float, confidence: float,
             days: Optional[float]) -> dict:
    """How many more clean audits of drivers routed at the threshold in force the next look needs,
    given the mistakes among them so far, and how long that takes at the pile's audit rate and
    traffic. Saying so looks at labels but decides nothing: when the next look comes is counted."""
    level = 1.0 - look_level(looks.count + 1, confidence)
    wrong = audited.wrong
    needed = max(next_look_at(looks, target_precision, confidence),
                 clean_checks_needed(wrong, 1.0 - target_precision, level))
    more = max(0, needed - audited.checked)
    audit_share = audited.checked / audited.drivers if audited.drivers else None
    routed_more = math.ceil(more / audit_share) if audit_share else None
    routed_per_day = audited.drivers / days if days and audited.drivers else None
    more_days = routed_more / routed_per_day if routed_more is not None and routed_per_day else None
    return {"clean_checks": more, "checks_needed": needed, "checks_now": audited.checked,
            "mistakes_seen": wrong, "audit_share": audit_share, "routed_drivers": routed_more,
            "days": None if more_days is None else round(more_days, 2)}


# --- in words ----------------------------------------------------------------------------------------

def _duration(days: float) -> str:
    if days * 24 < 1:
        minutes = max(1, round(days * 24 * 60))
        return f"about {minutes} minute{'s' if minutes > 1 else ''}"
    if days < 1:
        return f"about {days * 24:.1f} hours"
    return f"about {days:.1f} days"


def answer_text(cert: dict) -> str:
    """The operator's answer, in one or two sentences: is the promise certified, at which threshold
    and for what share of drivers; if not, what is missing."""
    promise = (f"at least {percent(cert['target_precision'])} of routed drivers right, with "
               f"{percent(cert['confidence'])} confidence")
    if cert["certified"]:
        audited, reviewed = cert["checks"]["audited"], cert["checks"]["reviewed"]
        rests = f"{audited['checked']} audited routed drivers ({audited['wrong']} wrong)"
        if reviewed["drivers"]:
            rests += f" and all {reviewed['drivers']} reviewed ones below {cert['threshold_now']:g} " \
                     f"({reviewed['wrong']} wrong, {reviewed['unanswered']} unanswered counted wrong)"
        return (f"Certified: {promise}, at threshold {cert['threshold']:g}, which routes "
                f"{percent(cert['routed_share'])} of usable drivers (model {cert['model_version']}; it rests on {rests}).")
    missing = cert["missing_checks"]
    seen = (f"; people found {missing['mistakes_seen']} of the {missing['checks_now']} audited so far wrong"
            if missing["mistakes_seen"] else "")
    when = ""
    if missing["routed_drivers"] is not None:
        when = (f", about {missing['routed_drivers']:,} more routed drivers at today's audit share of "
                f"{percent(missing['audit_share'])}"
                + (f", {_duration(missing['days'])} at today's traffic" if missing["days"] is not None else ""))
    return (f"Not yet certified ({promise}): {missing['clean_checks']} more clean audits of drivers routed at "
            f"{cert['threshold_now']:g} are needed ({missing['checks_now']} so far, the next look needs "
            f"{missing['checks_needed']}{seen}){when}. Until then the threshold stays {cert['threshold_now']:g}.")
