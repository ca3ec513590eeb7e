"""The routing threshold Check Confidence reads at run time: one SSM parameter the stack owns,
holding a small JSON record (the threshold, where it came from, who set it and when).

Applying a certificate is a deliberate act (`monitoring.certify --apply`): only a certified
threshold, only for the model the endpoint serves. A new model (promotion, rollback) and a monitor
that finds the promise broken put the conservative default back (reset). SSM keeps every version of
the parameter (GetParameterHistory): the record of who applied which certificate and when.
Plain boto3, so the monitor and rollout Lambdas share it with the command line.
"""
import json
from datetime import datetime, timezone
from typing import Optional

import settings

DEFAULT_SOURCE = "default"
CERTIFICATE_SOURCE = "certificate"


class NotApplicable(ValueError):
    """A certificate that may not be applied, and why."""


def default_record(threshold: float = settings.DEFAULT_THRESHOLD, reason: str = "the stack's default",
                   by: str = "the stack") -> dict:
    return {"threshold": float(threshold), "source": DEFAULT_SOURCE, "reason": reason, "set_by": by,
            "set_at": _now(), "certificate": None, "model_version": None}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read(ssm, name: str) -> Optional[dict]:
    """The record in force, or None when the parameter does not exist."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return json.loads(value)


def _write(ssm, name: str, record: dict) -> dict:
    ssm.put_parameter(Name=name, Value=json.dumps(record, sort_keys=True), Type="String", Overwrite=True)
    return record


def served_model(sagemaker, endpoint_name: str, variant: str = settings.DEFAULT_VARIANT_NAME) -> str:
    """The ModelDataUrl of the model the endpoint's production variant serves: a model's version."""
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    for production in config["ProductionVariants"]:
        if production["VariantName"] == variant:
            return sagemaker.describe_model(ModelName=production["ModelName"])["PrimaryContainer"]["ModelDataUrl"]
    raise NotApplicable(f"{endpoint_name} has no production variant {variant!r}")


def apply(ssm, name: str, cert: dict, certificate_location: str, served: str, by: str) -> dict:
    """Set the threshold to a certified one; NotApplicable unless it is certified for `served`."""
    if not cert.get("certified"):
        raise NotApplicable(f"the certificate at {certificate_location} certifies nothing: {cert.get('answer', '')}")
    if cert.get("model_version") != served:
        raise NotApplicable(f"the certificate at {certificate_location} is for model {cert.get('model_version')}, "
                            f"but the endpoint serves {served}: certify that model's own answers first")
    return _write(ssm, name, {
        "threshold": float(cert["threshold"]), "source": CERTIFICATE_SOURCE, "set_by": by, "set_at": _now(),
        "applied_by": by, "applied_at": _now(), "reason": "certified", "certificate": certificate_location,
        "model_version": served, "target_precision": cert["target_precision"], "confidence": cert["confidence"],
        "routed_share": cert["routed_share"], "window": cert.get("window")})


def reset(ssm, name: str, reason: str, by: str, threshold: float = settings.DEFAULT_THRESHOLD) -> dict:
    """Put the conservative default back (a new model, a broken promise), saying why."""
    return _write(ssm, name, default_record(threshold, reason, by))
