"""Shadow windows as the review loop sees them, with a known answer: for checking the verdict's
error rate and power by simulation (tests/monitoring/test_compare.py, bench/shadow_verdict.py).

Plain Python, like the comparison it feeds.
"""
import random
from typing import Dict, List, Tuple

from monitoring.compare import Answer, Pair

ROUTED, ASKED = 0.99, 0.8   # confidences either side of the default threshold


def simulated_window(rng: random.Random, drivers: int, gain_part: float, gain_right: float, loss_part: float,
                     loss_right: float, audit_rate: float, review_rate: float = 0.9) -> Tuple[List[Pair], Dict[str, str]]:
    """(pairs, labels) of one window of bicycles. A gain_part of the drivers the challenger routes
    and the champion sends to a person (the challenger right at gain_right), a loss_part the
    reverse (the champion right at loss_right), the rest routed alike and right. The champion's
    rejections are reviewed at review_rate, its routed drivers audited at audit_rate. Both route
    right equally often when gain_part * gain_right == loss_part * loss_right."""
    pairs, labels = [], {}
    for number in range(drivers):
        draw, inference_id = rng.random(), f"driver-{number}"
        if draw < gain_part:
            named = "bicycle" if rng.random() < gain_right else "motorcycle"
            pair, checked = Pair(inference_id, Answer(ASKED, "bicycle", True), Answer(ROUTED, named, True), ""), \
                rng.random() < review_rate
        elif draw < gain_part + loss_part:
            named = "bicycle" if rng.random() < loss_right else "motorcycle"
            pair, checked = Pair(inference_id, Answer(ROUTED, named, True), Answer(ASKED, "bicycle", True), ""), \
                rng.random() < audit_rate
        else:
            pair, checked = Pair(inference_id, Answer(ROUTED, "bicycle", True), Answer(ROUTED, "bicycle", True), ""), \
                rng.random() < audit_rate
        pairs.append(pair)
        if checked:
            labels[inference_id] = "bicycle"
    return pairs, labels
