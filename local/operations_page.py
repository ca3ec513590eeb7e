"""The operators' page: a deployed CloudWatch dashboard drawn as one HTML page, from CloudWatch's API.

    python -m local.operations_page --dashboard vehicle-routing-local [--since 2h] [--output FILE]

It reads the dashboard (GetDashboard), asks GetMetricData for each metric widget's queries as the
console does (local/metric_queries.py: metrics, SEARCH, metric math) and DescribeAlarms for the
alarm widget, and draws the widgets with matplotlib where the dashboard places them. It makes
CloudWatch calls only, so it draws the stand-in's dashboard (AWS_ENDPOINT_URL) or AWS's alike.

`python -m local.run` ends with `write_after_run()` (local/product.py): the run's capture judged as
the hourly monitorModel would judge it (its metrics into the stand-in's CloudWatch), then the
dashboard the run deployed, drawn over the run, to artifacts/report/operations.html.
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import settings
from local import metric_queries

logger = logging.getLogger(__name__)

# Periods CloudWatch offers (seconds); the page takes the shortest that keeps a graph under
# MAX_POINTS points, as the console's automatic period does for a time range.
PERIODS = (10, 30, 60, 300, 900, 3600, 21600, 86400)
MAX_POINTS = 60
GRID_ROW_PIXELS = 44          # a dashboard row's height on the page; 24 columns span its width
INCH_PER_COLUMN = 0.5
INCH_PER_ROW = 0.55
QUERIES_PER_CALL = 500        # GetMetricData's limit
PAGE_FILE = "operations.html"  # beside the monitoring report, in settings.LOCAL_REPORT_DIR
X_MARGIN = 0.03
STATE_COLOURS = {"OK": "#2e7d32", "ALARM": "#c62828", "INSUFFICIENT_DATA": "#757575"}
SEARCH_PERIOD = re.compile(r"(,\s*'[^']+'\s*),\s*\d+\s*\)\s*$")


class PageError(Exception):
    """Something the person drawing the page can fix (no such dashboard, say)."""


@dataclass
class Line:
    label: str
    points: Dict[datetime, float]
    y_axis: str = "left"


def period_for(start: datetime, end: datetime) -> int:
    span = (end - start).total_seconds()
    return next((period for period in PERIODS if span / period <= MAX_POINTS), PERIODS[-1])


def with_period(query: dict, period: int) -> dict:
    """A widget's query at the page's period: its MetricStat's, or its SEARCH's third argument."""
    query = dict(query)
    if "MetricStat" in query:
        query["MetricStat"] = {**query["MetricStat"], "Period": period}
    elif metric_queries.is_search(query["Expression"]):
        expression = query["Expression"]
        query["Expression"] = (SEARCH_PERIOD.sub(rf"\g<1>, {period})", expression) if SEARCH_PERIOD.search(expression)
                               else expression.rstrip()[:-1] + f", {period})")
    return query


def widget_lines(cloudwatch, properties: dict, start: datetime, end: datetime, period: int) -> List[Line]:
    """The lines a metric widget shows: one per visible query, one per metric a SEARCH found."""
    queries = metric_queries.widget_queries(properties)
    by_id = {query.id: query for query in queries}
    requests = [with_period(query.query, period) for query in queries]
    results = []
    for first in range(0, len(requests), QUERIES_PER_CALL):
        arguments = {"MetricDataQueries": requests[first:first + QUERIES_PER_CALL], "StartTime": start,
                     "EndTime": end, "ScanBy": "TimestampAscending"}
        while True:
            answer = cloudwatch.get_metric_data(**arguments)
            results += answer["MetricDataResults"]
            if not answer.get("NextToken"):
                break
            arguments["NextToken"] = answer["NextToken"]
    lines = []
    for result in results:
        query = by_id[result["Id"]]
        label = result.get("Label") or result["Id"]
        if query.label is not None and query.expression and metric_queries.is_search(query.expression):
            label = f"{query.label} {label}".strip()
        elif query.label is not None:
            label = query.label
        points = {moment.astimezone(timezone.utc): value for moment, value in zip(result["Timestamps"], result["Values"])}
        existing = next((line for line in lines if line.label == label and line.y_axis == query.y_axis), None)
        if existing is not None:   # a later page of the same series
            existing.points.update(points)
        else:
            lines.append(Line(label, points, query.y_axis))
    return lines


def _figure_png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def draw_metric_widget(properties: dict, lines: Sequence[Line], start: datetime, end: datetime, size: tuple) -> str:
    """A base64 PNG of a metric widget: its lines (stacked when the widget says so), a right axis
    for lines that ask for it, its horizontal annotations and axis limits."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=size)
    try:
        axis.set_title(properties.get("title", ""), fontsize=9, loc="left")
        left = [line for line in lines if line.y_axis != "right" and line.points]
        right = [line for line in lines if line.y_axis == "right" and line.points]
        if properties.get("stacked") and left:
            moments = sorted({moment for line in left for moment in line.points})
            axis.stackplot(moments, [[line.points.get(moment, 0.0) for moment in moments] for line in left],
                           labels=[line.label for line in left], alpha=0.8)
        else:
            for line in left:
                moments = sorted(line.points)
                axis.plot(moments, [line.points[moment] for moment in moments], marker=".", label=line.label)
        handles, labels = axis.get_legend_handles_labels()
        if right:
            other = axis.twinx()
            for line in right:
                moments = sorted(line.points)
                other.plot(moments, [line.points[moment] for moment in moments], marker=".", linestyle="--",
                           label=line.label, color="#6a1b9a")
            more_handles, more_labels = other.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + more_labels
            other.tick_params(labelsize=7)
        for annotation in properties.get("annotations", {}).get("horizontal", []):
            axis.axhline(float(annotation["value"]), color="#c62828", linestyle=":", linewidth=1)
            handles.append(axis.lines[-1])
            labels.append(annotation.get("label", ""))
        limits = properties.get("yAxis", {}).get("left", {})
        if "min" in limits or "max" in limits:
            axis.set_ylim(limits.get("min"), limits.get("max"))
        if not left and not right:
            axis.text(0.5, 0.5, "No data in this time range", ha="center", va="center", transform=axis.transAxes,
                      color="#757575")
        axis.set_xlim(start, end + (end - start) * X_MARGIN)   # a value put at the last moment stays whole
        locator = mdates.AutoDateLocator(tz=timezone.utc)
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
        if handles:
            axis.legend(handles, labels, fontsize=6, loc="upper left", framealpha=0.7)
        return _figure_png(figure)
    finally:
        plt.close(figure)


def alarm_rows(cloudwatch, arns: Sequence[str]) -> List[tuple]:
    """(name, state, reason) of each alarm an alarm widget lists, in its order."""
    names = [arn.split(":alarm:", 1)[-1] for arn in arns]
    described = {}
    for first in range(0, len(names), 100):
        for alarm in cloudwatch.describe_alarms(AlarmNames=names[first:first + 100])["MetricAlarms"]:
            described[alarm["AlarmName"]] = alarm
    return [(name, described[name]["StateValue"], described[name].get("StateReason", "")) if name in described
            else (name, "MISSING", "no such alarm") for name in names]


def _text_html(markdown: str) -> str:
    lines = []
    for line in html.escape(markdown).split("\n"):
        heading = re.match(r"^(#{1,3}) (.*)$", line)
        lines.append(f"<h{len(heading[1]) + 1}>{heading[2]}</h{len(heading[1]) + 1}>" if heading else f"<p>{line}</p>")
    return "".join(lines)


def render(cloudwatch, dashboard_name: str, start: datetime, end: datetime,
           period: Optional[int] = None) -> str:
    """The HTML page of a dashboard over [start, end)."""
    try:
        body = cloudwatch.get_dashboard(DashboardName=dashboard_name)["DashboardBody"]
    except cloudwatch.exceptions.ResourceNotFound as error:
        raise PageError(f"no dashboard {dashboard_name!r} in this CloudWatch (is the stack deployed?)") from error
    widgets = json.loads(body)["widgets"]
    period = period or period_for(start, end)
    cells = []
    for widget in widgets:
        properties = widget.get("properties", {})
        x, y, width, height = (int(widget.get(key, default)) for key, default in
                               (("x", 0), ("y", 0), ("width", 6), ("height", 6)))
        place = f"grid-column: {x + 1} / span {width}; grid-row: {y + 1} / span {height};"
        if widget["type"] == "metric":
            lines = widget_lines(cloudwatch, properties, start, end, period)
            png = draw_metric_widget(properties, lines, start, end, (width * INCH_PER_COLUMN, height * INCH_PER_ROW))
            content = f'<img alt="{html.escape(properties.get("title", ""))}" src="data:image/png;base64,{png}">'
        elif widget["type"] == "alarm":
            rows = "".join(f'<li title="{html.escape(reason)}"><span style="color:{STATE_COLOURS.get(state, "#000")}">'
                           f'&#9679; {html.escape(state)}</span> {html.escape(name)}</li>'
                           for name, state, reason in alarm_rows(cloudwatch, properties.get("alarms", [])))
            content = f'<h3>{html.escape(properties.get("title", "Alarms"))}</h3><ul class="alarms">{rows}</ul>'
        elif widget["type"] == "text":
            content = _text_html(properties.get("markdown", ""))
        else:
            content = f"<p>(a {html.escape(widget['type'])} widget: not drawn here)</p>"
        cells.append(f'<div class="widget {widget["type"]}" style="{place}">{content}</div>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(dashboard_name)}: operators' page</title>
<style>
body {{ font-family: sans-serif; margin: 1em; color: #222; }}
.note {{ color: #555; font-size: 0.85em; }}
.grid {{ display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: {GRID_ROW_PIXELS}px; gap: 6px; }}
.widget {{ border: 1px solid #ddd; border-radius: 4px; padding: 4px; overflow: hidden; background: #fff; }}
.widget img {{ width: 100%; height: 100%; object-fit: contain; }}
.alarms {{ list-style: none; padding: 0; margin: 0; column-count: 3; font-size: 0.78em; }}
.alarms li {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.widget h2, .widget h3, .widget h4 {{ margin: 0.2em 0; font-size: 1em; }}
.widget p {{ margin: 0.2em 0; font-size: 0.85em; }}
</style></head><body>
<p class="note">Dashboard <b>{html.escape(dashboard_name)}</b>, from {start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC,
one point per {period} s (the dashboard's own periods are for hours and days of traffic). Drawn by
<code>python -m local.operations_page</code> from CloudWatch's API.</p>
<div class="grid">
{chr(10).join(cells)}
</div></body></html>
"""


def write(cloudwatch, dashboard_name: str, output: Path, start: datetime, end: Optional[datetime] = None,
          period: Optional[int] = None) -> Path:
    from monitoring.storage import write_atomically
    # EndTime is exclusive and whole seconds count: a value put in the second under way is in.
    end = end or datetime.now(timezone.utc) + timedelta(seconds=1)
    page = render(cloudwatch, dashboard_name, start, end, period)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(output, page.encode())
    return output


# --- after an offline run -----------------------------------------------------------------------

def judge_like_the_schedule(product, model_dir: Path, capture) -> Optional[str]:
    """The run's capture judged as the hourly monitorModel judges a window, its metrics put into the
    stand-in's CloudWatch under the deployed function's namespace, endpoint and schedule (the
    schedule does not fire offline); returns why not, when it could not judge."""
    from monitoring import monitor, storage

    clients = product.clients
    functions = product.stand_in.client("lambda").get_paginator("list_functions").paginate()
    # The stack's monitor: the function given a monitoring schedule (osls names functions <stack>-<key>).
    [variables] = [function["Environment"]["Variables"] for page in functions for function in page["Functions"]
                   if function["FunctionName"].startswith(f"{product.deployment.stack_name}-")
                   and settings.ENV_MONITORING_SCHEDULE in function.get("Environment", {}).get("Variables", {})]
    with tempfile.TemporaryDirectory(prefix="monitor-window-") as output:
        try:
            monitor.run(str(capture), str(model_dir), output, threshold=float(variables[settings.ENV_THRESHOLD]),
                        s3_client=clients["s3"], cloudwatch=clients["cloudwatch"],
                        metrics_namespace=variables[settings.ENV_METRICS_NAMESPACE],
                        endpoint_name=variables[settings.ENV_ENDPOINT_NAME],
                        schedule_name=variables[settings.ENV_MONITORING_SCHEDULE])
        except (monitor.MonitorError, storage.LocationNotFound) as error:
            return str(error)
    return None


def write_after_run(product, model_dir: Path, capture, output: Path) -> Optional[Path]:
    """The operators' page of an offline run: the run judged as the hourly monitor would, then the
    dashboard the run deployed, drawn from when it was deployed until now. Says where it is (or why
    there is none): a page that cannot be drawn never fails the run."""
    from local import deployment, moto_gaps

    try:
        not_judged = judge_like_the_schedule(product, model_dir, capture) if capture is not None else "no capture"
        # The queues as the run left them (its reviews answered): the sample the stand-in takes every
        # few seconds, taken now rather than after the page is drawn.
        moto_gaps.sample_queue_metrics()
        [stack] = product.clients["cloudformation"].describe_stacks(StackName=product.deployment.stack_name)["Stacks"]
        written = write(product.clients["cloudwatch"], product.deployment.outputs[deployment.DASHBOARD_OUTPUT],
                        output,
                        stack["CreationTime"].astimezone(timezone.utc) - timedelta(seconds=PERIODS[0]))
    except Exception as error:  # noqa: BLE001 - the run's own results are written whatever happens here
        logger.warning("No operators' page: %s", error)
        return None
    print(f"Operators' page (the deployed dashboard, drawn from the stand-in's CloudWatch): {written}"
          + (f"; the monitor's graphs are empty: {not_judged}" if not_judged else ""), flush=True)
    return written


# --- command line -------------------------------------------------------------------------------

def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 30m, 2h or 1d")
    return timedelta(seconds=int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.operations_page",
        description="Draw a CloudWatch dashboard as one HTML page from CloudWatch's API: the stand-in's (with the "
                    "export lines `python -m local.aws` prints) or AWS's.")
    parser.add_argument("--dashboard", required=True, help="dashboard name (the stack output OperationsDashboardName)")
    parser.add_argument("--since", type=_duration, default=timedelta(hours=3),
                        help="how far back the graphs start, e.g. 30m, 2h, 1d (default: 3h)")
    parser.add_argument("--period", type=int, choices=PERIODS, default=None,
                        help="seconds per point (default: the shortest giving at most 60 points)")
    parser.add_argument("--output", type=Path, default=settings.LOCAL_REPORT_DIR / PAGE_FILE,
                        help="the HTML file to write (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    args = parse_args(argv)
    now = datetime.now(timezone.utc)
    try:
        written = write(boto3.client("cloudwatch"), args.dashboard, args.output, now - args.since, now, args.period)
    except (PageError, BotoCoreError, ClientError, metric_queries.MetricQueryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
