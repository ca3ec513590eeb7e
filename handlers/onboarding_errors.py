"""The fleet onboarding's named errors (statemachine/onboard_fleet.asl.json retries and catches them by name)."""


class InvalidManifest(Exception):
    """The manifest is missing, too large, not UTF-8 text, or lacks the driver_id,s3_key header."""


class DecisionStoreUnavailable(Exception):
    """DynamoDB (the claims), EventBridge or SQS throttled or failed: the state machine retries the chunk,
    and the claims make the retry finish only what is left."""
