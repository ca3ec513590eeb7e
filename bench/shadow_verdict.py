"""Benchmark the shadow comparison's paired test: how often it declares a side better when the two
route right equally often (its error rate), and how often it finds a better challenger (power).

    .venv/bin/python -m bench.shadow_verdict [--windows 1000] [--drivers 300] [--seed 1]

Each window is simulated as the review loop sees it (monitoring/review_simulation.py): the
champion's rejections reviewed at 90%, its routed drivers audited at the rate given. The goal: a
side is wrongly declared better in at most 2.5% of windows (each side's one-sided level), at any
audit rate. Rates are printed with 95% Wilson intervals over the windows.
"""
import argparse
import random
import sys
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retraining import wilson  # noqa: E402
from monitoring import compare  # noqa: E402
from monitoring.review_simulation import simulated_window  # noqa: E402

# (name, gain part, challenger right there, loss part, champion right there, audit rate)
SCENARIOS = [
    ("equal, 10% audited", 0.10, 0.90, 0.10, 0.90, 0.10),
    ("equal, 50% audited", 0.10, 0.90, 0.10, 0.90, 0.50),
    ("equal, champion often wrong alone", 0.10, 0.90, 0.30, 0.30, 0.10),
    ("challenger +4.75 points, 10% audited", 0.10, 0.95, 0.05, 0.95, 0.10),
    ("challenger +4.75 points, 50% audited", 0.10, 0.95, 0.05, 0.95, 0.50),
    ("challenger +14.25 points, 10% audited", 0.20, 0.95, 0.05, 0.95, 0.10),
    ("challenger +9 points, champion often wrong alone, 50% audited", 0.20, 0.90, 0.30, 0.30, 0.50),
    ("champion +4.75 points, 10% audited", 0.05, 0.95, 0.10, 0.95, 0.10),
    ("champion +9.5 points, 10% audited", 0.05, 0.95, 0.15, 0.95, 0.10),
    ("champion +9.5 points, 50% audited", 0.05, 0.95, 0.15, 0.95, 0.50),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shadow_verdict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=1000, help="simulated windows a scenario (default: %(default)s)")
    parser.add_argument("--drivers", type=int, default=300, help="paired drivers a window (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    alpha = compare.SIGNIFICANCE / 2
    print(f"{args.windows} windows of {args.drivers} drivers a scenario; a side is declared better at one-sided p < {alpha}")
    print(f"{'scenario':<64} {'challenger declared better':<28} champion declared better")
    for name, gain_part, gain_right, loss_part, loss_right, audit_rate in SCENARIOS:
        declared = [0, 0]
        for _ in tqdm(range(args.windows), desc=name, leave=False):
            pairs, labels = simulated_window(rng, args.drivers, gain_part, gain_right, loss_part, loss_right, audit_rate)
            for side, p_value in enumerate(compare.routing_p_values(compare.routing_tally(pairs, labels, 0.95))):
                declared[side] += p_value < alpha
        cells = []
        for count in declared:
            _, low, high = wilson(count, args.windows)
            cells.append(f"{100 * count / args.windows:5.1f}% [{100 * low:.1f}, {100 * high:.1f}]")
        print(f"{name:<64} {cells[0]:<28} {cells[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
