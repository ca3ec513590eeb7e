"""Champion and challenger side by side, on the same drivers and what people checked.

    python -m monitoring.compare --captures DIR|s3://… --ground-truth DIR|s3://… \
        [--champion AllTraffic] [--challenger Challenger] [--exclude-manifest DIR|s3://…/manifest.jsonl]

Both variants' answers to the same requests are captured under their own variant folders with the
same inference id (a shadow variant); they are paired on it. People checked drivers by the
champion's decisions (its rejections reviewed, a share of its routed drivers audited), so both
models' precision is estimated with the champion's decision as the stratum
(monitoring/estimates.py), and coverage is counted over every pair.

The paired test is McNemar's exact test on the checked drivers the two models label differently:
b, challenger right where the champion is wrong, against c, the reverse. The verdict:

  promote                 b > c with p < 0.05, and the challenger's estimated precision of routing
                          at the threshold is at least the champion's (the target's, when the
                          champion's is unknown)
  keep                    c > b with p < 0.05, or b > c but the challenger routes less precisely
  not enough evidence     otherwise, with how many more checked drivers would decide at this rate

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
from monitoring import storage
from monitoring.capture_format import MalformedCaptureRecord, parse_capture_line, variant_of
from monitoring.estimates import Inference, ThresholdEstimates
from monitoring.features import UnusableOutput, features_of
from monitoring.formatting import fraction, percent, percent_interval
from monitoring.ground_truth import read_ground_truth

SIGNIFICANCE = 0.05
PROMOTE, KEEP, UNDECIDED = "promote", "keep", "not enough evidence yet"
VERDICT_MEANINGS = {
    PROMOTE: "the challenger is right more often on the drivers people checked (McNemar, p < 0.05) and routes at "
             "least as precisely: promote it (a canary first, rolled back on alarms)",
    KEEP: "the champion is right more often, or the challenger's better answers come with less precise routing: "
          "keep the champion; the next approved challenger takes the shadow's place",
    UNDECIDED: "the two differ on too few checked drivers to tell them apart: leave the shadow running while people "
               "review and audit",
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
    try:
        text = storage.read_bytes(str(manifest), s3_client).decode("utf-8")
    except Exception as error:
        missing = isinstance(error, FileNotFoundError) or (
            storage.is_aws_error(error) and getattr(error, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"))
        if not missing:
            raise
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


def labels_to_decide(b: int, c: int, checked: int) -> Optional[int]:
    """More checked drivers needed, at the current rate and split of disagreements, for McNemar to
    reach SIGNIFICANCE; None when the two never disagree or split evenly."""
    if b == c or checked == 0:
        return None
    rate, share = (b + c) / checked, max(b, c) / (b + c)
    for discordant in range(b + c, 100000):
        high = math.ceil(discordant * share)
        if mcnemar_p_value(high, discordant - high) < SIGNIFICANCE:
            return max(0, math.ceil(discordant / rate) - checked)
    return None


def _routed(answer: Answer, threshold: float) -> bool:
    return answer.usable and answer.confidence >= threshold


def _decision(answer: Answer, threshold: float) -> dict:
    return {"predicted": answer.predicted, "confidence": answer.confidence, "usable": answer.usable,
            "routed": _routed(answer, threshold)}


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


def _estimates(pairs: Sequence[Pair], side: str, labels: Dict[str, str], threshold: float) -> ThresholdEstimates:
    inferences = []
    for pair in pairs:
        answer, champion = getattr(pair, side), pair.champion
        if not answer.usable:
            continue
        label = labels.get(pair.inference_id)
        inferences.append(Inference(answer.confidence, None if label is None else label == answer.predicted,
                                    routed_by_workflow=champion.usable and champion.confidence >= threshold))
    return ThresholdEstimates(inferences, threshold)


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
    for side in ("champion", "challenger"):
        estimates = _estimates(pairs, side, labels, threshold)
        precision = estimates.precision(threshold)
        _, coverage_at_target = estimates.coverage_at_target(target_precision)
        result["variants"][side] = {
            "coverage": sum(routed[side]) / len(pairs) if pairs else None,
            "precision_accepted": precision.value, "precision_interval": precision.interval,
            "coverage_at_target_precision": coverage_at_target.value,
            "coverage_at_target_precision_interval": coverage_at_target.interval}
    checked = [p for p in pairs if p.inference_id in labels]
    b = sum(1 for p in checked if p.challenger.predicted == labels[p.inference_id] != p.champion.predicted)
    c = sum(1 for p in checked if p.champion.predicted == labels[p.inference_id] != p.challenger.predicted)
    p_value = mcnemar_p_value(b, c)
    champion, challenger = result["variants"]["champion"], result["variants"]["challenger"]
    # The challenger must route at least as precisely as the champion (at the target when the
    # champion's precision is unknown).
    bar = champion["precision_accepted"] if champion["precision_accepted"] is not None else target_precision
    precise_enough = challenger["precision_accepted"] is not None and challenger["precision_accepted"] >= bar - 1e-12
    if p_value >= SIGNIFICANCE:
        verdict = UNDECIDED
    elif b > c and precise_enough:
        verdict = PROMOTE
    else:  # the champion labels better, or the challenger's better labels route less precisely
        verdict = KEEP
    result.update(checked=len(checked), challenger_better=b, champion_better=c, mcnemar_p_value=p_value,
                  verdict=verdict, more_labels_to_decide=labels_to_decide(b, c, len(checked)) if verdict == UNDECIDED
                  else 0, checked_disagreements=checked_disagreements(pairs, labels, threshold))
    return result


def table(result: dict) -> List[str]:
    lines = [f"{result['pairs']} drivers answered by both; they agree on {percent(result['agreement'])}; "
             f"{result['checked']} were checked by people.",
             f"{'':<11} {'routed at ' + format(result['threshold'], 'g'):<14} {'precision (estimated)':<40} "
             f"coverage at {percent(result['target_precision'])} precision"]
    for side in ("champion", "challenger"):
        figures = result["variants"][side]
        lines.append(f"{side:<11} {percent(figures['coverage']):<14} "
                     f"{percent(figures['precision_accepted']) + ' (' + percent_interval(figures['precision_interval']) + ')':<40} "
                     f"{percent(figures['coverage_at_target_precision'])} "
                     f"({percent_interval(figures['coverage_at_target_precision_interval'])})")
    lines.append(f"Checked drivers the two label differently: challenger right {result['challenger_better']}, champion "
                 f"right {result['champion_better']} (McNemar p = {result['mcnemar_p_value']:.3g}).")
    verdict = f"Verdict: {result['verdict']}"
    if result["verdict"] == UNDECIDED and result["more_labels_to_decide"] is not None:
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
