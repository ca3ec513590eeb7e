"""The instruction photos of the review page, made from imaging/samples.py:
`python -m reviewing.examples` writes them to reviewing/static/examples/ (committed, since the
stack's function has no numpy to make them); tests/reviewing/test_examples.py checks they match."""
import argparse
import io
from pathlib import Path
from typing import Dict

from imaging import samples

EXAMPLES_DIR = Path(__file__).resolve().parent / "static" / "examples"
SIDE = 160


def examples() -> Dict[str, bytes]:
    """{file name: JPEG bytes} of each instruction photo."""
    pictures = {"document.jpg": samples.text_document(), "noise.jpg": samples.noise_image(),
                "dark.jpg": samples.uniform_image((8, 8, 8)), "upright.jpg": samples.scene(),
                "sideways.jpg": samples.scene().rotate(90, expand=True)}
    made = {}
    for name, picture in pictures.items():
        picture.thumbnail((SIDE, SIDE))
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, format="JPEG", quality=70)
        made[name] = buffer.getvalue()
    return made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reviewing.examples",
                                     description="Write the review page's instruction photos (from imaging/samples.py).")
    parser.add_argument("--output", type=Path, default=EXAMPLES_DIR, help="folder (default: %(default)s)")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for name, data in examples().items():
        (args.output / name).write_bytes(data)
        print(f"wrote {args.output / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
