"""How long the monitoring report takes on many synthetic captured inferences. Prints its figures.

    .venv/bin/python bench/monitoring_report.py --records 20000

Writes SageMaker-format capture files (with a small base64 PNG-sized input, as the real endpoint
captures) and matching ground truth into a temporary directory, then times build_report on them.
The synthetic model is right with probability equal to its confidence, so it is well calibrated.
"""
import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import settings  # noqa: E402
from monitoring import capture_format, ground_truth  # noqa: E402
from monitoring.captures import read_captures  # noqa: E402
from monitoring.report import build_report  # noqa: E402

RECORDS_PER_FILE = 1000
# A 32x32 PNG is about 3 KB; its bytes do not matter to the report, its size does.
FAKE_IMAGE = os.urandom(3000)


def write_synthetic(root: Path, records: int, seed: int = 0) -> tuple:
    """Capture files (one every RECORDS_PER_FILE records, one hour apart) and one ground-truth file."""
    random = np.random.default_rng(seed)
    confidences = 0.5 + 0.5 * random.beta(5, 1, size=records)
    predicted = random.integers(0, 2, size=records)
    correct = random.random(records) < confidences
    start = datetime(2026, 11, 25, tzinfo=timezone.utc)
    labels, lines = {}, []
    for number in range(records):
        when = start + timedelta(seconds=3.6 * number)
        probabilities = [0.0, 0.0]
        probabilities[predicted[number]] = float(confidences[number])
        probabilities[1 - predicted[number]] = 1.0 - float(confidences[number])
        inference_id = f"bench-{number}"
        lines.append(capture_format.to_jsonl_line(capture_format.build_capture_record(
            FAKE_IMAGE, "image/png", str(probabilities).encode(), "application/json",
            inference_id=inference_id, inference_time=when)))
        truth = predicted[number] if correct[number] else 1 - predicted[number]
        labels[inference_id] = settings.CLASS_NAMES[truth]
        if len(lines) == RECORDS_PER_FILE or number == records - 1:
            path = root / "captures" / capture_format.capture_key("", "bench", "AllTraffic", when)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(lines))
            lines = []
    ground_truth.write_ground_truth(labels, root / "ground-truth", when=start)
    return root / "captures", root / "ground-truth"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="synthetic inferences (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        captures, truth = write_synthetic(Path(directory), args.records)
        generated = time.perf_counter() - started
        size = sum(path.stat().st_size for path in captures.rglob("*.jsonl"))
        started = time.perf_counter()
        read_captures(captures)
        reading = time.perf_counter() - started
        started = time.perf_counter()
        result = build_report(captures, truth, output_dir=Path(directory) / "report")
        elapsed = time.perf_counter() - started
    print(f"records: {args.records}  capture data: {size / 1e6:.1f} MB  (generated in {generated:.1f} s)")
    print(f"reading the captures alone: {reading:.2f} s  ({args.records / reading:,.0f} records/s)")
    print(f"whole report (read captures and ground truth, 4 plots, HTML): {elapsed:.2f} s")
    print(f"accuracy {result.summary['accuracy']:.4f}  certified threshold "
          f"{result.summary['certificate']['threshold']}  ECE {result.summary['expected_calibration_error']:.4f}")


if __name__ == "__main__":
    main()
