"""The shared image code on the SageMaker container's Pillow (training/requirements.txt), the oldest
Pillow it may meet: this directory's tests run again in a process that imports that Pillow first."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import settings

CONTAINER_PILLOW = settings.PROJECT_ROOT / ".venv" / "container-pillow"
PINNED = (settings.PROJECT_ROOT / "training" / "requirements.txt").read_text()
RUNNING_ON_CONTAINER_PILLOW = "VEHICLE_CONTAINER_PILLOW" in os.environ


@pytest.mark.skipif(RUNNING_ON_CONTAINER_PILLOW, reason="already the run on the container's Pillow")
def test_imaging_tests_pass_on_the_container_pillow():
    assert CONTAINER_PILLOW.is_dir(), "bin/setup installs the container's Pillow into .venv/container-pillow"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CONTAINER_PILLOW), str(settings.PROJECT_ROOT)]),
                   "VEHICLE_CONTAINER_PILLOW": "1"}

    completed = subprocess.run(
        [sys.executable, "-c", "import PIL; print(PIL.__version__)"], env=environment, capture_output=True, text=True)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__).parent)],
        cwd=settings.PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=600)

    assert f"pillow=={completed.stdout.strip()}" in PINNED
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
