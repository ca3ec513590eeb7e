"""The workflow's named errors.

Step Functions names a failed Lambda task after the exception's class name (Lambda's `errorType`),
so statemachine/classify_vehicle.asl.json retries and catches by these names: renaming a class means
editing the state machine too (tests/statemachine checks that every name here is handled there).
"""


class WorkflowError(Exception):
    """Base class: anything the workflow raises on purpose."""


# --- Bad input or a decision: never retried ------------------------------------------------------
class InvalidEvent(WorkflowError):
    """The state's input lacks a field, or a field has the wrong type or value."""


class ImageNotFound(WorkflowError):
    """No object (or no bucket) at the S3 location the event names."""


class ImageAccessDenied(WorkflowError):
    """The function's role may not read the S3 location the event names."""


class NotAnImage(WorkflowError):
    """The object is not a JPEG, PNG or WebP image, or its data is truncated or corrupt."""


class ImageTooLarge(WorkflowError):
    """The original photo has more bytes than MAX_IMAGE_BYTES."""


class ImageTooManyPixels(WorkflowError):
    """The photo declares more pixels than MAX_IMAGE_MEGAPIXELS (the decompression-bomb guard)."""


class UnusableImage(WorkflowError):
    """Not a usable photo of a vehicle (blank, dark, noise, a document, too small...): a person looks."""


class EndpointRejected(WorkflowError):
    """SageMaker refused the request itself, typically because the endpoint name is wrong."""


class ModelError(WorkflowError):
    """The model container answered with an error (e.g. 400 undecodable image, 415 content type)."""


class UnexpectedModelOutput(WorkflowError):
    """The endpoint's answer is not a JSON list with one probability per class."""


class ConfidenceBelowThreshold(WorkflowError):
    """The model is not sure enough: a person should look at the image."""


# --- Transient: the state machine retries these with backoff ------------------------------------
class EndpointUnavailable(WorkflowError):
    """The endpoint is throttled, not ready, unreachable or failing internally right now."""


class ImageStoreUnavailable(WorkflowError):
    """S3 is throttling (SlowDown) or failing internally right now."""
