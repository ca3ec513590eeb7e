"""The report's side-by-side section: champion and challenger on the same drivers.

The figures and the verdict are monitoring.compare's (shared with its command line and the stack's
Compare Variants step); this module adds what a person looks at: a plot of the two variants'
figures and thumbnails of the checked drivers the two decide differently about.
"""
import base64
import logging
from dataclasses import dataclass, field
from typing import Dict, Optional

import settings
from imaging import photo
from monitoring import compare, storage
from monitoring.report_plots import plot_variant_comparison

logger = logging.getLogger(__name__)

MAX_THUMBNAILS = 48
THUMBNAIL_SIDE = 96


@dataclass(frozen=True)
class Comparison:
    result: dict
    plot: bytes
    thumbnails: Dict[str, str] = field(default_factory=dict)   # inference id -> data URI


def thumbnail(data: bytes) -> Optional[str]:
    """A small PNG of a captured photo as a data URI; None when the bytes are not a photo."""
    try:
        image, _ = photo.decode(data, max_side=THUMBNAIL_SIDE)
    except photo.PhotoRejected:
        return None
    encoded, media_type = photo.encode(image)
    return f"data:{media_type};base64,{base64.b64encode(encoded).decode('ascii')}"


def build_comparison(captures: storage.Location, labels: Dict[str, str],
                     champion: str = settings.DEFAULT_VARIANT_NAME,
                     challenger: str = settings.CHALLENGER_VARIANT_NAME,
                     threshold: float = settings.DEFAULT_THRESHOLD,
                     target_precision: float = settings.TARGET_PRECISION,
                     trained_on: frozenset = frozenset(), s3_client=None) -> Optional[Comparison]:
    """The comparison of two captured variants, or None when no inference was answered by both."""
    pairs = compare.read_pairs(captures, champion, challenger, s3_client=s3_client)
    if not pairs:
        return None
    result = compare.compare(pairs, labels, threshold, target_precision, trained_on)
    result.update(champion_variant=champion, challenger_variant=challenger)
    shown = {row["inference_id"] for row in result["checked_disagreements"][:MAX_THUMBNAILS]}
    photos = compare.read_photos(captures, champion, shown, s3_client)
    thumbnails = {}
    for inference_id, (data, _) in photos.items():
        uri = thumbnail(data)
        if uri:
            thumbnails[inference_id] = uri
        else:
            logger.warning("The captured photo of %s could not be decoded for a thumbnail", inference_id)
    return Comparison(result, plot_variant_comparison(result), thumbnails)
