"""Photos changed the way traffic drifts, to see the monitor raise its alarm (and to benchmark it).

    python -m local.shifts darker artifacts/data/test artifacts/shifted/darker

writes a copy of every photo below the source folder (keeping its sub-folders) with the shift
applied, as PNG. The kinds: darker (night, a dirty lens), blurred (out of focus, motion), washed
out (glare, fog). bench/monitor.py uses the same functions.
"""
import argparse
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from PIL import Image, ImageEnhance, ImageFilter
from tqdm import tqdm

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def darker(image: Image.Image) -> Image.Image:
    """A third of the light: a photo taken at dusk."""
    return ImageEnhance.Brightness(image.convert("RGB")).enhance(0.35)


def blurred(image: Image.Image) -> Image.Image:
    """Out of focus by about a twentieth of the picture's side."""
    radius = max(1.0, max(image.size) / 20)
    return image.convert("RGB").filter(ImageFilter.GaussianBlur(radius))


def washed_out(image: Image.Image) -> Image.Image:
    """Glare: half the contrast, lifted towards white."""
    rgb = ImageEnhance.Contrast(image.convert("RGB")).enhance(0.4)
    return ImageEnhance.Brightness(rgb).enhance(1.4)


SHIFTS: Dict[str, Callable[[Image.Image], Image.Image]] = {"darker": darker, "blurred": blurred,
                                                           "washed_out": washed_out}


def photos_below(root: Path) -> List[Path]:
    return sorted(path for path in Path(root).rglob("*") if path.suffix.lower() in PHOTO_SUFFIXES and path.is_file())


def shift_folder(kind: str, source: Path, destination: Path, progress: bool = True) -> int:
    """Write every photo below source, shifted, below destination; returns how many."""
    shift = SHIFTS[kind]
    photos = photos_below(source)
    if not photos:
        raise FileNotFoundError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) below {source}")
    for path in tqdm(photos, desc=kind, unit="photo", disable=not progress):
        target = (destination / path.relative_to(source)).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            shift(image).save(target)
    return len(photos)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.shifts", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(SHIFTS), help="how the photos change")
    parser.add_argument("source", type=Path, help="folder of photos (searched recursively)")
    parser.add_argument("destination", type=Path, help="where the shifted copies go (sub-folders kept)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        count = shift_folder(args.kind, args.source, args.destination, progress=not args.no_progress)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{count} {args.kind} photos in {args.destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
