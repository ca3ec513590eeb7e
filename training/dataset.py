"""Reviewed photos become training data: the review loop's answers joined to the captured photos.

    python -m training.dataset --ground-truth DIR|s3://… --captures DIR|s3://… --output DIR|s3://…
                               [--base artifacts/data] [--holdout-share 0.3] [--min-new-labels 20]

Every photo a person answered (reviews and audits alike) is found in the endpoint's data capture,
by the inference id its ground truth names: the capture holds the photo exactly as the model saw
it (Serialize Image's normalised PNG or JPEG), so no other copy is needed. The channel written:

  reviewed/<answer>/<sha256[:16]>.<png|jpg>   photos to train on: bicycle, motorcycle, and
                                              not_a_vehicle (what must never be routed)
  holdout/<answer>/...                        the newest share of them, by the time the driver's
                                              photo arrived: kept back to judge the model, never
                                              trained on
  manifest.jsonl                              one line per example: its provenance
  dataset.json                                counts per source, what was left out and why, the
                                              manifest's sha256 (written last: marks it complete;
                                              copies in reviewed/ and holdout/ travel with them)

A photo is identified by the SHA-256 of its bytes: answered twice, it counts once; answered with
different labels, it is left out and reported; already in the base training set, it adds
nothing; in the base test set, it is left out, so the CIFAR test figures stay honest.

Plain Python (no numpy, no Pillow): a Lambda of the retraining pipeline runs it over S3.
"""
import argparse
import hashlib
import json
import logging
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, List, Optional, Sequence

try:
    import settings
    from monitoring import storage
    from monitoring.capture_format import MalformedCaptureRecord, parse_capture_line, time_of_path
    from monitoring.ground_truth import MalformedGroundTruth, parse_ground_truth_line
except ImportError as error:  # pragma: no cover - the SageMaker container never assembles data
    raise ImportError(f"training.dataset runs from the repository (or its Lambda): {error}") from error

logger = logging.getLogger(__name__)

REVIEWED_CHANNEL = "reviewed"
HOLDOUT_CHANNEL = "holdout"
MANIFEST_FILE = "manifest.jsonl"
SUMMARY_FILE = "dataset.json"
DEFAULT_HOLDOUT_SHARE = 0.3
DEFAULT_MIN_NEW_LABELS = 20
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SUFFIX_BY_CONTENT_TYPE = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
# Why a labelled photo is not in the channel (dataset.json's left_out keys).
CONFLICTING = "conflicting answers"
IN_BASE_TRAINING = "already in the base training set"
IN_BASE_TEST = "in the base test set"
NOT_CAPTURED = "no captured photo"


class DatasetError(Exception):
    """Input the person assembling can fix (no ground truth, too few labels): one line."""


@dataclass
class Answer:
    inference_id: str
    label: str
    answered_at: Optional[datetime]
    source: str               # the ground-truth file


@dataclass
class Example:
    sha256: str
    label: str
    photo: bytes
    suffix: str
    inference_id: str
    inference_time: datetime
    answered_at: Optional[datetime]
    photo_location: str       # capture file#eventId
    answers: int = 1


@dataclass
class Assembly:
    examples: Dict[str, List[Example]] = field(default_factory=dict)  # channel -> examples
    left_out: Counter = field(default_factory=Counter)
    conflicts: List[dict] = field(default_factory=list)
    duplicates: int = 0
    answers: int = 0


def read_answers(ground_truth: storage.Location, s3_client=None) -> List[Answer]:
    """Every answer below a ground-truth location, in file order (later files answered later)."""
    answers = []
    labels = tuple(settings.REVIEW_LABELS)
    for file_location, line in storage.iter_jsonl_lines(ground_truth, s3_client):
        try:
            inference_id, label = parse_ground_truth_line(line, labels)
        except MalformedGroundTruth:
            logger.warning("Skipped a ground-truth line in %s that is not a record", file_location)
            continue
        answers.append(Answer(inference_id, label, time_of_path(file_location), file_location))
    return answers


def photo_hashes(location: storage.Location, s3_client=None) -> set:
    """SHA-256 of every photo below a folder or prefix (none when it does not exist)."""
    try:
        return {hashlib.sha256(storage.read_bytes(path, s3_client)).hexdigest()
                for path in storage.list_files(location, PHOTO_SUFFIXES, s3_client)}
    except storage.LocationNotFound:
        return set()


def captured_photos(captures: storage.Location, wanted: set, s3_client=None) -> Dict[str, tuple]:
    """{inference id: (photo bytes, content type, inference time, capture file#eventId)} for the ids
    wanted, from the capture's request bodies (decoded only for those)."""
    found = {}
    for file_location, line in storage.iter_jsonl_lines(captures, s3_client):
        try:
            record = parse_capture_line(line, decode_input=False)
            if record.join_key not in wanted or record.join_key in found:
                continue
            record = parse_capture_line(line, decode_input=True)
        except MalformedCaptureRecord:
            continue
        if record.input_body:
            content_type = (record.input_content_type or "").split(";")[0].strip().lower()
            found[record.join_key] = (record.input_body, content_type, record.inference_time,
                                      f"{file_location}#{record.event_id}")
    return found


def assemble(answers: Sequence[Answer], photos: Dict[str, tuple], base_training: set, base_test: set,
             holdout_share: float = DEFAULT_HOLDOUT_SHARE) -> Assembly:
    """Join answers to photos, deduplicate by content, leave out conflicts and base photos, and
    keep the newest share apart (pure: no I/O)."""
    assembly = Assembly(answers=len(answers))
    by_photo: Dict[str, List[Answer]] = defaultdict(list)
    photo_of: Dict[str, tuple] = {}
    for answer in answers:
        if answer.inference_id not in photos:
            assembly.left_out[NOT_CAPTURED] += 1
            continue
        body = photos[answer.inference_id][0]
        digest = hashlib.sha256(body).hexdigest()
        by_photo[digest].append(answer)
        photo_of.setdefault(digest, (answer.inference_id, *photos[answer.inference_id]))
    examples = []
    for digest, photo_answers in by_photo.items():
        labels = sorted({answer.label for answer in photo_answers})
        if len(labels) > 1:
            assembly.left_out[CONFLICTING] += 1
            assembly.conflicts.append({"sha256": digest, "answers": [
                {"inference_id": a.inference_id, "label": a.label, "source": a.source} for a in photo_answers]})
            continue
        if digest in base_test:
            assembly.left_out[IN_BASE_TEST] += 1
            continue
        if digest in base_training:
            assembly.left_out[IN_BASE_TRAINING] += 1
            continue
        inference_id, body, content_type, inference_time, location = photo_of[digest]
        assembly.duplicates += len(photo_answers) - 1
        answered = [a.answered_at for a in photo_answers if a.answered_at]
        examples.append(Example(digest, labels[0], body, SUFFIX_BY_CONTENT_TYPE.get(content_type, ".png"),
                                inference_id, inference_time, max(answered) if answered else None, location,
                                answers=len(photo_answers)))
    examples.sort(key=lambda example: (example.inference_time, example.sha256))
    held = int(round(len(examples) * holdout_share))
    cut = len(examples) - held
    assembly.examples = {REVIEWED_CHANNEL: examples[:cut], HOLDOUT_CHANNEL: examples[cut:]}
    return assembly


def write_channel(assembly: Assembly, output: storage.Location, base: Optional[str], s3_client=None) -> dict:
    """Write the photos, manifest.jsonl and (last) dataset.json; returns dataset.json's document."""
    lines = []
    for channel, examples in assembly.examples.items():
        for example in examples:
            relative = f"{channel}/{example.label}/{example.sha256[:16]}{example.suffix}"
            storage.write_bytes(output, relative, example.photo, s3_client)
            lines.append(json.dumps({
                "file": relative, "channel": channel, "label": example.label, "sha256": example.sha256,
                "inference_id": example.inference_id, "inference_time": example.inference_time.isoformat(),
                "answered_at": example.answered_at.isoformat() if example.answered_at else None,
                "answers": example.answers, "photo": example.photo_location}, sort_keys=True))
    manifest = "".join(line + "\n" for line in lines)
    storage.write_text(output, MANIFEST_FILE, manifest, s3_client)
    counts = {channel: dict(sorted(Counter(example.label for example in examples).items()))
              for channel, examples in assembly.examples.items()}
    newest = [e.inference_time for e in assembly.examples[REVIEWED_CHANNEL]]
    document = {
        "manifest_sha256": hashlib.sha256(manifest.encode()).hexdigest(),
        "counts": counts,
        "answers": assembly.answers,
        "duplicate_answers": assembly.duplicates,
        "left_out": dict(assembly.left_out),
        "conflicts": assembly.conflicts,
        "holdout_after": (max(newest).isoformat() if newest else None),
        "base": base,
    }
    # A copy travels with the reviewed channel, so the model trained on it records the manifest's hash.
    for channel in (REVIEWED_CHANNEL, HOLDOUT_CHANNEL):  # also keeps an empty channel a channel
        storage.write_text(output, f"{channel}/{SUMMARY_FILE}", json.dumps(document, indent=2), s3_client)
    storage.write_text(output, SUMMARY_FILE, json.dumps(document, indent=2), s3_client)
    return document


def build(ground_truth: storage.Location, captures: storage.Location, output: storage.Location,
          base: Optional[storage.Location] = None, holdout_share: float = DEFAULT_HOLDOUT_SHARE,
          min_new_labels: int = 0, s3_client=None) -> dict:
    """Read, assemble and write a channel; DatasetError when there is nothing (or too little) to learn."""
    try:
        answers = read_answers(ground_truth, s3_client)
    except storage.LocationNotFound:
        raise DatasetError(f"no ground truth at {ground_truth}") from None
    if not answers:
        raise DatasetError(f"no ground truth found below {ground_truth}: the review loop has answered nothing yet")
    photos = captured_photos(captures, {answer.inference_id for answer in answers}, s3_client)
    base_training = (photo_hashes(storage.join(base, "train"), s3_client)
                     | photo_hashes(storage.join(base, settings.REAL_CHANNEL), s3_client)) if base else set()
    base_test = photo_hashes(storage.join(base, "test"), s3_client) if base else set()
    assembly = assemble(answers, photos, base_training, base_test, holdout_share)
    usable = sum(len(examples) for examples in assembly.examples.values())
    if usable < min_new_labels:
        raise DatasetError(f"only {usable} new labelled photos (of {len(answers)} answers; left out: "
                           f"{dict(assembly.left_out) or 'none'}): fewer than the {min_new_labels} worth a run")
    return write_channel(assembly, output, str(base) if base else None, s3_client)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.dataset",
        description="Assemble a training channel from the review loop: photos people labelled (found in the data "
                    "capture), deduplicated, conflicts left out, the newest kept back for evaluation.")
    parser.add_argument("--ground-truth", required=True, metavar="DIR_OR_S3_URI",
                        help="Model Quality Monitor ground truth from the review loop")
    parser.add_argument("--captures", required=True, metavar="DIR_OR_S3_URI",
                        help="the endpoint's data capture, where the labelled photos are")
    parser.add_argument("--output", required=True, metavar="DIR_OR_S3_URI", help="where the channel is written")
    parser.add_argument("--base", default=str(settings.ARTIFACTS_DIR / "data"), metavar="DIR_OR_S3_URI",
                        help="the staged base data (train/, test/): photos already there are left out "
                             "(default: %(default)s)")
    parser.add_argument("--holdout-share", type=float, default=DEFAULT_HOLDOUT_SHARE,
                        help="newest share of the labelled photos kept back for evaluation (default: %(default)s)")
    parser.add_argument("--min-new-labels", type=int, default=0,
                        help="fail when fewer new labelled photos than this are found (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 0 <= args.holdout_share < 1:
        parser.error("--holdout-share must be in [0, 1)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        document = build(args.ground_truth, args.captures, args.output, args.base, args.holdout_share,
                         args.min_new_labels)
    except (DatasetError, storage.LocationNotFound, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Channel in {args.output}: {json.dumps(document['counts'])}; left out {document['left_out'] or 'none'}; "
          f"{len(document['conflicts'])} photos with conflicting answers; manifest sha256 "
          f"{document['manifest_sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
