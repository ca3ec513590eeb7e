"""The fleet onboarding's plain-Python core: the manifest, its validation, where a run keeps its
files, the claim id of a driver's photo, and the report. The three onboarding functions
(prepare_onboarding, onboard_chunk, report_onboarding) and `python -m local.onboard` share it.

A run's files live in the images bucket below `onboarding/runs/<run id>/`, a prefix the per-photo
upload rule (drivers/) never sees: chunks/ (the manifest's good rows, a chunk a file, written by
the first step because Step Functions' ItemBatcher cannot be rehearsed offline), chunks.json (the
Distributed Map's items), invalid.json (the rows refused, with why), results/ (one file a finished
chunk) and report.csv with summary.json.
"""
import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Iterable, Optional

from handlers.onboarding_errors import InvalidManifest

ONBOARDING_PREFIX = "onboarding"
MANIFESTS_PREFIX = f"{ONBOARDING_PREFIX}/manifests"
RUNS_PREFIX = f"{ONBOARDING_PREFIX}/runs"
MANIFEST_COLUMNS = ("driver_id", "s3_key")
REPORT_COLUMNS = ("driver_id", "s3_key", "decision", "label", "confidence", "reason", "route", "audit",
                  "inference_id", "decided_in_run", "line")
# The report's decisions: routed without a person, sent to a person, or not decided (bad row, or a
# chunk that kept failing: a rerun of the manifest finishes those).
ROUTED, REVIEW, FAILED = "routed", "review", "failed"
DECISIONS = (ROUTED, REVIEW, FAILED)
# Why a row is refused before any photo is read.
MISSING_DRIVER, MISSING_KEY, DUPLICATE_DRIVER, PHOTO_NOT_FOUND, MALFORMED_ROW = (
    "MissingDriverId", "MissingKey", "DuplicateDriver", "PhotoNotFound", "MalformedRow")
# A chunk whose function kept failing after the state machine's retries.
CHUNK_NOT_FINISHED = "ChunkNotFinished"
MAX_MANIFEST_BYTES = 50 * 1024 * 1024
INFERENCE_ID_PREFIX = "onboard-"


@dataclass(frozen=True)
class Row:
    line: int           # the manifest's line number (the header is line 1)
    driver_id: str
    s3_key: str
    etag: str = ""

    def as_dict(self) -> dict:
        return {"line": self.line, "driver_id": self.driver_id, "s3_key": self.s3_key, "etag": self.etag}


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}/{run_id}"


def chunk_key(run_id: str, number: int) -> str:
    return f"{run_prefix(run_id)}/chunks/{number:05d}.json"


def result_key(chunk: str) -> str:
    """Where a chunk's results go: beside chunks/, same file name."""
    run, _, name = chunk.rpartition("/chunks/")
    return f"{run}/results/{name}"


def chunks_index_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}/chunks.json"


def invalid_rows_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}/invalid.json"


def report_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}/report.csv"


def summary_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}/summary.json"


def inference_id(row: Row) -> str:
    """The claim of a driver's photo: the same driver, key and photo content (ETag) give the same
    id in every run, so a rerun finds what an earlier run decided; a new photo gets a new one. It is
    also the endpoint's InferenceId (at most 64 characters), so captures join with reviews."""
    digest = hashlib.sha256("\0".join((row.driver_id, row.s3_key, row.etag)).encode()).hexdigest()
    return INFERENCE_ID_PREFIX + digest[:48]


def parse_manifest(text: str) -> tuple[list[Row], list[dict]]:
    """(rows worth reading, refused rows with their reason) from a CSV manifest with a
    driver_id,s3_key header. A bad row never stops the others; a manifest without that header is
    refused whole (InvalidManifest)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    names = [name.strip() for name in header] if header else []
    if not all(column in names for column in MANIFEST_COLUMNS):
        raise InvalidManifest(f"the manifest's first line must be the header {','.join(MANIFEST_COLUMNS)}, "
                              f"got {','.join(names)!r}"[:300])
    driver_at, key_at = (names.index(column) for column in MANIFEST_COLUMNS)
    rows, refused, first_line_of = [], [], {}
    for line, fields in enumerate(reader, start=2):
        if not any(field.strip() for field in fields):
            continue  # a blank line is no row
        if len(fields) != len(names):
            refused.append(refused_row(line, "", "", MALFORMED_ROW,
                                       f"line {line} has {len(fields)} fields, the header {len(names)}"))
            continue
        driver, key = fields[driver_at].strip(), fields[key_at].strip()
        if not driver:
            refused.append(refused_row(line, driver, key, MISSING_DRIVER, f"line {line} names no driver_id"))
        elif not key:
            refused.append(refused_row(line, driver, key, MISSING_KEY, f"line {line} names no s3_key"))
        elif driver in first_line_of:
            refused.append(refused_row(line, driver, key, DUPLICATE_DRIVER,
                                       f"driver {driver} is listed again on line {line}; line "
                                       f"{first_line_of[driver]} is the one onboarded"))
        else:
            first_line_of[driver] = line
            rows.append(Row(line, driver, key))
    return rows, refused


def refused_row(line: int, driver_id: str, s3_key: str, reason: str, message: str) -> dict:
    return report_line(driver_id, s3_key, FAILED, reason=f"{reason}: {message}", line=line)


def common_prefix(keys: Iterable[str]) -> str:
    """The longest folder prefix (ending in /) all keys share: one listing finds them all."""
    keys = list(keys)
    if not keys:
        return ""
    first, last = min(keys), max(keys)
    shared = 0
    while shared < min(len(first), len(last)) and first[shared] == last[shared]:
        shared += 1
    return first[:shared].rpartition("/")[0] + "/" if "/" in first[:shared] else ""


def chunked(rows: list, size: int) -> list[list]:
    return [rows[start:start + size] for start in range(0, len(rows), size)]


def report_line(driver_id: str, s3_key: str, decision: str, label: Optional[str] = None,
                confidence: Optional[float] = None, reason: str = "", route: Optional[str] = None,
                audit: bool = False, inference_id: str = "", decided_in_run: str = "", line: int = 0) -> dict:
    return {"driver_id": driver_id, "s3_key": s3_key, "decision": decision, "label": label or "",
            "confidence": "" if confidence is None else f"{float(confidence):.6f}", "reason": reason,
            "route": route or "", "audit": "true" if audit else "", "inference_id": inference_id,
            "decided_in_run": decided_in_run, "line": line}


def report_csv(lines: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for line in sorted(lines, key=lambda line: (int(line.get("line") or 0), line["driver_id"])):
        writer.writerow({column: line.get(column, "") for column in REPORT_COLUMNS})
    return buffer.getvalue()


def summary(run_id: str, lines: list[dict], report_uri: str) -> dict:
    """Counts per decision (they add up to the manifest's rows), how many were decided in an earlier
    run, the reasons drivers were sent to a person, and every failed row with its reason."""
    counts = {decision: sum(line["decision"] == decision for line in lines) for decision in DECISIONS}
    reasons: dict = {}
    for line in lines:
        if line["decision"] == REVIEW:
            name = line["reason"].split(":", 1)[0]
            reasons[name] = reasons.get(name, 0) + 1
    return {"run_id": run_id, "rows": len(lines), **counts,
            "audited": sum(line["audit"] == "true" for line in lines),
            "decided_earlier": sum(bool(line["decided_in_run"]) and line["decided_in_run"] != run_id
                                   and line["decision"] != FAILED for line in lines),
            "review_reasons": dict(sorted(reasons.items())),
            "failed_rows": [{"line": line["line"], "driver_id": line["driver_id"], "s3_key": line["s3_key"],
                             "reason": line["reason"]}
                            for line in sorted(lines, key=lambda line: int(line.get("line") or 0))
                            if line["decision"] == FAILED],
            "report": report_uri}


def read_json(s3, bucket: str, key: str):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def write_json(s3, bucket: str, key: str, document) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode(), ContentType="application/json")


def chunk_key_of_result(key: str) -> str:
    """The chunk a results file belongs to (result_key's inverse)."""
    run, _, name = key.rpartition("/results/")
    return f"{run}/chunks/{name}"
