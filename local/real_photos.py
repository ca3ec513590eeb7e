"""The real photos of ../shared/data/real-world, as the main command and the benchmarks read them.

Its MANIFEST.tsv lists 303 photos in two collections. The first (73 photos from the sources in
settings.TEST_COLLECTION_SOURCES) is the test: no model trains on it, nothing is chosen on it. The
second (230 photos, 13 other sources) trains the shipped default (training.stage_data stages it) and
chooses its settings out of fold. Read-only, never copied: their licence is unknown.

Each photo gets the answer a reviewer would give (settings.FOLDER_ANSWERS) and a kind for reports:
bicycle, motorcycle (mopeds and motor scooters are filed there), moped_or_scooter (an "other" photo
its source filed under motorbikes; none since the collection moved them to motorcycle/) or other
(cars, people, streets, kick scooters, ...). `inet__` photos are ImageNet's own samples: an
ImageNet-pretrained model has seen them, so they are left out of every figure of such a model.
"""
import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import settings

MANIFEST = "MANIFEST.tsv"
IMAGENET_SOURCE = "inet"
KINDS = ("bicycle", "motorcycle", "moped_or_scooter", "other")
# Source folders of motorbikes: an "other" photo from one is a moped or a motor scooter (PROVENANCE.md).
_MOTORBIKE_FOLDER = re.compile(r"motor|(^|/)bike/", re.IGNORECASE)


@dataclass(frozen=True)
class RealPhoto:
    path: Path
    folder: str          # bicycle, motorcycle or other, as the collection files it
    source: str          # the short name before "__"
    collection: int      # 1 or 2
    kind: str            # one of KINDS

    @property
    def answer(self) -> str:
        """What a reviewer answers for it (a class, or not_a_vehicle)."""
        return settings.FOLDER_ANSWERS[self.folder]

    @property
    def seen_by_imagenet(self) -> bool:
        return self.source == IMAGENET_SOURCE


def read(root: Path = settings.REAL_WORLD_DIR, collection: Optional[int] = None,
         include_imagenet: bool = False) -> List[RealPhoto]:
    """The photos listed in root's manifest (one collection, or both), ImageNet's own left out unless asked."""
    root = Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {root}: not the real-world photo folder")
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    photos = []
    for row in rows:
        folder, name = row["class"], row["filename"]
        source = name.split("__", 1)[0]
        kind = folder
        if folder == "other" and _MOTORBIKE_FOLDER.search(row.get("source_path", "")):
            kind = "moped_or_scooter"
        photo = RealPhoto(root / folder / name, folder, source, 1 if source in settings.TEST_COLLECTION_SOURCES else 2,
                          kind)
        if (collection is None or photo.collection == collection) and (include_imagenet or not photo.seen_by_imagenet):
            photos.append(photo)
    return photos
