"""Report Onboarding: one line per manifest row and a summary, written beside the run's files.

Every row is accounted for: the rows refused before reading (invalid.json), and each chunk's
drivers from its results file; a chunk without one (its function kept failing after the retries)
has its drivers marked failed, ChunkNotFinished, so the counts always add up to the manifest's rows
and a rerun of the manifest finishes exactly those.
"""
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from handlers import onboarding
from handlers.support import log_decision, required_text, single_attempt_client

STEP = "report_onboarding"

logger = Logger()
s3 = single_attempt_client("s3")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    bucket, run_id = required_text(event, "s3_bucket"), required_text(event, "run_id")
    lines = list(onboarding.read_json(s3, bucket, onboarding.invalid_rows_key(run_id)))
    published_now = 0
    for chunk in onboarding.read_json(s3, bucket, onboarding.chunks_index_key(run_id)):
        try:
            results = onboarding.read_json(s3, bucket, onboarding.result_key(chunk["chunk_key"]))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            lines.extend(_not_finished(bucket, chunk["chunk_key"]))
            continue
        lines.extend(results["rows"])
        published_now += results["published_now"]
    report_uri = f"s3://{bucket}/{onboarding.report_key(run_id)}"
    s3.put_object(Bucket=bucket, Key=onboarding.report_key(run_id), Body=onboarding.report_csv(lines).encode(),
                  ContentType="text/csv")
    summary = {**onboarding.summary(run_id, lines, report_uri), "events_published": published_now}
    onboarding.write_json(s3, bucket, onboarding.summary_key(run_id), summary)
    counts = {name: summary[name] for name in ("rows", *onboarding.DECISIONS, "audited", "decided_earlier",
                                               "events_published")}
    log_decision(logger, STEP, "reported", report=report_uri, **counts)
    # The failed rows stay in summary.json: a state's output is limited to 256 KB.
    return {**counts, "report": report_uri, "summary": f"s3://{bucket}/{onboarding.summary_key(run_id)}",
            "review_reasons": summary["review_reasons"]}


def _not_finished(bucket: str, chunk_key: str) -> list:
    rows = onboarding.read_json(s3, bucket, chunk_key)["rows"]
    return [onboarding.refused_row(row["line"], row["driver_id"], row["s3_key"], onboarding.CHUNK_NOT_FINISHED,
                                   "its chunk kept failing after the retries (the execution's map run says why); "
                                   "start the run again with the same manifest to finish it") for row in rows]
