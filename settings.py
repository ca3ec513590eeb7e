"""Names and defaults shared by the Python side of the project: handlers, training, the local run
and monitoring. One place, so a class name or a default threshold is never spelled twice.

Values that differ per deployment are read from environment variables, named here, which
serverless.yml sets in the cloud and local/run.py sets offline. The Lambda zips include this file.
Only the standard library may be imported here (it loads on every Lambda cold start).
"""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent

# --- The classes, in the order of the model's output probabilities ------------------------------
CLASS_NAMES = ("bicycle", "motorcycle")
# What a person reviewing a photo may also answer: the picture shows no vehicle to judge.
NOT_A_VEHICLE = "not_a_vehicle"
REVIEW_LABELS = CLASS_NAMES + (NOT_A_VEHICLE,)
# Folder names that answer for a photo in rehearsals (review --labels-from-folders, the learning
# cycle): the real-world photos come as bicycle/, motorcycle/ and other/.
FOLDER_ANSWERS = {"bicycle": "bicycle", "motorcycle": "motorcycle", "other": NOT_A_VEHICLE}
# CIFAR-100 fine labels of those classes (the class comes from fine_labels, never from filenames).
CIFAR_FINE_LABELS = {"bicycle": 8, "motorcycle": 48}

# --- Workflow defaults (serverless.yml params mirror these for the cloud) -----------------------
DEFAULT_THRESHOLD = 0.95
# The precision automatic routing must keep (the monitor's quality check, the comparison, the report);
# training/model_artifacts.TARGET_PRECISION repeats it for the SageMaker container (a test ties them).
TARGET_PRECISION = 0.99
# The confidence a routing threshold's certificate gives that promise (monitoring/certificate.py).
CERTIFICATE_CONFIDENCE = 0.95
# Photo limits and the normalised size are defined with the decoder, in imaging/photo.py
# (DEFAULT_MAX_BYTES, DEFAULT_MAX_MEGAPIXELS, DEFAULT_MAX_SIDE): it also ships to SageMaker.
# What the classify handler asks the endpoint for: probabilities and whether the photo is usable.
# training/inference.py defines the same (it ships to SageMaker without this file; a test compares).
ASSESSMENT_CONTENT_TYPE = "application/vnd.vehicle-routing.assessment+json"
# The routing decision the workflow outputs: bicycles get nearby orders, motorcycles far ones.
ROUTE_BY_LABEL = {"bicycle": "near", "motorcycle": "far"}

# The events the workflow puts on its decisions bus (statemachine/classify_vehicle.asl.json; the
# state machine tests check that the ASL publishes exactly these).
DECISION_EVENT_SOURCE = "vehicle-routing"
DRIVER_ROUTED = "DriverRouted"
DRIVER_NEEDS_REVIEW = "DriverNeedsReview"
# The kinds of request the workflow puts on the review queue: a driver a person must decide on, and
# a routed driver sampled for an audit (the ASL's "kind"; the state machine tests tie them).
REVIEW_REQUEST = "review"
AUDIT_REQUEST = "audit"
# What the scheduled monitor puts on the decisions bus when a window breaks the baseline's constraints.
MODEL_DETERIORATED = "ModelDeteriorated"

# Share of routed drivers a person also checks (audits), chosen by inference id (serverless.yml auditRate).
DEFAULT_AUDIT_RATE = 0.05
# Environment variables the Lambdas read.
ENV_ENDPOINT_NAME = "ENDPOINT_NAME"
ENV_THRESHOLD = "THRESHOLD"                        # the conservative default, as deployed
ENV_THRESHOLD_PARAMETER = "THRESHOLD_PARAMETER"    # the SSM parameter holding the threshold in force
ENV_AUDIT_RATE = "AUDIT_RATE"
ENV_CLASS_NAMES = "CLASS_NAMES"          # comma-separated, in model output order
ENV_IMAGES_BUCKET = "IMAGES_BUCKET"                # where photos are read when the event names no bucket
ENV_MAX_IMAGE_BYTES = "MAX_IMAGE_BYTES"            # bytes of the original photo
ENV_MAX_IMAGE_MEGAPIXELS = "MAX_IMAGE_MEGAPIXELS"  # pixels of the original photo, in millions
ENV_MAX_IMAGE_SIDE = "MAX_IMAGE_SIDE"              # longest side of the normalised image, in pixels
# The scheduled monitor (handlers/monitor_model.py): s3:// locations, window and where it reports.
ENV_CAPTURE_URI = "CAPTURE_URI"                    # the endpoint's data capture: s3://bucket/prefix/endpoint
ENV_BASELINE_URI = "BASELINE_URI"                  # statistics.json and constraints.json of the model served
ENV_GROUND_TRUTH_URI = "GROUND_TRUTH_URI"          # the review loop's answers (empty: no model-quality check)
ENV_REPORTS_URI = "REPORTS_URI"                    # reports go below it, by endpoint, schedule and hour
ENV_WINDOW_HOURS = "WINDOW_HOURS"                  # how many hours of capture one run judges
ENV_METRICS_NAMESPACE = "METRICS_NAMESPACE"
ENV_MONITORING_SCHEDULE = "MONITORING_SCHEDULE"    # the MonitoringSchedule dimension of the metrics
ENV_DECISION_BUS = "DECISION_BUS"
# The retraining pipeline (handlers/assemble_dataset.py, handlers/register_challenger.py).
ENV_DATASETS_URI = "DATASETS_URI"                  # where each run's channel is assembled
ENV_BASE_DATA_URI = "BASE_DATA_URI"                # the staged CIFAR data: train/ and test/
ENV_MIN_NEW_LABELS = "MIN_NEW_LABELS"              # fewer new labelled photos: no run
ENV_HOLDOUT_SHARE = "HOLDOUT_SHARE"                # newest share of them kept back for evaluation
ENV_HYPERPARAMETERS = "HYPERPARAMETERS"            # JSON object of train.py options for the training job
ENV_POLL_SECONDS = "POLL_SECONDS"                  # how often the state machine asks about the job
ENV_MODEL_PACKAGE_GROUP = "MODEL_PACKAGE_GROUP"
ENV_INFERENCE_IMAGE = "INFERENCE_IMAGE"            # the serving container a registered package names
ENV_TRAINING_IMAGE = "TRAINING_IMAGE"              # the SageMaker MXNet training container
ENV_TRAINING_INSTANCE_TYPE = "TRAINING_INSTANCE_TYPE"
ENV_SOURCE_CODE_URI = "SOURCE_CODE_URI"            # sourcedir.tar.gz of training/ (training/launch.py uploads it)
ENV_MODELS_URI = "MODELS_URI"                      # where training jobs write model.tar.gz
ENV_PARENT_MODEL_URI = "PARENT_MODEL_URI"          # the model serving now, the challenger's parent
# A challenger's way to production (handlers/deploy_challenger.py, compare_variants.py,
# promote_challenger.py, hand_over_baseline.py; training/rollout.py does the SageMaker calls).
ENV_MODEL_ROLE_ARN = "MODEL_ROLE_ARN"              # the role a challenger's SageMaker model runs as
ENV_SHADOW_SHARE = "SHADOW_SHARE"                  # percent of requests the shadow variant gets a copy of
ENV_ROLLBACK_ALARMS = "ROLLBACK_ALARMS"            # comma-separated CloudWatch alarms that roll a promotion back
ENV_CANARY_PERCENT = "CANARY_PERCENT"              # share of the capacity the new model gets first
ENV_CANARY_WAIT_SECONDS = "CANARY_WAIT_SECONDS"    # how long the canary is watched before the rest moves
# The review page's function (handlers/review_page.py).
ENV_REVIEW_QUEUE_URL = "REVIEW_QUEUE_URL"
ENV_SET_ASIDE_QUEUE_URL = "SET_ASIDE_QUEUE_URL"    # where bad requests go with their reason (the dead-letter queue)
ENV_USER_POOL_CLIENT_ID = "USER_POOL_CLIENT_ID"    # the page signs reviewers in with this Cognito app client
ENV_PHOTO_URL_SECONDS = "PHOTO_URL_SECONDS"        # how long a presigned photo URL lives
# Powertools for AWS Lambda reads these (serverless.yml sets them): the service every log line and
# trace names (SERVICE_NAME, so the handlers' Logger is the Python logger of that name), and the
# namespace of Check Confidence's SentToPerson.
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
SENT_TO_PERSON_METRIC = "SentToPerson"             # 1 per driver sent to a person, 0 per routed one
ROUTING_THRESHOLD_METRIC = "RoutingThreshold"      # the threshold each driver was judged at

# --- Where the endpoint name travels from training to serverless.yml ----------------------------
# training/launch.py writes {"endpoint_name": ...} here; serverless.yml reads it with a default.
ENDPOINT_NAME_FILE = PROJECT_ROOT / "training" / "endpoint.json"
DEFAULT_ENDPOINT_NAME = "vehicle-classifier"

# --- Local run ----------------------------------------------------------------------------------
# The real CIFAR-100 images of the two classes, official split; read-only, never written to.
DEFAULT_DATA_SOURCE = PROJECT_ROOT.parent / "shared" / "data" / "cifar100-vehicles"
# Real photos of bicycles, motorcycles and other things (local/real_photos.py reads them): the second
# collection trains the shipped default, the first is its test; read-only, never copied.
REAL_WORLD_DIR = PROJECT_ROOT.parent / "shared" / "data" / "real-world"
# The real photos' first collection (its sources, the part of a file name before "__") is the test:
# no model trains on it and nothing is chosen on it. Staging leaves these sources out of the
# real-photo channel; the second collection (every other source) and a user's own photos train.
TEST_COLLECTION_SOURCES = ("mini", "tabish", "pavle", "inet", "ozer", "carbike")
# The staged channel of labelled real photos (bicycle/, motorcycle/, other/) beside train/ and test/
# (training/channels.py reads it, SM_CHANNEL_REAL in a training job).
REAL_CHANNEL = "real"
# Everything produced locally (staged data, model, captures, results, reports) goes below this.
ARTIFACTS_DIR = Path(os.environ.get("VEHICLE_ARTIFACTS_DIR", PROJECT_ROOT / "artifacts"))
STATE_MACHINE_FILE = PROJECT_ROOT / "statemachine" / "classify_vehicle.asl.json"

# --- The stand-in's monitoring bucket (local/aws.py), as serverless.yml names it for --stage local --
SERVICE_NAME = "vehicle-routing"
LOCAL_STAGE = "local"
LOCAL_MONITORING_BUCKET = f"{SERVICE_NAME}-{LOCAL_STAGE}-monitoring"
CAPTURE_PREFIX = "data-capture"          # serverless.yml params capturePrefix, monitoringPrefix, ...
MONITORING_PREFIX = "monitoring"
DATA_PREFIX = "data"
SOURCE_CODE_KEY = "code/sourcedir.tar.gz"
# The staged data's channel of ImageNet weights (training/pretrained.CHANNEL repeats it for the
# SageMaker container; a test ties them): below DATA_PREFIX beside train/ and test/.
PRETRAINED_CHANNEL = "pretrained"
CURRENT_MODEL_KEY = "models/current/model.tar.gz"

# --- Local endpoint (local/endpoint.py) and the local run (local/run.py) ------------------------
LOCAL_ENDPOINT_HOST = "127.0.0.1"
LOCAL_ENDPOINT_PORT = 8080             # the standalone server's default; the local run picks a free port
DEFAULT_VARIANT_NAME = "AllTraffic"    # the production variant name the SageMaker SDK gives a model
CHALLENGER_VARIANT_NAME = "Challenger"   # the shadow variant a challenger is deployed as (training/rollout.py)
# Tags of a challenger's SageMaker model (training/rollout.py): its package, and the dataset it trained on.
CHALLENGER_PACKAGE_TAG = "vehicle-routing:model-package"
CHALLENGER_DATASET_TAG = "vehicle-routing:dataset"
MODEL_PACKAGE_DATASET_PROPERTY = "dataset_uri"   # CustomerMetadataProperties key: the dataset a challenger trained on
# boto3 reads this standard variable to send sagemaker-runtime calls to another URL.
ENV_SAGEMAKER_RUNTIME_URL = "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"
LOCAL_CAPTURE_DIR = ARTIFACTS_DIR / "captures"
LOCAL_RESULTS_DIR = ARTIFACTS_DIR / "results"
# Ground truth in Model Quality Monitor's format (monitoring/ground_truth.py) and the monitoring report.
LOCAL_GROUND_TRUTH_DIR = ARTIFACTS_DIR / "ground-truth"
LOCAL_REPORT_DIR = ARTIFACTS_DIR / "report"
# The monitor's statistics.json and constraint_violations.json (monitoring/monitor.py).
LOCAL_MONITORING_DIR = ARTIFACTS_DIR / "monitoring"
# Where a model directory keeps its baseline (monitoring/baseline.py writes the two files).
LOCAL_BASELINE_DIR = ARTIFACTS_DIR / "model" / "baseline"
# `sls package` output, one directory per stage, parameters and content of what it reads (local/deployment.py).
PACKAGE_CACHE_DIR = PROJECT_ROOT / ".build" / "packages"

# --- The fleet onboarding (onboardFleet; handlers/onboarding.py, docs/onboarding.md) ---------------
ENV_CHUNK_SIZE = "CHUNK_SIZE"              # manifest rows per chunk the Distributed Map hands a child
ENV_CHUNK_WORKERS = "CHUNK_WORKERS"        # photos one chunk function classifies at once
ENV_CLAIMS_TABLE = "CLAIMS_TABLE"          # the upload claims table, which also keeps onboarding decisions
ENV_REVIEW_QUEUE_URL = "REVIEW_QUEUE_URL"
LOCAL_ONBOARDING_DIR = ARTIFACTS_DIR / "onboarding"
