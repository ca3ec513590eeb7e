"""The threshold a driver is judged at, read at run time: the stack's SSM parameter
(monitoring/threshold_store.py writes it), through Powertools' Parameters utility, whose cache
(max_age seconds, serverless.yml's thresholdCacheSeconds) spares SSM a call per driver. Changing the
threshold is then no redeploy. When the parameter cannot be read or holds no usable threshold, the
conservative default (the THRESHOLD the stack was deployed with) is used.

Where to read it is fixed when the function starts (ThresholdSource.from_environment), as all its
configuration is; what the threshold is, at every call of current_threshold().
"""
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import settings

logger = logging.getLogger(__name__)
# Powertools' own variable for its cache; serverless.yml sets it from thresholdCacheSeconds.
MAX_AGE_VARIABLE = "POWERTOOLS_PARAMETERS_MAX_AGE"
DEFAULT_MAX_AGE_SECONDS = 30


@dataclass(frozen=True)
class ThresholdSource:
    parameter: Optional[str]
    default: float
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS
    # Powertools' SSM provider with its own client, made when the function starts: the client takes
    # its region, endpoint and credentials from the function's settings then (offline, the stand-in's).
    provider: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def from_environment(cls) -> "ThresholdSource":
        """From the function's settings; ValueError for a default that is not a probability in (0, 1]."""
        default = float(os.environ.get(settings.ENV_THRESHOLD) or settings.DEFAULT_THRESHOLD)
        if not 0.0 < default <= 1.0:
            raise ValueError(f"{settings.ENV_THRESHOLD} must be a probability in (0, 1], got {default}")
        parameter = os.environ.get(settings.ENV_THRESHOLD_PARAMETER) or None
        provider = None
        if parameter:
            # Imported only then: boto3 comes with it, and a function without the parameter never pays for it.
            import boto3
            from aws_lambda_powertools.utilities.parameters import SSMProvider
            provider = SSMProvider(boto3_client=boto3.client("ssm"))
        return cls(parameter, default, int(os.environ.get(MAX_AGE_VARIABLE) or DEFAULT_MAX_AGE_SECONDS), provider)


def current_threshold(source: ThresholdSource) -> float:
    """The threshold in force: the parameter's, else the default."""
    if not source.parameter:
        return source.default
    try:
        record = source.provider.get(source.parameter, transform="json", max_age=source.max_age_seconds)
        value = float(record["threshold"])
    except Exception as error:  # unreadable, missing, malformed: never route on a guess
        logger.warning("routing threshold parameter %s unusable (%s); using the default", source.parameter, error)
        return source.default
    if not 0.0 < value <= 1.0:
        logger.warning("routing threshold parameter %s holds %r; using the default", source.parameter, value)
        return source.default
    return value
