"""The security scan: checkov (pinned in requirements-checkov.txt, installed by bin/setup into
.venv-checkov/) on the template `sls package` generates, with the skips of .checkov.yaml; and the
findings that were fixed rather than skipped."""
import json
import re
import subprocess

import pytest

import settings

ROOT = settings.PROJECT_ROOT
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"
SKIP_LINE = re.compile(r"^\s*-\s*(CKV2?_[A-Z]+_\d+)\s*$")


@pytest.fixture(scope="module")
def template_file(packaged_service):
    return packaged_service / "cloudformation-template-update-stack.json"


@pytest.fixture(scope="module")
def template(template_file) -> dict:
    return json.loads(template_file.read_text())


def checkov(template_file, *options: str) -> dict:
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} is missing: bin/setup installs checkov (requirements-checkov.txt)")
    # From the package's directory: checkov reads a .checkov.yaml in its working directory on its own.
    scanned = subprocess.run([str(CHECKOV), "--file", str(template_file), "--output", "json", *options],
                             cwd=template_file.parent, capture_output=True, text=True, timeout=300)
    assert scanned.returncode in (0, 1), scanned.stdout[-2000:] + scanned.stderr[-2000:]
    report = json.loads(scanned.stdout)
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["resource_count"] > 0, report["summary"]
    return {"status": scanned.returncode, **report}


def configured_skips() -> list:
    """The check ids of .checkov.yaml's skip-check list, each with the comment lines just above it."""
    skips, reason = [], []
    in_list = False
    for line in CONFIG.read_text().splitlines():
        if line.startswith("skip-check:"):
            in_list = True
            continue
        if in_list and line and not line.startswith(" "):
            in_list = False
        if not in_list:
            continue
        if line.strip().startswith("#"):
            reason.append(line.strip("# ").strip())
        elif SKIP_LINE.match(line):
            skips.append((SKIP_LINE.match(line)[1], " ".join(reason)))
            reason = []
    return skips


def test_security_scan_finds_nothing_but_what_is_skipped_with_a_reason(template_file):
    report = checkov(template_file, "--config-file", str(CONFIG))

    failed = [(check["check_id"], check["resource"]) for check in report["results"]["failed_checks"]]
    assert (report["status"], failed) == (0, [])
    assert report["summary"]["passed"] > 0


def test_security_scan_each_skip_has_its_reason_beside_it():
    skips = configured_skips()

    assert skips, "no skip-check list in .checkov.yaml"
    assert len({check for check, _ in skips}) == len(skips)
    assert all(len(reason.split()) >= 8 for _, reason in skips), [check for check, reason in skips
                                                                  if len(reason.split()) < 8]


def test_security_scan_each_skip_still_skips_a_finding(template_file):
    """A skip whose finding was fixed is a hole for the next resource: remove it."""
    report = checkov(template_file, "--framework", "cloudformation", "--skip-download")  # no call to the vendor's API

    found = {check["check_id"] for check in report["results"]["failed_checks"]}
    assert {check for check, _ in configured_skips()} - found == set()


# --- what was fixed rather than skipped ------------------------------------------------------------

def test_deployment_bucket_blocks_public_access_and_refuses_plain_http(template):
    bucket = template["Resources"]["ServerlessDeploymentBucket"]["Properties"]
    [statement] = template["Resources"]["ServerlessDeploymentBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]

    assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": False}}


def test_images_bucket_refuses_plain_http_when_the_stack_creates_it(template):
    [policy] = [resource for resource in template["Resources"].values() if resource["Type"] == "AWS::S3::BucketPolicy"
                and resource["Properties"]["Bucket"] == {"Ref": "ImagesBucket"}]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]

    assert policy["Condition"] == template["Resources"]["ImagesBucket"]["Condition"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    assert statement["Resource"][0] == {"Fn::GetAtt": ["ImagesBucket", "Arn"]}


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_publish_with(template):
    topic = template["Resources"]["WorkflowAlarmTopic"]["Properties"]
    key = template["Resources"][topic["KmsMasterKeyId"]["Ref"]]["Properties"]

    by_principal = {json.dumps(statement["Principal"], sort_keys=True): statement
                    for statement in key["KeyPolicy"]["Statement"]}
    cloudwatch = by_principal[json.dumps({"Service": "cloudwatch.amazonaws.com"})]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert key["EnableKeyRotation"] is True
    alarms = [resource["Properties"] for resource in template["Resources"].values()
              if resource["Type"] == "AWS::CloudWatch::Alarm"]
    assert all(alarm["AlarmActions"] == [{"Ref": "WorkflowAlarmTopic"}] for alarm in alarms)


def test_claims_table_keeps_point_in_time_recovery(template):
    table = template["Resources"]["UploadClaimsTable"]["Properties"]

    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}


def test_monitor_failures_raise_an_alarm(template):
    alarms = [resource["Properties"] for resource in template["Resources"].values()
              if resource["Type"] == "AWS::CloudWatch::Alarm" and resource["Properties"].get("Namespace") == "AWS/Lambda"]

    assert [(alarm["MetricName"], alarm["Dimensions"]) for alarm in alarms] == [
        ("Errors", [{"Name": "FunctionName", "Value": {"Ref": "MonitorModelLambdaFunction"}}])]
