"""Packaging with the project's own `sls` and deploying the package into the stand-in."""
import json
import os
import shutil
import stat

import boto3
import pytest

from local import deployment

pytestmark = pytest.mark.slow


@pytest.fixture
def npx_failing_once(tmp_path, monkeypatch):
    """An `npx` first on PATH that fails its first call (as a PyPI hiccup fails the layer's pip) and
    hands every later call to the real npx."""
    real_npx = shutil.which("npx")
    if real_npx is None:
        pytest.skip("npx (Node.js) is not installed: bin/setup installs the Serverless CLI with npm")
    marker = tmp_path / "failed-once"
    wrapper = tmp_path / "bin" / "npx"
    wrapper.parent.mkdir()
    wrapper.write_text(f"""#!/bin/sh
if [ ! -e {marker} ]; then
    touch {marker}
    echo "pip: Could not fetch URL https://pypi.org/simple/pillow/: connection reset" >&2
    exit 1
fi
exec {real_npx} "$@"
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    return marker


def test_package_retries_one_failed_sls_package_and_says_so(stand_in, npx_failing_once, tmp_path, capsys):
    package_dir = deployment.package("retried", {}, stand_in.environment, cache_dir=tmp_path / "packages")

    assert npx_failing_once.exists()
    assert (package_dir / deployment.UPDATE_TEMPLATE).is_file()
    warning = capsys.readouterr().err
    assert "connection reset" in warning and "Retrying `sls package` once" in warning
    assert [path.name for path in (tmp_path / "packages").iterdir()] == [package_dir.name]  # no scratch left


def test_package_says_when_npx_is_missing(stand_in, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(deployment.DeploymentError, match="npx not found"):
        deployment.package("missing", {}, stand_in.environment, cache_dir=tmp_path / "packages")


def test_package_is_reused_while_nothing_it_reads_changes(packaged_service, stand_in, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # a rebuild would need npx and fail

    assert deployment.package("test", {}, stand_in.environment) == packaged_service


def test_package_key_changes_with_stage_params_and_sources(tmp_path):
    for name in ("serverless.yml", "settings.py"):
        (tmp_path / name).write_text(name)
    key = deployment.package_key("offline", {"threshold": "0.95"}, root=tmp_path)

    assert deployment.package_key("offline", {"threshold": "0.95"}, root=tmp_path) == key
    assert deployment.package_key("offline", {"threshold": "0.9"}, root=tmp_path) != key
    assert deployment.package_key("local", {"threshold": "0.95"}, root=tmp_path) != key
    (tmp_path / "settings.py").write_text("changed")
    assert deployment.package_key("offline", {"threshold": "0.95"}, root=tmp_path) != key


@pytest.mark.parametrize("source", ["monitoring/monitor.py", "training/dataset.py", "statemachine/retrain_model.asl.json"],
                         ids=["monitor-lambda-code", "dataset-lambda-code", "retraining-state-machine"])
def test_package_key_changes_with_what_the_new_functions_ship(tmp_path, source):
    (tmp_path / source).parent.mkdir(parents=True)
    (tmp_path / source).write_text("first")
    key = deployment.package_key("offline", {}, root=tmp_path)

    (tmp_path / source).write_text("changed")

    assert deployment.package_key("offline", {}, root=tmp_path) != key


def test_deploy_names_an_artifact_the_package_lacks(packaged_service, stand_in, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(packaged_service, broken)
    function_zip = sorted(path for path in broken.glob("*.zip") if path.name != "pythonRequirements.zip")[0]
    function_zip.unlink()
    clients = [boto3.client(name, endpoint_url=stand_in.url, region_name=stand_in.environment["AWS_REGION"],
                            aws_access_key_id="testing", aws_secret_access_key="testing")
               for name in ("cloudformation", "s3")]

    with pytest.raises(deployment.DeploymentError, match=f"has no {function_zip.name}"):
        deployment.deploy(broken, "broken-package", *clients)
    deployment.remove("broken-package", clients[0])
