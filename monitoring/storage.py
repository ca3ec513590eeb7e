"""Where monitoring files live: a local directory or an S3 prefix (s3://bucket/prefix), the same API.

Listing is paginated and reading streams line by line, so a prefix with thousands of capture
files is never held in memory at once.
"""
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple, Union

S3_SCHEME = "s3://"
JSONL_SUFFIX = ".jsonl"
FILE_MODE = 0o644

Location = Union[str, Path]


class LocationNotFound(FileNotFoundError):
    """A local directory that does not exist (an empty S3 prefix is simply empty)."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    def key(self, relative_key: str) -> str:
        return f"{self.prefix.rstrip('/')}/{relative_key}" if self.prefix.strip("/") else relative_key


def is_s3(location: Location) -> bool:
    return str(location).startswith(S3_SCHEME)


def parse_s3(location: str) -> S3Location:
    """s3://bucket/some/prefix -> S3Location("bucket", "some/prefix"); ValueError without a bucket."""
    bucket, _, prefix = location[len(S3_SCHEME):].partition("/")
    if not bucket:
        raise ValueError(f"{location!r} names no bucket; expected s3://bucket/prefix")
    return S3Location(bucket, prefix)


def is_aws_error(error: BaseException) -> bool:
    """Whether boto3 or botocore raised it: the command lines say it in one line, not a traceback."""
    return type(error).__module__.split(".")[0] in ("botocore", "boto3")


def _s3_client(s3_client):
    if s3_client is not None:
        return s3_client
    import boto3  # only when S3 is used, so local reports need no AWS configuration

    return boto3.client("s3")


def list_jsonl(location: Location, s3_client=None, page_size: Optional[int] = None,
               start_after: Optional[str] = None) -> Iterator[str]:
    """The .jsonl files below a location, in path order (SageMaker's layout sorts by time).

    S3 listings are paginated (page_size keys a request; S3's default and maximum is 1000).
    start_after: only the files whose path below the location sorts after it (S3's StartAfter: the
    keys before it are never listed).
    """
    return list_files(location, (JSONL_SUFFIX,), s3_client, page_size, start_after)


def list_files(location: Location, suffixes: Tuple[str, ...], s3_client=None,
               page_size: Optional[int] = None, start_after: Optional[str] = None) -> Iterator[str]:
    """The files below a location whose names end in one of the suffixes (any case), in path order."""
    suffixes = tuple(suffix.lower() for suffix in suffixes)
    if is_s3(location):
        target = parse_s3(str(location))
        paginator = _s3_client(s3_client).get_paginator("list_objects_v2")
        prefix = target.prefix.rstrip("/") + "/" if target.prefix.strip("/") else ""
        pagination = {"PageSize": page_size} if page_size else {}
        after = {"StartAfter": prefix + start_after} if start_after else {}
        for page in paginator.paginate(Bucket=target.bucket, Prefix=prefix, PaginationConfig=pagination, **after):
            for item in page.get("Contents", []):
                if item["Key"].lower().endswith(suffixes):
                    yield f"{S3_SCHEME}{target.bucket}/{item['Key']}"
        return
    root = Path(location)
    if not root.is_dir():
        raise LocationNotFound(f"no such directory: {root}")
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name.lower().endswith(suffixes) and (
                start_after is None or path.relative_to(root).as_posix() > start_after):
            yield str(path)


def children(location: Location, s3_client=None) -> Tuple[List[str], List[str]]:
    """(the names of the folders directly below a location, sorted; the files directly in it)."""
    if is_s3(location):
        target = parse_s3(str(location))
        paginator = _s3_client(s3_client).get_paginator("list_objects_v2")
        prefix = target.prefix.rstrip("/") + "/" if target.prefix.strip("/") else ""
        folders, files = [], []
        for page in paginator.paginate(Bucket=target.bucket, Prefix=prefix, Delimiter="/"):
            folders += [common["Prefix"][len(prefix):].rstrip("/") for common in page.get("CommonPrefixes", [])]
            files += [f"{S3_SCHEME}{target.bucket}/{item['Key']}" for item in page.get("Contents", [])]
        return sorted(folders), files
    root = Path(location)
    if not root.is_dir():
        raise LocationNotFound(f"no such directory: {root}")
    entries = sorted(root.iterdir())
    return [path.name for path in entries if path.is_dir()], [str(path) for path in entries if path.is_file()]


def relative_path(location: Location, file_location: str) -> str:
    """The path of a file below a location, with forward slashes (an S3 key's tail)."""
    if is_s3(location):
        return file_location[len(str(location).rstrip("/")) + 1:]
    return Path(file_location).relative_to(location).as_posix()


def read_bytes(file_location: str, s3_client=None) -> bytes:
    """The whole of one file (local path or s3:// URI)."""
    if is_s3(file_location):
        target = parse_s3(file_location)
        return _s3_client(s3_client).get_object(Bucket=target.bucket, Key=target.prefix)["Body"].read()
    return Path(file_location).read_bytes()


def iter_lines(file_location: str, s3_client=None) -> Iterator[bytes]:
    """The non-blank lines of one file (local path or s3:// URI), streamed, without newlines."""
    if is_s3(file_location):
        target = parse_s3(file_location)
        body = _s3_client(s3_client).get_object(Bucket=target.bucket, Key=target.prefix)["Body"]
        lines = body.iter_lines()
    else:
        lines = open(file_location, "rb")
    try:
        for line in lines:
            line = line.strip()
            if line:
                yield line
    finally:
        if hasattr(lines, "close"):
            lines.close()


def iter_jsonl_lines(location: Location, s3_client=None,
                     keep: Optional[Callable[[str], bool]] = None) -> Iterator[Tuple[str, bytes]]:
    """(file, line) for every non-blank line of every .jsonl file below a location (of the files
    keep(file) accepts, when given: the others are not read)."""
    for file_location in list_jsonl(location, s3_client):
        if keep is not None and not keep(file_location):
            continue
        for line in iter_lines(file_location, s3_client):
            yield file_location, line


def write_atomically(path: Path, data: bytes) -> None:
    """Write a local file through a temporary file and a rename, so no reader ever sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, FILE_MODE)  # mkstemp makes 0600; these files are read by other tools
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(location: Location, relative_key: str, text: str, s3_client=None) -> str:
    """Write a whole file at location/relative_key (atomically when local); returns its path or URI."""
    return write_bytes(location, relative_key, text.encode("utf-8"), s3_client)


def write_bytes(location: Location, relative_key: str, data: bytes, s3_client=None) -> str:
    """Write a whole file at location/relative_key (atomically when local); returns its path or URI."""
    if is_s3(location):
        target = parse_s3(str(location))
        key = target.key(relative_key)
        _s3_client(s3_client).put_object(Bucket=target.bucket, Key=key, Body=data)
        return f"{S3_SCHEME}{target.bucket}/{key}"
    path = Path(location) / relative_key
    write_atomically(path, data)
    return str(path)


def read_text(location: Location, relative_key: str, s3_client=None) -> str:
    """The whole file at location/relative_key; FileNotFoundError (LocationNotFound) when absent."""
    if is_s3(location):
        target = parse_s3(str(location))
        client = _s3_client(s3_client)
        try:
            body = client.get_object(Bucket=target.bucket, Key=target.key(relative_key))["Body"]
        except client.exceptions.NoSuchKey:
            raise LocationNotFound(f"no such object: {S3_SCHEME}{target.bucket}/{target.key(relative_key)}") from None
        return body.read().decode("utf-8")
    path = Path(location) / relative_key
    if not path.is_file():
        raise LocationNotFound(f"no such file: {path}")
    return path.read_text(encoding="utf-8")


def join(location: Location, relative_key: str) -> str:
    """location/relative_key, for a directory or an s3:// prefix alike."""
    if is_s3(location):
        target = parse_s3(str(location))
        return f"{S3_SCHEME}{target.bucket}/{target.key(relative_key)}"
    return str(Path(location) / relative_key)
