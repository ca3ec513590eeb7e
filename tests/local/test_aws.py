"""The AWS stand-in: the user's own `sls deploy`, `sls invoke stepf` and `sls remove` against it,
and its own behaviour as a command."""
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import boto3
import pytest

import settings
from local import aws, deployment
from imaging import samples

STAGE = "rehearsal"
pytestmark = pytest.mark.slow


def sls(stand_in, *arguments: str) -> subprocess.CompletedProcess:
    """The user's command, with the export lines the stand-in printed."""
    environment = {**stand_in.environment, **deployment.FAST_POLLING}
    completed = subprocess.run(["npx", "--no-install", "sls", *arguments, "--stage", STAGE], cwd=settings.PROJECT_ROOT,
                               env={**os.environ, **deployment.QUIET_SLS, **environment}, capture_output=True,
                               text=True, timeout=300)
    return completed


def execution(printed: str) -> dict:
    """The execution description `sls invoke stepf` prints (a JS object literal of JSON values)."""
    start = printed.index("{\n")
    return json.loads(printed[start:printed.index("\n}", start) + 2].replace('"$metadata"', '"metadata"'))


@pytest.fixture(scope="module")
def rehearsal(stand_in):
    """`sls deploy --stage rehearsal` and a photo uploaded to the stack's images bucket."""
    deployed = sls(stand_in, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    s3 = boto3.client("s3", endpoint_url=stand_in.url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"vehicle-routing-{STAGE}-images"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="drivers/bicycle.png", Body=samples.encoded(samples.scene(320, 240, noise=8), "PNG"))
    yield deployed
    if cloudformation(stand_in).list_stacks(StackStatusFilter=["UPDATE_COMPLETE", "CREATE_COMPLETE"])["StackSummaries"]:
        sls(stand_in, "remove")  # a failed test before the removal test


def cloudformation(stand_in):
    return boto3.client("cloudformation", endpoint_url=stand_in.url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_stand_in_prints_the_exports_a_user_pastes(stand_in):
    exports = [line.strip() for line in stand_in.output if line.strip().startswith("export ")]

    assert exports == [f"export AWS_ENDPOINT_URL={stand_in.url}", "export AWS_ACCESS_KEY_ID=testing",
                       "export AWS_SECRET_ACCESS_KEY=testing", "export AWS_REGION=us-east-1",
                       "export AWS_DEFAULT_REGION=us-east-1"]
    assert stand_in.url.startswith("http://127.0.0.1:")


def test_sls_deploy_lists_the_deployed_functions(rehearsal):
    assert f"Service deployed to stack vehicle-routing-{STAGE}" in rehearsal.stdout + rehearsal.stderr
    assert f"vehicle-routing-{STAGE}-serializeImage" in rehearsal.stdout


def test_sls_invoke_stepf_routes_the_uploaded_photo_or_hands_it_to_a_person(stand_in, rehearsal):
    invoked = sls(stand_in, "invoke", "stepf", "--name", "classifyVehicle", "--path", "events/confident_bicycle.json")

    described = execution(invoked.stdout + invoked.stderr)
    # The tiny untrained model of the tests is never 95% sure: a person is asked.
    assert (described["status"], described["error"]) == ("FAILED", "ConfidenceBelowThreshold")
    assert f"s3://vehicle-routing-{STAGE}-images/drivers/bicycle.png" in described["cause"]


def test_sls_invoke_stepf_names_a_missing_photo_image_not_found(stand_in, rehearsal):
    invoked = sls(stand_in, "invoke", "stepf", "--name", "classifyVehicle", "--path", "events/missing_key.json")

    described = execution(invoked.stdout + invoked.stderr)
    assert (described["status"], described["error"]) == ("FAILED", "ImageNotFound")


def test_sls_deploy_with_another_threshold_takes_effect_on_the_next_execution(stand_in, rehearsal):
    redeployed = sls(stand_in, "deploy", "--param=threshold=0.5")
    invoked = sls(stand_in, "invoke", "stepf", "--name", "classifyVehicle", "--path", "events/confident_bicycle.json")

    assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
    described = execution(invoked.stdout + invoked.stderr)
    output = json.loads(described["output"])
    assert described["status"] == "SUCCEEDED"
    assert output["threshold"] == 0.5 and output["route"] == settings.ROUTE_BY_LABEL[output["label"]]
    assert output["confidence"] >= 0.5 and output["original"]["format"] == "PNG"


def test_operations_page_draws_the_rehearsals_executions_and_how_each_ended(stand_in, rehearsal, tmp_path):
    """The dashboard `sls deploy` created, drawn by `python -m local.operations_page` from the
    stand-in's CloudWatch: the executions above, routed or failed under their errors' names."""
    from datetime import datetime, timedelta, timezone

    from local import operations_page
    page = tmp_path / "operations.html"
    drawn = subprocess.run([sys.executable, "-m", "local.operations_page", "--dashboard", f"vehicle-routing-{STAGE}",
                            "--since", "30m", "--output", str(page)], cwd=settings.PROJECT_ROOT,
                           env={**os.environ, **stand_in.environment}, capture_output=True, text=True, timeout=300)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=stand_in.url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    body = json.loads(cloudwatch.get_dashboard(DashboardName=f"vehicle-routing-{STAGE}")["DashboardBody"])
    [ended] = [widget["properties"] for widget in body["widgets"]
               if widget.get("properties", {}).get("title", "").startswith("How executions ended")]
    now = datetime.now(timezone.utc)

    lines = operations_page.widget_lines(cloudwatch, ended, now - timedelta(minutes=30), now + timedelta(seconds=1), 60)

    assert drawn.returncode == 0 and page.read_text().count("data:image/png;base64,") > 10, drawn.stderr
    totals = {line.label: sum(line.points.values()) for line in lines}
    assert totals["ConfidenceBelowThreshold"] >= 1 and totals["ImageNotFound"] >= 1, totals
    assert totals["Routed (DriverRouted)"] >= 1, totals   # the execution at the threshold 0.5


def drifted_capture_lines(count: int) -> str:
    """Data capture of dark, flat photos the model is sure of: far from any photo's statistics."""
    from datetime import datetime, timezone

    from monitoring import capture_format
    lines = []
    for number in range(count):
        body = {"probabilities": [0.99, 0.01], "classes": list(settings.CLASS_NAMES), "usable": True,
                "unusable_reasons": [], "unusable_codes": [], "two_wheeler_mass": 0.9,
                "input_statistics": {"brightness": 8.0 + number % 3, "contrast": 3.0, "sharpness": 1.0,
                                     "colourfulness": 0.5}}
        lines.append(capture_format.to_jsonl_line(capture_format.build_capture_record(
            b"\x89PNG", "image/png", json.dumps(body).encode(), settings.ASSESSMENT_CONTENT_TYPE,
            inference_id=f"dark-{number}", inference_time=datetime.now(timezone.utc))))
    return "".join(lines)


def test_sls_invoke_monitor_model_writes_violations_for_a_drifted_capture_and_tells_the_bus(
        stand_in, rehearsal, tiny_model_dir):
    from datetime import datetime, timezone

    from monitoring import baseline, capture_format
    clients = {name: boto3.client(name, endpoint_url=stand_in.url, region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
               for name in ("s3", "events", "sqs")}
    s3, bucket, endpoint = clients["s3"], f"vehicle-routing-{STAGE}-monitoring", aws.deployed_endpoint_name()
    s3.create_bucket(Bucket=bucket)
    for name in (baseline.STATISTICS_FILE, baseline.CONSTRAINTS_FILE):
        s3.upload_file(str(tiny_model_dir / baseline.BASELINE_DIR / name), bucket,
                       f"{settings.MONITORING_PREFIX}/baseline/{endpoint}/{name}")
    key = capture_format.capture_key(settings.CAPTURE_PREFIX, endpoint, settings.DEFAULT_VARIANT_NAME,
                                     datetime.now(timezone.utc))
    s3.put_object(Bucket=bucket, Key=key, Body=drifted_capture_lines(120).encode())
    queue = clients["sqs"].create_queue(QueueName="deteriorated")["QueueUrl"]
    queue_arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = f"vehicle-routing-{STAGE}-decisions"
    clients["events"].put_rule(Name="deteriorated", EventBusName=bus,
                               EventPattern=json.dumps({"detail-type": [settings.MODEL_DETERIORATED]}))
    clients["events"].put_targets(Rule="deteriorated", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    invoked = sls(stand_in, "invoke", "--function", "monitorModel")

    assert invoked.returncode == 0, invoked.stdout + invoked.stderr
    printed = json.loads(invoked.stdout[invoked.stdout.index("{"):])
    assert printed["items"] == 120 and printed["violations"] > 0
    report = storage_key(printed["reports"]["violations"])
    violations = json.loads(s3.get_object(Bucket=bucket, Key=report)["Body"].read())["violations"]
    assert {"brightness", "contrast"} <= {v["feature_name"] for v in violations
                                          if v["constraint_check_type"] == "baseline_drift_check"}
    [message] = clients["sqs"].receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    event = json.loads(message["Body"])
    assert event["detail"]["endpoint_name"] == endpoint and len(event["detail"]["violations"]) == len(violations)


def tiny_png(shade: int, channel: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image
    pixels = np.random.RandomState(shade).randint(0, 80, (32, 32, 3))
    pixels[..., channel] += 150
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_sls_invoke_stepf_retrain_model_trains_a_challenger_and_registers_it_pending_approval(
        stand_in, rehearsal, tiny_model_dir, pretrained_channel):
    from datetime import datetime, timedelta, timezone

    from training import archives
    from monitoring import capture_format, ground_truth
    s3 = boto3.client("s3", endpoint_url=stand_in.url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    bucket, endpoint = f"vehicle-routing-{STAGE}-monitoring", aws.deployed_endpoint_name()
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    # What the launcher leaves: code, the model serving now, the base data.
    s3.put_object(Bucket=bucket, Key=settings.SOURCE_CODE_KEY, Body=archives.source_archive(settings.PROJECT_ROOT))
    s3.put_object(Bucket=bucket, Key=settings.CURRENT_MODEL_KEY, Body=archives.model_archive(tiny_model_dir))
    for split, count in (("train", 8), ("test", 2)):
        for index in range(count):
            for channel, name in enumerate(settings.CLASS_NAMES):
                s3.put_object(Bucket=bucket, Key=f"{settings.DATA_PREFIX}/{split}/{name}/{split}{index}.png",
                              Body=tiny_png(100 + index, 2 * channel))
    for weights in pretrained_channel.iterdir():
        s3.upload_file(str(weights), bucket, f"{settings.DATA_PREFIX}/{settings.PRETRAINED_CHANNEL}/{weights.name}")
    # The parent's real photos, from two sources (the real-photo channel training.stage_data stages).
    for index, source in enumerate(("kvt", "olx")):
        for channel, name in enumerate(settings.CLASS_NAMES):
            s3.put_object(Bucket=bucket, Key=f"{settings.DATA_PREFIX}/{settings.REAL_CHANNEL}/{name}/{source}__{index}.png",
                          Body=tiny_png(300 + index, 2 * channel))
    # What the loop leaves: 8 captured drivers' photos and people's answers (one not a vehicle).
    start = datetime.now(timezone.utc) - timedelta(minutes=10)
    answers = {f"driver-{n}": settings.REVIEW_LABELS[n % 3] for n in range(8)}
    lines = "".join(capture_format.to_jsonl_line(capture_format.build_capture_record(
        tiny_png(n, 2 * (n % 2)), "image/png", b"[0.6, 0.4]", "application/json", inference_id=inference_id,
        inference_time=start + timedelta(seconds=n))) for n, inference_id in enumerate(answers))
    s3.put_object(Bucket=bucket, Key=capture_format.capture_key(settings.CAPTURE_PREFIX, endpoint, "AllTraffic", start),
                  Body=lines.encode())
    ground_truth.write_ground_truth(answers, f"s3://{bucket}/ground-truth", s3_client=s3,
                                    class_names=settings.REVIEW_LABELS)
    redeployed = sls(stand_in, "deploy", "--param=retrainPollSeconds=1", "--param=minNewLabels=4")
    assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
    tiny = {"epochs": 1, "input-size": 32, "batch-size": 4, "validation-fraction": 0.25}
    # The endpoint serves this stage's current model: the pipeline takes what it serves as the parent.
    sagemaker = boto3.client("sagemaker", endpoint_url=stand_in.url, region_name="us-east-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
    parent = f"s3://{bucket}/{settings.CURRENT_MODEL_KEY}"
    sagemaker.create_model(ModelName="test-stage-current", ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMaker",
                           PrimaryContainer={"Image": "mxnet-inference", "ModelDataUrl": parent})
    sagemaker.create_endpoint_config(EndpointConfigName="test-stage-current", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "test-stage-current", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName="test-stage-current")

    invoked = sls(stand_in, "invoke", "stepf", "--name", "retrainModel", "--data", json.dumps({"hyperparameters": tiny}))

    described = execution(invoked.stdout + invoked.stderr)
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    package = sagemaker.describe_model_package(ModelPackageName=output["model_package_arn"])
    [job] = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    channels = sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"])["InputDataConfig"]
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in channels}
    assert uris["parent"] == parent
    assert uris[settings.PRETRAINED_CHANNEL] == f"s3://{bucket}/{settings.DATA_PREFIX}/{settings.PRETRAINED_CHANNEL}"
    # The parent's real photos stay in the challenger's training; the reviewed ones add to them.
    assert uris[settings.REAL_CHANNEL] == f"s3://{bucket}/{settings.DATA_PREFIX}/{settings.REAL_CHANNEL}"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == output["model_data"]
    evaluation = json.loads(s3.get_object(Bucket=bucket, Key=storage_key(output["evaluation"]))["Body"].read())
    assert set(evaluation["judged"]) == {"challenger", "parent"}
    assert evaluation["judged"]["challenger"]["holdout"]["vehicles"] + evaluation["judged"]["challenger"]["holdout"][
        "others"] == 2  # 30% of the 8 answered photos, the newest
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == output["evaluation"]


def storage_key(uri: str) -> str:
    from monitoring import storage
    return storage.parse_s3(uri).prefix


def test_sls_remove_removes_the_stack_and_the_exports_the_deploy_declared(stand_in, rehearsal):
    exported = [export["Name"] for export in cloudformation(stand_in).list_exports()["Exports"]]

    removed = sls(stand_in, "remove")

    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert f"sls-vehicle-routing-{STAGE}-ServerlessDeploymentBucketName" in exported
    stacks = cloudformation(stand_in).list_stacks()["StackSummaries"]
    assert {stack["StackStatus"] for stack in stacks if stack["StackName"] == f"vehicle-routing-{STAGE}"} == {
        "DELETE_COMPLETE"}
    assert cloudformation(stand_in).list_exports()["Exports"] == []


def test_stand_in_refuses_a_busy_port_with_one_line(capsys):
    with socket.socket() as busy:
        busy.bind((settings.LOCAL_ENDPOINT_HOST, 0))
        busy.listen()
        status = aws.main(["--port", str(busy.getsockname()[1]), "--no-model"])

    error = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert error[-1].startswith("error: Cannot listen on 127.0.0.1:") and "Choose another --port" in error[-1]


def test_stand_in_stops_cleanly_on_sigterm():
    process = subprocess.Popen([sys.executable, "-m", "local.aws", "--port", "0", "--no-model"],
                               cwd=settings.PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("Ready."):
            break

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 0
    assert "Stopped." in stderr and "Traceback" not in stderr


def test_stand_in_refuses_a_model_trained_before_usability_with_a_message(tmp_path, capsys):
    (tmp_path / "classes.json").write_text(json.dumps(list(settings.CLASS_NAMES)))
    for name in ("model-symbol.json", "model-0000.params", "calibration.json", "architecture.json"):
        (tmp_path / name).write_text("{}")

    status = aws.main(["--port", "0", "--model-dir", str(tmp_path)])

    assert status == 1
    assert "--retrain" in capsys.readouterr().err


def test_stand_in_refuses_a_model_trained_before_the_pretrained_backbone_naming_what_it_lacks(tmp_path, capsys):
    # The small CNN's model directory: everything but architecture.json, its usability.json another gate's.
    (tmp_path / "classes.json").write_text(json.dumps(list(settings.CLASS_NAMES)))
    (tmp_path / "usability.json").write_text(json.dumps({"feature_distance_limit": 150.0}))
    for name in ("model-symbol.json", "model-0000.params", "calibration.json"):
        (tmp_path / name).write_text("{}")

    status = aws.main(["--port", "0", "--model-dir", str(tmp_path)])

    error = capsys.readouterr().err
    assert status == 1
    assert "architecture.json" in error and "python -m local.run" in error and "Traceback" not in error


def test_stand_in_console_leaves_out_workflow_outcomes_moto_logs_as_errors(caplog):
    aws.quiet_expected_warnings()
    evaluation_log = logging.getLogger(aws.MOTO_STATE_EVALUATION_LOGGER)

    with caplog.at_level(logging.ERROR):
        evaluation_log.error("Exception=FailureEventException, Error=ConfidenceBelowThreshold, Details=...")
        evaluation_log.error("Exception=NoSuchJsonPathError, Details=None-Available at '$.inference_id'")
        evaluation_log.error("Exception=TypeError, Details=an unexpected failure")

    assert [record.getMessage() for record in caplog.records] == ["Exception=TypeError, Details=an unexpected failure"]


def test_the_sagemaker_api_deploys_a_shadow_variant_to_the_local_endpoint(stand_in, tiny_model_dir, tmp_path):
    from training import archives
    client = {name: boto3.client(name, endpoint_url=stand_in.url, region_name="us-east-1",
                                 aws_access_key_id="testing", aws_secret_access_key="testing")
              for name in ("s3", "sagemaker")}
    runtime_url = next(line.split("served by ")[1].split()[0] for line in stand_in.output if "served by " in line)
    runtime = boto3.client("sagemaker-runtime", endpoint_url=runtime_url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    client["s3"].put_object(Bucket=settings.LOCAL_MONITORING_BUCKET, Key="models/tiny/model.tar.gz",
                            Body=archives.model_archive(tiny_model_dir))
    for name in ("champion", "challenger"):
        client["sagemaker"].create_model(
            ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
            PrimaryContainer={"Image": "mxnet-inference",
                              "ModelDataUrl": f"s3://{settings.LOCAL_MONITORING_BUCKET}/models/tiny/model.tar.gz"})
    variant = {"VariantName": settings.DEFAULT_VARIANT_NAME, "ModelName": "champion", "InitialInstanceCount": 1,
               "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}
    client["sagemaker"].create_endpoint_config(EndpointConfigName="plain", ProductionVariants=[variant])
    client["sagemaker"].create_endpoint_config(
        EndpointConfigName="shadowed", ProductionVariants=[variant],
        ShadowProductionVariants=[{**variant, "VariantName": "Challenger", "ModelName": "challenger"}])
    endpoint_name = aws.deployed_endpoint_name()
    # The stand-in registered its endpoint at start, as the launcher leaves it in the cloud.
    assert client["sagemaker"].describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"] == "InService"

    client["sagemaker"].update_endpoint(EndpointName=endpoint_name, EndpointConfigName="shadowed")
    answered = runtime.invoke_endpoint(EndpointName=endpoint_name, Body=samples.encoded(samples.scene(64, 48), "PNG"),
                                       ContentType="image/png", InferenceId="shadowed-driver")
    time.sleep(2.5)  # the capture writer flushes every second; the shadow answers on its own threads
    client["sagemaker"].update_endpoint(EndpointName=endpoint_name, EndpointConfigName="plain")

    assert answered["InvokedProductionVariant"] == settings.DEFAULT_VARIANT_NAME
    captures = stand_in_capture_dir(stand_in)
    variants_seen = {path.parent.relative_to(captures).parts[1] for path in captures.rglob("*.jsonl")
                     if "shadowed-driver" in path.read_text()}
    assert variants_seen == {settings.DEFAULT_VARIANT_NAME, "Challenger"}
    assert client["sagemaker"].describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"] == "plain"


def stand_in_capture_dir(stand_in):
    from pathlib import Path
    line = next(line for line in stand_in.output if "captures in " in line)
    return Path(line.split("captures in ")[1].split(";")[0])
