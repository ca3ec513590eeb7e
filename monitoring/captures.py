"""Reading captured inferences (and their ground truth) into arrays the report can work on.

One streaming pass over every capture line: each becomes a timestamp, the class probabilities the
endpoint answered, and the ids ground truth is joined on. Lines that cannot be used are skipped
and counted by reason, so a report always says how much it left out.
"""
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

import settings
from monitoring import storage
from monitoring.capture_format import MalformedCaptureRecord, parse_capture_line, variant_of
from monitoring.features import UnusableOutput, parse_probabilities, parse_usable
from monitoring.ground_truth import read_ground_truth  # noqa: F401 - the report reads both from here

logger = logging.getLogger(__name__)

NO_LABEL = -1
# The true label of a photo a person found shows no vehicle: no class index, never a right prediction.
NOT_A_VEHICLE_LABEL = -2


@dataclass
class CaptureSet:
    """Captured inferences as parallel arrays (one entry per usable record), plus what was skipped.

    times are POSIX seconds (UTC); probabilities has one column per class, in class order;
    true_labels holds class indices, NO_LABEL where no ground truth matched.
    """

    class_names: Tuple[str, ...]
    times: np.ndarray
    probabilities: np.ndarray
    inference_ids: List[Optional[str]]
    event_ids: List[str]
    usable: Optional[np.ndarray] = None      # False where the endpoint called the picture unusable
    skipped: Counter = field(default_factory=Counter)
    files: int = 0
    true_labels: Optional[np.ndarray] = None
    labels: Dict[str, str] = field(default_factory=dict)   # the ground truth joined: {id: class}
    ground_truth_records: int = 0
    ground_truth_skipped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.event_ids)

    @property
    def confidences(self) -> np.ndarray:
        return self.probabilities.max(axis=1) if len(self) else np.empty(0)

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1) if len(self) else np.empty(0, dtype=int)

    @property
    def skipped_lines(self) -> int:
        return sum(self.skipped.values())


def captured_variants(location: storage.Location, s3_client=None) -> List[str]:
    """The variant folders below a capture location (one, or two with a shadow), sorted."""
    return sorted({variant for variant in map(variant_of, storage.list_jsonl(location, s3_client)) if variant})


def read_captures(location: storage.Location, class_names: Sequence[str] = settings.CLASS_NAMES,
                  s3_client=None, progress: bool = False, variant: Optional[str] = None) -> CaptureSet:
    """Every usable captured inference below a local directory or s3:// prefix, in time order; of
    one variant's folder when variant is given.

    Malformed lines, records without an output and outputs that are not probabilities are skipped
    and counted in CaptureSet.skipped by reason; a missing local directory raises LocationNotFound.
    """
    times, probabilities, inference_ids, event_ids, usable = [], [], [], [], []
    skipped: Counter = Counter()
    files = set()
    keep = (lambda file_location: variant_of(file_location) == variant) if variant else None
    lines = storage.iter_jsonl_lines(location, s3_client, keep)
    for file_location, line in tqdm(lines, desc="capture records", unit=" records", disable=not progress):
        files.add(file_location)
        try:
            record = parse_capture_line(line, decode_input=False)
        except MalformedCaptureRecord:
            skipped["malformed line"] += 1
            continue
        if record.output_body is None:
            skipped["no endpoint output"] += 1
            continue
        try:
            probabilities.append(parse_probabilities(record.output_body, record.output_content_type,
                                                     len(class_names)))
        except UnusableOutput:
            skipped["output is not class probabilities"] += 1
            continue
        times.append(record.inference_time.timestamp())
        usable.append(parse_usable(record.output_body))
        inference_ids.append(record.inference_id)
        event_ids.append(record.event_id)
    if skipped:
        logger.warning("Skipped %d capture lines below %s: %s", sum(skipped.values()), location,
                       dict(skipped))
    order = np.argsort(np.asarray(times, dtype=float), kind="stable")
    return CaptureSet(
        class_names=tuple(class_names),
        times=np.asarray(times, dtype=float)[order],
        probabilities=np.asarray(probabilities, dtype=float).reshape(-1, len(class_names))[order],
        inference_ids=[inference_ids[i] for i in order],
        event_ids=[event_ids[i] for i in order],
        usable=np.asarray(usable, dtype=bool)[order],
        skipped=skipped,
        files=len(files),
    )


def attach_ground_truth(captures: CaptureSet, labels: Dict[str, str], skipped: Counter = None) -> CaptureSet:
    """Set captures.true_labels from {id: class}: matched on inferenceId, falling back to eventId
    (as Model Quality Monitor does); NO_LABEL where neither matches."""
    index_of = {name: index for index, name in enumerate(captures.class_names)}
    index_of[settings.NOT_A_VEHICLE] = NOT_A_VEHICLE_LABEL
    true_labels = np.full(len(captures), NO_LABEL, dtype=int)
    for position, (inference_id, event_id) in enumerate(zip(captures.inference_ids, captures.event_ids)):
        label = labels.get(inference_id) if inference_id else None
        if label is None:
            label = labels.get(event_id)
        if label is not None:
            true_labels[position] = index_of[label]
    captures.true_labels = true_labels
    captures.labels = dict(labels)
    captures.ground_truth_records = len(labels)
    captures.ground_truth_skipped = skipped or Counter()
    return captures
