"""Champion and challenger side by side, on the same drivers and what people checked.

    python -m monitoring.compare --captures DIR|s3://… --ground-truth DIR|s3://… \
        [--champion AllTraffic] [--challenger Challenger] [--exclude-manifest DIR|s3://…/manifest.jsonl]

Both variants' answers to the same requests are captured under their own variant folders with the
same inference id (a shadow variant); they are paired on it. People checked drivers by the
champion's decisions (its rejections reviewed, a share of its routed drivers audited), so both
models' precision is estimated with the champion's decision as the stratum
(monitoring/estimates.py), and coverage is counted over every pair.

The paired test asks which routes more drivers right (routed without a person, and the class a
person named). Where the two decide alike they are right or wrong together, so only the drivers
they decide differently about count, as in McNemar's test: an exact sign test of the drivers the
challenger routes right and the champion does not, against the reverse. People check the
champion's rejections but audit only a share of its routed drivers, so each side's test takes
the fewest right routings its side can have and the most the other side can have: exact
hypergeometric bounds from the checked share of each part, at half the side's level, the sign
test at the other half (bench/shadow_verdict.py and tests/monitoring/test_compare.py check the
error rate by simulation). The verdict:

  promote                 the challenger routes more right (one-sided p < 0.025), and its
                          estimated precision of routing is at least the champion's (the
                          target's, when the champion's is unknown)
  keep                    the champion routes more right (p < 0.025), or the challenger does but
                          less precisely
  not enough evidence     otherwise (or the challenger's precision is unknown), with about how
                          many more checked drivers would decide

Which model names the class right more often on the checked drivers (McNemar's exact test) is
shown beside it; it decides nothing, since a person decides the drivers a model does not route.

The verdict's reason names the counts it rests on (the sign test's), never a precision that no
check supports. Beside each model's audited precision stands its label-free one (the mean
confidence of the drivers it routes, monitoring/label_free.py), and whether the checked drivers it
routes contradict it. Every share is shown as monitoring/formatting.py shows them: a point only
when enough checks support it.

Photos the challenger was trained on (its dataset manifest) never count: they are left out of
every figure. Plain Python, like the monitor.
"""
import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import settings
from monitoring import certificate, storage
from monitoring.capture_format import MalformedCaptureRecord, parse_capture_line, variant_of
from monitoring.estimates import Inference, Stratum, ThresholdEstimates, correct_count_bounds
from monitoring.features import UnusableOutput, features_of
from monitoring.formatting import (audited_share, calibration_verdict, coverage_share, fraction, label_free_share,
                                   percent)
from monitoring.ground_truth import read_ground_truth
from monitoring.label_free import check_calibration, expected_share_right

SIGNIFICANCE = 0.05   # two-sided: each side's one-sided test at half of it
PROMOTE, KEEP, UNDECIDED = "promote", "keep", "not enough evidence yet"
VERDICT_MEANINGS = {
    PROMOTE: "the challenger routes more drivers right than the champion on the same drivers (sign test, one-sided "
             "p < 0.025, with what nobody checked bounded against it), at least as precisely: promote it (a canary "
             "first, rolled back on alarms)",
    KEEP: "the champion routes more drivers right, or the challenger's extra routings are less precise: keep the "
          "champion; the next approved challenger takes the shadow's place",
    UNDECIDED: "the checked drivers do not yet tell the two apart, or the challenger's precision is still unknown: "
               "leave the shadow running while people review and audit",
}


@dataclass(frozen=True)
class Answer:
    confidence: float
    predicted: str
    usable: bool


@dataclass(frozen=True)
class Pair:
    inference_id: str
    champion: Answer
    challenger: Answer
    photo_sha256: str


class ManifestNotFound(storage.LocationNotFound):
    """The challenger's dataset manifest named is gone."""


def read_pairs(captures: storage.Location, champion: str, challenger: str,
               class_names: Sequence[str] = settings.CLASS_NAMES, s3_client=None) -> List[Pair]:
    """The inferences both variants answered, paired on inference id."""
    answers: Dict[str, Dict[str, tuple]] = {champion: {}, challenger: {}}
    for file_location, line in storage.iter_jsonl_lines(captures, s3_client,
                                                        keep=lambda location: variant_of(location) in answers):
        variant = variant_of(file_location)
        try:
            record = parse_capture_line(line, decode_input=variant == champion)
            row = features_of(record.output_body or b"", record.output_content_type, class_names)
        except (MalformedCaptureRecord, UnusableOutput):
            continue
        if not record.inference_id:
            continue
        digest = hashlib.sha256(record.input_body).hexdigest() if record.input_body else ""
        answers[variant][record.inference_id] = (
            Answer(row["confidence"], row["predicted_class"], row["usable"] != "false"), digest)
    return [Pair(inference_id, answer, answers[challenger][inference_id][0], digest)
            for inference_id, (answer, digest) in sorted(answers[champion].items())
            if inference_id in answers[challenger]]


def read_photos(captures: storage.Location, variant: str, inference_ids: set, s3_client=None) -> Dict[str, tuple]:
    """{inference id: (photo bytes, content type)} of the given inferences, from one variant's capture."""
    photos: Dict[str, tuple] = {}
    for _, line in storage.iter_jsonl_lines(captures, s3_client, keep=lambda location: variant_of(location) == variant):
        try:
            record = parse_capture_line(line)
        except MalformedCaptureRecord:
            continue
        if record.inference_id in inference_ids and record.input_body:
            photos[record.inference_id] = (record.input_body, record.input_content_type)
    return photos


def trained_photo_hashes(manifest: Optional[storage.Location], s3_client=None) -> set:
    """SHA-256 of the photos a challenger was trained on, from training.dataset's manifest.jsonl
    (its reviewed channel; the held-back photos may count)."""
    if not manifest:
        return set()
    folder, _, name = str(manifest).rpartition("/")
    try:
        text = storage.read_text(folder, name, s3_client)
    except storage.LocationNotFound as error:
        # Without it the challenger's own training photos would count in its favour: no comparison.
        raise ManifestNotFound(f"the challenger's dataset manifest {manifest} is not there, so the photos it was "
                               f"trained on cannot be left out") from error
    return {row["sha256"] for row in map(json.loads, filter(None, text.splitlines())) if row.get("channel") == "reviewed"}


def mcnemar_p_value(b: int, c: int) -> float:
    """Two-sided exact McNemar: P(a split at least this uneven) of b + c fair coin flips."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def _routed(answer: Answer, threshold: float) -> bool:
    return answer.usable and answer.confidence >= threshold


def _decision(answer: Answer, threshold: float) -> dict:
    return {"predicted": answer.predicted, "confidence": answer.confidence, "usable": answer.usable,
            "routed": _routed(answer, threshold)}


@dataclass(frozen=True)
class RoutingTally:
    """Where the two decide differently, the parts whose drivers a person may find one of them
    routing right (Stratum.correct counts the checked drivers it routes right):

    challenger_routes   the challenger routes, the champion sends to a person (reviewed)
    champion_routes     the champion routes, the challenger would not (audited)
    both_route          both route, as different classes (audited): the challenger's count in
                        both_route_challenger, the champion's in both_route_champion
    """

    challenger_routes: Stratum
    champion_routes: Stratum
    both_route_challenger: Stratum
    both_route_champion: Stratum

    @property
    def gained(self) -> int:
        """Checked drivers the challenger routes right and the champion does not."""
        return self.challenger_routes.correct + self.both_route_challenger.correct

    @property
    def lost(self) -> int:
        """Checked drivers the champion routes right and the challenger does not."""
        return self.champion_routes.correct + self.both_route_champion.correct

    @property
    def unchecked_champion_routes(self) -> int:
        return sum(s.size - s.labelled for s in (self.champion_routes, self.both_route_champion))

    @property
    def unchecked_challenger_routes(self) -> int:
        return sum(s.size - s.labelled for s in (self.challenger_routes, self.both_route_challenger))

    def grown(self, growth: float) -> "RoutingTally":
        return RoutingTally(*(Stratum(round(s.size * growth), round(s.labelled * growth), round(s.correct * growth))
                              for s in (self.challenger_routes, self.champion_routes, self.both_route_challenger,
                                        self.both_route_champion)))


# The growth of the drivers (checked as these were) tried when working out how many more would decide.
_GROWTH = (1.25, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def routing_tally(pairs: Sequence[Pair], labels: Dict[str, str], threshold: float) -> RoutingTally:
    parts = {"challenger": [], "champion": [], "both": []}
    for pair in pairs:
        champion, challenger = _routed(pair.champion, threshold), _routed(pair.challenger, threshold)
        if champion and challenger and pair.champion.predicted != pair.challenger.predicted:
            parts["both"].append(pair)
        elif champion != challenger:
            parts["champion" if champion else "challenger"].append(pair)
        # Decided alike, both are right or both wrong, whatever a person would say: they add nothing.

    def stratum(members, side: str) -> Stratum:
        checked = [pair for pair in members if pair.inference_id in labels]
        right = sum(1 for pair in checked if labels[pair.inference_id] == getattr(pair, side).predicted)
        return Stratum(len(members), len(checked), right)

    return RoutingTally(stratum(parts["challenger"], "challenger"), stratum(parts["champion"], "champion"),
                        stratum(parts["both"], "challenger"), stratum(parts["both"], "champion"))


def _at_least(wins: int, losses: int) -> float:
    """P(at least `wins` of wins + losses fair coin flips come up wins)."""
    n = wins + losses
    return sum(math.comb(n, i) for i in range(wins, n + 1)) / 2 ** n if n else 1.0


def _side_p_value(wins: Sequence[Stratum], losses: Sequence[Stratum], level: float) -> float:
    """A one-sided p-value that the `wins` side routes more right: a sign test of the fewest right
    routings the wins side can have against the most the other side can have. Where some part is
    a sample, half of the side's level bounds those counts (exactly, hypergeometric, shared equally
    by the sampled parts), and the other half is the sign test's: the p-value returned adds the
    half spent (Bonferroni), so it is compared with the whole level."""
    parts = [stratum for stratum in (*wins, *losses) if stratum.size]
    sampled = sum(1 for stratum in parts if not stratum.is_census)
    spent = level / 2 if sampled else 0.0
    error_rate = 2 * spent / max(1, sampled)   # two-sided rate whose one end is this part's share
    fewest_wins = sum(correct_count_bounds(s, error_rate)[0] for s in wins if s.size)
    most_losses = sum(correct_count_bounds(s, error_rate)[1] for s in losses if s.size)
    return min(1.0, _at_least(fewest_wins, most_losses) + spent)


def routing_p_values(tally: RoutingTally, level: float = SIGNIFICANCE / 2) -> tuple:
    """One-sided p-values (challenger routes more right, champion routes more right), each at least
    what full labels would give but for the level spent bounding what nobody checked: so neither
    is fooled by audits of only a share of the routed drivers."""
    challenger_wins = (tally.challenger_routes, tally.both_route_challenger)
    champion_wins = (tally.champion_routes, tally.both_route_champion)
    return (_side_p_value(challenger_wins, champion_wins, level), _side_p_value(champion_wins, challenger_wins, level))


def checked_to_decide(tally: RoutingTally, checked: int, level: float = SIGNIFICANCE / 2) -> Optional[int]:
    """About how many more checked drivers would decide, if more drivers came and were checked as
    these were (the same shares, the same outcomes); None when no growth tried would."""
    for growth in _GROWTH:
        if min(routing_p_values(tally.grown(growth), level)) < level:
            return max(1, round(checked * (growth - 1)))
    return None


def checked_disagreements(pairs: Sequence[Pair], labels: Dict[str, str], threshold: float) -> List[dict]:
    """The checked drivers the two models decide differently about (one routes and the other does
    not, or they name different classes), with what the person said: the cases to look at."""
    rows = []
    for pair in pairs:
        label = labels.get(pair.inference_id)
        champion, challenger = pair.champion, pair.challenger
        if label is None or (_routed(champion, threshold) == _routed(challenger, threshold)
                             and champion.predicted == challenger.predicted):
            continue
        rows.append({"inference_id": pair.inference_id, "label": label,
                     "champion": _decision(champion, threshold), "challenger": _decision(challenger, threshold)})
    return rows


def _usable_answers(pairs: Sequence[Pair], side: str, labels: Dict[str, str], threshold: float):
    """(the side's usable answer, what a person said or None, whether the champion routed it): people
    checked drivers by the champion's decision, so that decision is the stratum."""
    for pair in pairs:
        answer, champion = getattr(pair, side), pair.champion
        if answer.usable:
            yield answer, labels.get(pair.inference_id), _routed(champion, threshold)


def _estimates(pairs: Sequence[Pair], side: str, labels: Dict[str, str], threshold: float) -> ThresholdEstimates:
    return ThresholdEstimates([Inference(answer.confidence, None if label is None else label == answer.predicted,
                                         routed_by_workflow=routed)
                               for answer, label, routed in _usable_answers(pairs, side, labels, threshold)],
                              threshold)


def _certificate(pairs: Sequence[Pair], side: str, labels: Dict[str, str], threshold: float,
                 target_precision: float) -> dict:
    """The side's certificate (or "not yet") from the shadow window's answers: its drivers the
    champion routed are the audited stratum (audits chose among them), those it sent to a person the
    reviewed census. One look at this window: it informs the verdict and applies nothing."""
    tallies = [certificate.Tally(answer.confidence, 1, int(label is not None),
                                 int(label is not None and label != answer.predicted), audited=routed)
               for answer, label, routed in _usable_answers(pairs, side, labels, threshold)]
    result = certificate.certify(tallies, threshold, target_precision).to_json()
    result["model_version"] = side
    result["answer"] = certificate.answer_text(result)
    return result


def _variant_figures(pairs: Sequence[Pair], side: str, labels: Dict[str, str], threshold: float,
                     target_precision: float) -> dict:
    """One model's figures: its precision of routing (audited, shown only where informative), the
    label-free precision from its own confidences, and whether the checked drivers it routes
    contradict that; {"figures": JSON-ready, "precision": the Estimate the verdict weighs}."""
    estimates = _estimates(pairs, side, labels, threshold)
    precision = estimates.precision(threshold)
    _, coverage_at_target = estimates.coverage_at_target(target_precision)
    routes = [pair for pair in pairs if _routed(getattr(pair, side), threshold)]
    label_free = expected_share_right([getattr(pair, side).confidence for pair in routes])
    checked = [(getattr(pair, side).confidence, labels[pair.inference_id] == getattr(pair, side).predicted)
               for pair in routes if pair.inference_id in labels]
    calibration = check_calibration(checked)
    return {"precision": precision, "figures": {
        "precision_accepted": precision.shown_value, "precision_interval": precision.interval,
        "precision_evidence": precision.evidence(), "precision_text": audited_share(precision),
        "checked_routed": len(checked), "checked_routed_right": sum(1 for _, right in checked if right),
        "label_free_precision": label_free.as_dict(),
        "label_free_text": label_free_share(label_free, "drivers it routes"),
        "calibration": calibration.as_dict(),
        "calibration_text": calibration_verdict(calibration, f"checked drivers the {side} routes"),
        "coverage_at_target_precision": coverage_at_target.shown_value,
        "coverage_at_target_precision_interval": coverage_at_target.interval,
        "coverage_at_target_precision_evidence": coverage_at_target.evidence(),
        "coverage_at_target_precision_text": coverage_share(coverage_at_target),
        "certificate": _certificate(pairs, side, labels, threshold, target_precision)}}


def _routing_evidence(tally: RoutingTally, challenger_p: float, champion_p: float) -> str:
    """The counts the sign test rests on, as the verdict's reason states them."""
    return (f"the challenger routes right {tally.gained} checked drivers the champion does not, the champion "
            f"{tally.lost} the challenger does not; of the drivers they decide differently about that nobody "
            f"checked, the champion routes {tally.unchecked_champion_routes} and the challenger "
            f"{tally.unchecked_challenger_routes}, counted against the side tested (sign test p = {challenger_p:.2g} "
            f"for the challenger, {champion_p:.2g} for the champion; below {SIGNIFICANCE / 2:g} decides)")


def _precision_evidence(checked_routes: Dict[str, tuple], champion_unknown: bool, target_precision: float) -> str:
    """The checked drivers each routes, right of checked: the evidence behind 'as precisely'."""
    checked, right = checked_routes["challenger"]
    against = (f"the champion's precision is unknown, so the bar is the target {percent(target_precision)}"
               if champion_unknown else "{1} of {0} for the champion".format(*checked_routes["champion"]))
    return f"{right} of the {checked} checked drivers the challenger routes are right, against {against}"


def compare(pairs: Sequence[Pair], labels: Dict[str, str], threshold: float = settings.DEFAULT_THRESHOLD,
            target_precision: float = settings.TARGET_PRECISION, trained_on: set = frozenset()) -> dict:
    """Agreement, each model's figures, the paired test and the verdict."""
    answered = len(pairs)
    pairs = [pair for pair in pairs if pair.photo_sha256 not in trained_on]
    routed = {side: [_routed(getattr(p, side), threshold) for p in pairs] for side in ("champion", "challenger")}
    agree = sum(1 for p, a, b in zip(pairs, routed["champion"], routed["challenger"])
                if a == b and (not a or p.champion.predicted == p.challenger.predicted))
    result = {"pairs": len(pairs), "left_out_trained_on": answered - len(pairs), "agreement": agree / len(pairs) if pairs else None,
              "threshold": threshold, "target_precision": target_precision, "variants": {}}
    estimated = {}
    for side in ("champion", "challenger"):
        estimated[side] = _variant_figures(pairs, side, labels, threshold, target_precision)
        result["variants"][side] = {"coverage": sum(routed[side]) / len(pairs) if pairs else None,
                                    **estimated[side]["figures"]}
    checked = [p for p in pairs if p.inference_id in labels]
    b = sum(1 for p in checked if p.challenger.predicted == labels[p.inference_id] != p.champion.predicted)
    c = sum(1 for p in checked if p.champion.predicted == labels[p.inference_id] != p.challenger.predicted)
    tally = routing_tally(pairs, labels, threshold)
    challenger_p, champion_p = routing_p_values(tally)
    # More drivers routed right is a gain only at least as precisely as the champion routes (at the
    # target when the champion's precision is unknown). The decision weighs the point estimates;
    # the reason quotes only the counts of checked drivers behind them.
    champion_precision = estimated["champion"]["precision"].value
    bar = champion_precision if champion_precision is not None else target_precision
    precision = estimated["challenger"]["precision"].value
    better = challenger_p < SIGNIFICANCE / 2
    routing = _routing_evidence(tally, challenger_p, champion_p)
    checked_routes = {side: (result["variants"][side]["checked_routed"], result["variants"][side]["checked_routed_right"])
                      for side in ("champion", "challenger")}
    if better and precision is None:
        verdict, reason = UNDECIDED, (f"the challenger routes more drivers right ({routing}), but its precision is "
                                      "unknown: among the drivers it routes, those the champion routes too were never "
                                      "audited (or those it alone routes never reviewed)")
    elif better and precision >= bar - 1e-12:
        verdict, reason = PROMOTE, (f"the challenger routes more drivers right: {routing}; and no less precisely: "
                                    f"{_precision_evidence(checked_routes, champion_precision is None, target_precision)}")
    elif better:
        verdict, reason = KEEP, (f"the challenger routes more drivers right: {routing}; but less precisely: "
                                 f"{_precision_evidence(checked_routes, champion_precision is None, target_precision)}")
    elif champion_p < SIGNIFICANCE / 2:
        verdict, reason = KEEP, f"the champion routes more drivers right: {routing}"
    else:
        verdict, reason = UNDECIDED, f"the drivers checked so far do not tell which routes more drivers right: {routing}"
    more = checked_to_decide(tally, len(checked)) if verdict == UNDECIDED and not better else 0
    result.update(checked=len(checked), routed_right_gained=tally.gained, routed_right_lost=tally.lost,
                  unchecked_champion_routes=tally.unchecked_champion_routes,
                  unchecked_challenger_routes=tally.unchecked_challenger_routes,
                  challenger_routes_better_p_value=challenger_p, champion_routes_better_p_value=champion_p,
                  challenger_better=b, champion_better=c, mcnemar_p_value=mcnemar_p_value(b, c),
                  verdict=verdict, reason=reason, more_labels_to_decide=more,
                  checked_disagreements=checked_disagreements(pairs, labels, threshold))
    return result


def table(result: dict) -> List[str]:
    """The comparison in lines for a terminal or a log: each model's figures, then the verdict and
    the counts it rests on."""
    lines = [f"{result['pairs']} drivers answered by both; they agree on {percent(result['agreement'])}; "
             f"{result['checked']} were checked by people."]
    for side in ("champion", "challenger"):
        figures = result["variants"][side]
        lines += [f"{side.capitalize()}: routes {percent(figures['coverage'])} at {result['threshold']:g} (counted).",
                  f"  precision among routed, audited: {figures['precision_text']}",
                  f"  precision among routed, label-free: {figures['label_free_text']}",
                  f"  {figures['calibration_text']}",
                  f"  coverage at {percent(result['target_precision'])} precision: "
                  f"{figures['coverage_at_target_precision_text']}",
                  f"  certificate from its shadow answers: {figures['certificate']['answer']}"]
    lines.append(f"Class named right where the two differ: challenger {result['challenger_better']}, champion "
                 f"{result['champion_better']} (McNemar p = {result['mcnemar_p_value']:.3g}; it decides nothing).")
    verdict = f"Verdict: {result['verdict']}: {result['reason']}"
    if result["verdict"] == UNDECIDED and result["more_labels_to_decide"]:
        verdict += f" (about {result['more_labels_to_decide']} more checked drivers would decide at this rate)"
    lines.append(verdict + ".")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitoring.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", required=True, metavar="DIR_OR_S3_URI",
                        help="the endpoint's data capture, both variants below it")
    parser.add_argument("--ground-truth", required=True, metavar="DIR_OR_S3_URI", help="the review loop's answers")
    parser.add_argument("--champion", default=settings.DEFAULT_VARIANT_NAME, help="default: %(default)s")
    parser.add_argument("--challenger", default=settings.CHALLENGER_VARIANT_NAME, help="default: %(default)s")
    parser.add_argument("--threshold", type=fraction, default=settings.DEFAULT_THRESHOLD)
    parser.add_argument("--target-precision", type=fraction, default=settings.TARGET_PRECISION)
    parser.add_argument("--exclude-manifest", default=None, metavar="FILE_OR_S3_URI",
                        help="the challenger's dataset manifest.jsonl: photos it was trained on never count")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        pairs = read_pairs(args.captures, args.champion, args.challenger)
        labels, _ = read_ground_truth(args.ground_truth)
        trained_on = trained_photo_hashes(args.exclude_manifest)
    except (storage.LocationNotFound, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not pairs:
        print(f"error: no inference below {args.captures} was answered by both {args.champion} and "
              f"{args.challenger}", file=sys.stderr)
        return 2
    result = compare(pairs, labels, args.threshold, args.target_precision, trained_on)
    print(json.dumps(result, indent=2) if args.json else "\n".join(table(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
