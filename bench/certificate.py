"""Benchmark the threshold certificate (monitoring/certificate.py) as operators would use it: how often
a certificate is wrong, how often it says "not yet", and how long the first one takes.

    .venv/bin/python -m bench.certificate [--draws 1000] [--days 90] [--drivers-per-day 1000] [--seed 1]

Each draw is a stream of days of traffic. A driver's confidence c has 1 - c = 0.5 U^3 (U uniform:
46% of drivers at or above 0.95), and the model is wrong with probability s (1 - c), so the
precision among drivers routed at t is 1 - s (1 - t) / 4; s sets the true precision among drivers
routed at the threshold in force (0.95) to 97%, 99% or 99.7%. Routed drivers are audited at the
rate given, every other driver is reviewed. Every day the certificate is asked for on the pile so
far, exactly as `monitoring.certify` does: it looks at the labels only when the audited checks have
grown enough, and each look spends its share of the error rate. The first certificate of the draw
ends it.

A certificate is wrong when the precision among the pile's drivers routed at its threshold is
below the 99% target (the certified traffic); the model's precision there (the stream's, not the
pile's) is shown beside it. The goal: wrong in at most 5% of draws in every case. For contrast,
the last column tests the growing pile afresh at 5% every day, which the spending of the error
rate over looks prevents.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retraining import wilson  # noqa: E402
from monitoring import certificate  # noqa: E402

THRESHOLD_NOW = 0.95
TARGET = certificate.DEFAULT_TARGET_PRECISION
PRECISIONS = (0.97, 0.99, 0.997)
AUDIT_RATES = (0.02, 0.05, 0.20)
# look_level(1, 0.90) is 0.05: the naive column tests at 5% every day.
NAIVE_CONFIDENCE = 0.90
BIN_EDGES = [round(certificate.LOWEST_CANDIDATE + index * certificate.GRID_STEP, 6) for index in range(100)] + [1.0]


def population(true_precision: float):
    """(share of drivers, chance of a wrong answer) per confidence bin [edge, next edge), and s."""
    scale = (1 - true_precision) * 4 / (1 - THRESHOLD_NOW)
    u = (np.arange(200_000) + 0.5) / 200_000  # quantiles of U: exact enough means per bin
    confidence = 1 - 0.5 * u ** 3
    wrong = np.minimum(1.0, scale * (1 - confidence))
    bins = np.clip(np.searchsorted(BIN_EDGES, confidence, side="right") - 1, 0, 99)
    share = np.bincount(bins, minlength=100) / len(u)
    mean_wrong = np.bincount(bins, weights=wrong, minlength=100) / np.maximum(np.bincount(bins, minlength=100), 1)
    return share, mean_wrong, scale


def stream_precision(threshold: float, scale: float) -> float:
    return 1 - min(1.0, scale * (1 - threshold) / 4)


def tallies_of(drivers, checked, wrong_checked, routed):
    return [certificate.Tally(BIN_EDGES[index], int(drivers[index]), int(checked[index]), int(wrong_checked[index]),
                              bool(routed[index])) for index in range(100) if drivers[index]]


def one_draw(rng, share, mean_wrong, audit_rate, days, per_day, naive=False):
    """(day of the first certificate or None, its threshold, precision of the pile's drivers routed there)."""
    routed = np.asarray(BIN_EDGES[:100]) >= THRESHOLD_NOW - 1e-12
    pile = [np.zeros(100, dtype=int) for _ in range(4)]  # drivers, checked, wrong among checked, wrong in all
    looks = certificate.Looks()
    for day in range(1, days + 1):
        drivers = rng.multinomial(per_day, share)
        wrong = rng.binomial(drivers, mean_wrong)
        audited = np.where(routed, rng.binomial(drivers, audit_rate), drivers)
        # Which of a bin's drivers are audited is a random subset: its wrong ones are hypergeometric.
        wrong_audited = np.where(routed, rng.hypergeometric(wrong, drivers - wrong, audited), wrong)
        for total, today in zip(pile, (drivers, audited, wrong_audited, wrong)):
            total += today
        tallies = tallies_of(pile[0], pile[1], pile[2], routed)
        if naive:  # every day a fresh test at 5%, as if no look had come before
            answer = certificate.certify(tallies, THRESHOLD_NOW, TARGET, confidence=NAIVE_CONFIDENCE)
        else:
            answer = certificate.certify(tallies, THRESHOLD_NOW, TARGET, looks=looks)
            looks = certificate.Looks(answer.looks["count"], answer.looks["checks_at_last"],
                                      answer.looks["wrong_at_last"])
        if answer.certified:
            at = np.asarray(BIN_EDGES[:100]) >= answer.threshold - 1e-12
            return day, answer.threshold, 1 - pile[3][at].sum() / pile[0][at].sum()
    return None, None, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.certificate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000, help="simulated streams a case (default: %(default)s)")
    parser.add_argument("--days", type=int, default=90, help="days a stream lasts at most (default: %(default)s)")
    parser.add_argument("--drivers-per-day", type=int, default=1000, help="usable drivers a day (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"{args.draws} draws a case, {args.days} days of {args.drivers_per_day} usable drivers; threshold in force "
          f"{THRESHOLD_NOW}, target {TARGET:.0%} at {certificate.DEFAULT_CONFIDENCE:.0%}; wrong: the pile's "
          f"drivers routed at the certified threshold are below the target (95% Wilson interval)")
    header = (f"{'true precision at 0.95':<23}{'audit':>6}  {'wrong':<20}{'not yet':>8}  {'first certificate: day (drivers), median [10-90%]':<52}"
              f"{'thresholds certified':<22}{'model precision there':<23}{'naive re-testing: wrong':<24}")
    print(header)
    failures = 0
    for true_precision in PRECISIONS:
        share, mean_wrong, scale = population(true_precision)
        for audit_rate in AUDIT_RATES:
            results = [one_draw(rng, share, mean_wrong, audit_rate, args.days, args.drivers_per_day)
                       for _ in tqdm(range(args.draws), desc=f"{true_precision:.1%} at {audit_rate:.0%}", leave=False)]
            naive = [one_draw(rng, share, mean_wrong, audit_rate, args.days, args.drivers_per_day, naive=True)
                     for _ in tqdm(range(args.draws), desc="naive", leave=False)]
            issued = [result for result in results if result[0] is not None]
            wrong = sum(1 for _, _, precision in issued if precision < TARGET)
            naive_wrong = sum(1 for day, _, precision in naive if day is not None and precision < TARGET)
            _, low, high = wilson(wrong, args.draws)
            failures += wrong / args.draws > 0.05
            not_yet = 1 - len(issued) / args.draws
            if issued:
                days = np.asarray([day for day, _, _ in issued])
                when = (f"{np.median(days):.0f} ({np.median(days) * args.drivers_per_day:,.0f}) "
                        f"[{np.percentile(days, 10):.0f}-{np.percentile(days, 90):.0f}]")
                thresholds = np.asarray([threshold for _, threshold, _ in issued])
                span = f"{thresholds.min():.3f}-{thresholds.max():.3f} (median {np.median(thresholds):.3f})"
                model = min(stream_precision(threshold, scale) for threshold in thresholds)
                model_text = f"lowest {model:.2%}"
            else:
                when, span, model_text = "none", "-", "-"
            print(f"{true_precision:<23.1%}{audit_rate:>6.0%}  "
                  f"{100 * wrong / args.draws:5.1f}% [{100 * low:.1f}, {100 * high:.1f}]  {not_yet:>7.1%}  "
                  f"{when:<52}{span:<22}{model_text:<23}{100 * naive_wrong / args.draws:5.1f}%", flush=True)
    print("goal: wrong in at most 5% of draws in every case: " + ("met" if not failures else f"missed in {failures} cases"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
