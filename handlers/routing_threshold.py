"""The threshold a driver is judged at, read at run time: the stack's SSM parameter
(monitoring/threshold_store.py writes it), through Powertools' Parameters utility, whose cache
(POWERTOOLS_PARAMETERS_MAX_AGE seconds, serverless.yml's thresholdCacheSeconds) spares SSM a call
per driver. Changing the threshold is then no redeploy. When the parameter cannot be read or holds
no usable threshold, the conservative default (the THRESHOLD the stack was deployed with) is used.
"""
import logging
import os

import settings

logger = logging.getLogger(__name__)


def default_threshold() -> float:
    """The stack's conservative default; ValueError when it is not a probability in (0, 1]."""
    value = float(os.environ.get(settings.ENV_THRESHOLD) or settings.DEFAULT_THRESHOLD)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{settings.ENV_THRESHOLD} must be a probability in (0, 1], got {value}")
    return value


def current_threshold() -> float:
    """The threshold in force: the parameter's, else the default."""
    name = os.environ.get(settings.ENV_THRESHOLD_PARAMETER)
    if not name:
        return default_threshold()
    # Imported here: boto3 comes with it, and a function without the parameter never pays for it.
    from aws_lambda_powertools.utilities import parameters
    try:
        record = parameters.get_parameter(name, transform="json")
        value = float(record["threshold"])
    except Exception as error:  # unreadable, missing, malformed: never route on a guess
        logger.warning("routing threshold parameter %s unusable (%s); using the default", name, error)
        return default_threshold()
    if not 0.0 < value <= 1.0:
        logger.warning("routing threshold parameter %s holds %r; using the default", name, value)
        return default_threshold()
    return value
