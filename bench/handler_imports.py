"""Cold import time of each Lambda handler module vs `import sagemaker`, and each deployment zip's size.

Each import runs in a fresh Python process (what a Lambda cold start pays) with what a deployed
function has in its environment (a task root, so Powertools' Tracer patches boto3 for X-Ray as in
Lambda; the Powertools variables serverless.yml sets), boto3 client creation included since the
handlers create their clients at import. One warm-up run per module fills the bytecode cache and is
not counted. Zip sizes come from `sls package` (against the AWS stand-in, which osls asks about the
layer).

Goals: Serialize Image (which imports Pillow to decode photos) in under 1/3 of sagemaker's time,
the other handlers under 1/5, and Check Confidence under 150 ms; each function zip under 50 KB
(Pillow and Powertools are in the layer).

    .venv/bin/python -m bench.handler_imports [--repeats 7] [--skip-package]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

from tqdm import tqdm

import settings

HANDLER_MODULES = {"serializeImage": "handlers.serialize_image", "classifyImage": "handlers.classify_image",
                   "filterConfidence": "handlers.filter_confidence"}
BASELINE_MODULE = "sagemaker"
IMPORT_RATIO_GOALS = {"serializeImage": 1 / 3, "classifyImage": 1 / 5, "filterConfidence": 1 / 5}
IMPORT_MS_GOALS = {"filterConfidence": 150}
ZIP_BYTES_GOAL = 50 * 1024
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
LAMBDA_ENVIRONMENT = {"LAMBDA_TASK_ROOT": str(settings.PROJECT_ROOT),
                      settings.ENV_POWERTOOLS_SERVICE_NAME: settings.SERVICE_NAME,
                      settings.ENV_POWERTOOLS_METRICS_NAMESPACE: f"{settings.SERVICE_NAME}/bench"}
TIMER = "import time; start = time.perf_counter(); import {module}; print(time.perf_counter() - start)"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7,
                        help="fresh-process imports per module; the median is reported (default: 7)")
    parser.add_argument("--skip-package", action="store_true",
                        help="do not run `sls package` (no zip sizes), e.g. without Node.js")
    arguments = parser.parse_args()
    if arguments.repeats < 1:
        parser.error("--repeats must be at least 1")
    return arguments


def import_seconds(module: str) -> float:
    completed = subprocess.run([sys.executable, "-c", TIMER.format(module=module)], cwd=settings.PROJECT_ROOT,
                               env={**os.environ, **DUMMY_AWS, **LAMBDA_ENVIRONMENT,
                                    "PYTHONPATH": str(settings.PROJECT_ROOT)},
                               capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"importing {module} failed:\n{completed.stderr.strip()}")
    return float(completed.stdout.strip().splitlines()[-1])


def median_import_seconds(modules: list[str], repeats: int) -> dict[str, float]:
    """Round-robin over the modules, so a busy machine slows all of them alike."""
    timings = {module: [] for module in modules}
    with tqdm(total=len(modules) * (repeats + 1), desc="cold imports", unit="process") as progress:
        for module in modules:
            import_seconds(module)  # warm-up: bytecode cache, page cache
            progress.update()
        for _ in range(repeats):
            for module in modules:
                timings[module].append(import_seconds(module))
                progress.update()
    return {module: statistics.median(values) for module, values in timings.items()}


def zip_sizes() -> dict[str, int]:
    from local import deployment
    from local.aws import StandIn

    if shutil.which("npx") is None:
        sys.exit("npx not found: install Node.js 20+ and run bin/setup, or pass --skip-package")
    with StandIn(port=0) as stand_in:
        try:
            directory = deployment.package("bench", {}, stand_in.client_environment())
        except deployment.DeploymentError as error:
            sys.exit(str(error))
    sizes = {key: (directory / f"{key}.zip").stat().st_size for key in HANDLER_MODULES}
    sizes["layer"] = (directory / "pythonRequirements.zip").stat().st_size
    return sizes


def main() -> None:
    arguments = parse_args()
    seconds = median_import_seconds([*HANDLER_MODULES.values(), BASELINE_MODULE], arguments.repeats)
    sizes = {} if arguments.skip_package else zip_sizes()
    baseline = seconds[BASELINE_MODULE]
    print(f"\nmedian cold import over {arguments.repeats} fresh processes; `import {BASELINE_MODULE}`: "
          f"{baseline * 1000:.0f} ms")
    print(f"{'function':<18}{'module':<29}{'import ms':>10}{'vs sagemaker':>14}{'zip KB':>9}  goals")
    for key, module in HANDLER_MODULES.items():
        ratio = seconds[module] / baseline
        size = sizes.get(key)
        size_text = f"{size / 1024:.1f}" if size is not None else "-"
        milliseconds_goal = IMPORT_MS_GOALS.get(key)
        met = (ratio < IMPORT_RATIO_GOALS[key] and (size is None or size < ZIP_BYTES_GOAL)
               and (milliseconds_goal is None or seconds[module] * 1000 < milliseconds_goal))
        goals = f"< {IMPORT_RATIO_GOALS[key]:.2f}" + (f", < {milliseconds_goal} ms" if milliseconds_goal else "")
        print(f"{key:<18}{module:<29}{seconds[module] * 1000:>10.0f}{ratio:>14.3f}{size_text:>9}  "
              f"{'met' if met else 'MISSED'} ({goals}, < 50 KB)")
    if "layer" in sizes:
        print(f"layer (Pillow, Powertools, X-Ray SDK; python3.11, arm64): {sizes['layer'] / 1e6:.1f} MB zipped")


if __name__ == "__main__":
    main()
