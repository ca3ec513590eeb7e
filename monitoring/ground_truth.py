"""Ground truth in SageMaker Model Quality Monitor's format: writing it, and reading it back.

One JSON object per line, matched to captured inferences by id (the capture's inferenceId when
the caller gave one, else its eventId):

    {"groundTruthData": {"data": "bicycle", "encoding": "CSV"},
     "eventMetadata": {"eventId": "<inference id>"},
     "eventVersion": "0"}

Files live under {prefix}/yyyy/mm/dd/hh/{file}.jsonl, the capture layout without endpoint and
variant, which is where Model Quality Monitor looks for them. Labels are class names from
settings.CLASS_NAMES; reading also accepts a class index, and JSON or BASE64 encodings.

Typical use by the local run, which knows which image each inference id classified:

    labels = labels_for_images({"id-1": ".../test/bicycle/a.png", ...})   # class from folder
    write_ground_truth(labels, settings.LOCAL_GROUND_TRUTH_DIR)    # or "s3://bucket/prefix"
"""
import base64
import binascii
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
import logging
from collections import Counter
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import settings
from monitoring import storage
from monitoring.capture_format import (
    CAPTURE_FILE_SUFFIX,
    ENCODING_BASE64,
    ENCODING_CSV,
    ENCODING_JSON,
    EVENT_VERSION,
    hour_path,
)

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Keys of a JSON Lines manifest row (the image reference follows SageMaker Ground Truth's name).
MANIFEST_IMAGE_KEY = "source-ref"
MANIFEST_LABEL_KEY = "label"
# What monitoring.ground_truth's command line reads: {"inference_id": ..., "label": ...} per line.
LABELS_ID_KEY = "inference_id"


class MalformedGroundTruth(ValueError):
    """A ground-truth line or label that cannot be read (readers count these, never crash)."""


def _checked_label(label, class_names: Sequence[str]) -> str:
    """A class name from a name or an index into class_names."""
    text = str(label).strip()
    if text in class_names:
        return text
    if text.isdigit() and int(text) < len(class_names):
        return class_names[int(text)]
    raise MalformedGroundTruth(f"unknown label {label!r}; expected one of {', '.join(class_names)}")


def build_ground_truth_record(inference_id: str, label: str,
                              class_names: Sequence[str] = settings.CLASS_NAMES) -> dict:
    """One ground-truth record saying that the inference with this id shows `label`."""
    if not inference_id:
        raise ValueError("a ground-truth record needs a non-empty inference id")
    return {
        "groundTruthData": {"data": _checked_label(label, class_names), "encoding": ENCODING_CSV},
        "eventMetadata": {"eventId": str(inference_id)},
        "eventVersion": EVENT_VERSION,
    }


def parse_ground_truth_line(line, class_names: Sequence[str] = settings.CLASS_NAMES) -> tuple:
    """(event id, class name) from one line (str or bytes); MalformedGroundTruth when unusable."""
    try:
        record = json.loads(line)
        truth = record["groundTruthData"]
        event_id = record["eventMetadata"]["eventId"]
        data, encoding = truth["data"], str(truth.get("encoding", ENCODING_CSV)).upper()
    except (ValueError, TypeError, KeyError) as error:
        raise MalformedGroundTruth(f"not a ground-truth record: {error!r}") from None
    if not isinstance(event_id, str) or not event_id:
        raise MalformedGroundTruth("missing eventMetadata.eventId")
    if encoding not in (ENCODING_CSV, ENCODING_JSON, ENCODING_BASE64):
        raise MalformedGroundTruth(f"unknown encoding {truth.get('encoding')!r}")
    try:
        if encoding == ENCODING_BASE64:
            data = base64.b64decode(str(data), validate=True).decode("utf-8")
        elif encoding == ENCODING_JSON and isinstance(data, str):
            data = json.loads(data)
    except (binascii.Error, ValueError) as error:
        raise MalformedGroundTruth(f"undecodable {encoding} data: {error}") from None
    if isinstance(data, dict):  # e.g. {"label": "bicycle"} under JSON encoding
        data = data.get(MANIFEST_LABEL_KEY)
    if isinstance(data, str) and "," in data:  # CSV row: the label is the first column
        data = data.split(",", 1)[0]
    return event_id, _checked_label(data, class_names)


def read_ground_truth(location: storage.Location, class_names: Sequence[str] = settings.CLASS_NAMES,
                      s3_client=None) -> Tuple[Dict[str, str], Counter]:
    """({event id: label}, skipped lines by reason): labels are class names or NOT_A_VEHICLE, the
    answer a reviewer gives for a picture without a vehicle."""
    return _read_ground_truth(location, tuple(class_names) + (settings.NOT_A_VEHICLE,), s3_client)


def _read_ground_truth(location: storage.Location, class_names: Sequence[str],
                       s3_client=None) -> Tuple[Dict[str, str], Counter]:
    """({event id: class name}, skipped lines by reason) from ground-truth files below a location.

    When an id appears twice the later file wins (files are read in path order, i.e. by hour).
    """
    labels: Dict[str, str] = {}
    skipped: Counter = Counter()
    for _, line in storage.iter_jsonl_lines(location, s3_client):
        try:
            event_id, label = parse_ground_truth_line(line, class_names)
        except MalformedGroundTruth:
            skipped["malformed line"] += 1
            continue
        labels[event_id] = label
    if skipped:
        logger.warning("Skipped %d ground-truth lines below %s", sum(skipped.values()), location)
    return labels, skipped


def label_of_image(path: Union[str, Path], class_names: Sequence[str] = settings.CLASS_NAMES) -> str:
    """The class of an image in a labelled folder ({class}/image.png): its parent folder's name."""
    label = Path(path).parent.name
    if label not in class_names:
        raise MalformedGroundTruth(
            f"{path}: its folder {label!r} is not a class name ({', '.join(class_names)})")
    return label


def labels_from_image_folder(root: Union[str, Path],
                             class_names: Sequence[str] = settings.CLASS_NAMES) -> Dict[str, str]:
    """{image path: class} for every image in root/{class}/ (other folders are ignored)."""
    labels = {}
    for class_name in class_names:
        for path in sorted((Path(root) / class_name).glob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                labels[str(path)] = class_name
    return labels


def labels_from_manifest(manifest: Union[str, Path],
                         class_names: Sequence[str] = settings.CLASS_NAMES) -> Dict[str, str]:
    """{image reference: class} from a JSON Lines manifest of {"source-ref": ..., "label": ...}.

    Raises MalformedGroundTruth naming the line of the first unusable row: a manifest is input a
    person wrote, better refused whole than half used.
    """
    return _labels_from_json_lines(manifest, MANIFEST_IMAGE_KEY, class_names)


def labels_for_images(images_by_inference_id: Mapping[str, Union[str, Path]],
                      labels_by_image: Optional[Mapping[str, str]] = None,
                      class_names: Sequence[str] = settings.CLASS_NAMES) -> Dict[str, str]:
    """{inference id: class} for the images the run classified.

    Each image's class comes from labels_by_image (e.g. labels_from_manifest) when given, keyed by
    the same reference the run used, else from the image's folder name (label_of_image).
    """
    labels = {}
    for inference_id, image in images_by_inference_id.items():
        if labels_by_image is None:
            labels[inference_id] = label_of_image(image, class_names)
        elif str(image) in labels_by_image:
            labels[inference_id] = labels_by_image[str(image)]
        else:
            raise MalformedGroundTruth(f"no label for image {image} (inference {inference_id})")
    return labels


def ground_truth_key(when: datetime, file_name: Optional[str] = None) -> str:
    """yyyy/mm/dd/hh/{file}.jsonl, relative to the ground-truth prefix."""
    return f"{hour_path(when)}/{file_name or f'ground-truth-{uuid.uuid4()}{CAPTURE_FILE_SUFFIX}'}"


def write_ground_truth(labels_by_inference_id: Mapping[str, str], destination: Union[str, Path],
                       when: Optional[datetime] = None, s3_client=None,
                       class_names: Sequence[str] = settings.CLASS_NAMES) -> str:
    """Write one ground-truth file for {inference id: class} below a directory or s3:// prefix.

    `when` (default now, UTC) picks the yyyy/mm/dd/hh folder. Returns the file's path or URI.
    The file appears whole or not at all.
    """
    when = when or datetime.now(timezone.utc)
    text = "".join(
        json.dumps(build_ground_truth_record(inference_id, label, class_names), separators=(",", ":")) + "\n"
        for inference_id, label in labels_by_inference_id.items())
    return storage.write_text(destination, ground_truth_key(when), text, s3_client)


def read_label_lines(path: Union[str, Path], class_names: Sequence[str] = settings.CLASS_NAMES) -> Dict[str, str]:
    """{inference id: class} from JSON Lines of {"inference_id": ..., "label": ...} (a class name
    or index): what a team that checked some drivers' photos by hand writes down."""
    return _labels_from_json_lines(path, LABELS_ID_KEY, class_names)


def _labels_from_json_lines(path: Union[str, Path], key_field: str, class_names: Sequence[str]) -> Dict[str, str]:
    """{row[key_field]: class of row["label"]} from a JSON Lines file a person wrote; blank lines are
    skipped. Raises MalformedGroundTruth naming the first unusable line: such input is better
    refused whole than half used."""
    labels = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key, label = row[key_field], row[MANIFEST_LABEL_KEY]
                if not isinstance(key, str) or not key:
                    raise ValueError(f"{key_field} must be non-empty text")
                labels[key] = _checked_label(label, class_names)
            except (ValueError, TypeError, KeyError) as error:
                raise MalformedGroundTruth(
                    f"{path}, line {number}: {error} (expected {{\"{key_field}\": ..., \"label\": ...}})") from None
    return labels


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m monitoring.ground_truth",
        description="Write Model Quality Monitor ground truth for captured inferences, so that "
                    "`python -m monitoring.report --ground-truth` can judge them. The input names, per "
                    "line, the inference id the workflow was started with and the true class.")
    parser.add_argument("labels", type=Path,
                        help='JSON Lines file of {"inference_id": "...", "label": "bicycle"} '
                             f"(label: one of {', '.join(settings.CLASS_NAMES)} or its index)")
    parser.add_argument("--output", required=True, metavar="DIR_OR_S3_URI",
                        help="ground-truth prefix: a local directory or s3://bucket/prefix")
    args = parser.parse_args(argv)
    try:
        labels = read_label_lines(args.labels)
        if not labels:
            raise MalformedGroundTruth(f"{args.labels} holds no labels")
        written = write_ground_truth(labels, args.output)
    except (OSError, MalformedGroundTruth, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(labels)} ground-truth records to {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
