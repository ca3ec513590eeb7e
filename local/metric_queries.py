"""CloudWatch's metric query language, as far as this project's dashboard speaks it.

- A dashboard widget's `metrics` array: `[namespace, metric name, dimension name, value, ...,
  {options}]` for a metric, `[{"expression": ..., "id": ...}]` for an expression; the widget's
  `stat` and `period` are the defaults. `widget_queries()` turns it into GetMetricData queries, as
  the console does.
- SEARCH expressions with a metric schema and exact terms only:
  `SEARCH('{Namespace,DimensionName,...} MetricName="name" DimensionName="value"', 'Stat', period)`.
- Metric math: ids of other queries, numbers, + - * / and parentheses, and FILL(series, number).

Three readers share it: the stand-in answers GetMetricData with SEARCH and math as CloudWatch does
(local/moto_gaps/), the operators' page draws the deployed dashboard (local/operations_page.py),
and tests/cloud/test_dashboard.py checks that every metric the dashboard shows exists. Anything
else CloudWatch accepts is refused with MetricQueryError rather than drawn wrong.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

DEFAULT_STAT = "Average"          # the console's default for a widget that names none
DEFAULT_PERIOD = 300
SEARCH_CALL = re.compile(r"^\s*SEARCH\(\s*'(?P<query>[^']*)'\s*,\s*'(?P<stat>[^']+)'\s*(?:,\s*(?P<period>\d+)\s*)?\)\s*$")
SCHEMA = re.compile(r"^\s*\{(?P<schema>[^}]*)\}(?P<terms>.*)$")
EXACT_TERM = re.compile(r'\s*(?P<name>[A-Za-z0-9_.:-]+)="(?P<value>[^"]*)"\s*')
FILL = "FILL"

Series = Dict[datetime, float]


class MetricQueryError(ValueError):
    """A query this module does not understand (and so would not draw or check honestly)."""


@dataclass(frozen=True)
class Search:
    """A SEARCH expression: the metrics of one schema (namespace and exactly these dimension
    names) whose metric name and dimension values equal the terms given."""
    namespace: str
    dimension_names: Tuple[str, ...]
    terms: Tuple[Tuple[str, str], ...]
    stat: str
    period: Optional[int]

    @property
    def metric_name(self) -> Optional[str]:
        return dict(self.terms).get("MetricName")

    @property
    def dimension_terms(self) -> Dict[str, str]:
        return {name: value for name, value in self.terms if name != "MetricName"}

    def matches(self, namespace: str, metric_name: str, dimensions: Mapping[str, str]) -> bool:
        return (namespace == self.namespace and set(dimensions) == set(self.dimension_names)
                and self.metric_name in (None, metric_name)
                and all(dimensions.get(name) == value for name, value in self.dimension_terms.items()))

    def label_of(self, metric_name: str, dimensions: Mapping[str, str]) -> str:
        """What tells one found metric from the others: the dimension values the terms leave open
        (the metric's name when the terms leave none)."""
        open_values = [dimensions[name] for name in self.dimension_names if name not in self.dimension_terms]
        return " ".join(open_values) or metric_name


def is_search(expression: str) -> bool:
    return expression.lstrip().startswith("SEARCH(")


def parse_search(expression: str) -> Search:
    call = SEARCH_CALL.match(expression)
    if not call:
        raise MetricQueryError(f"not a SEARCH('{{schema}} terms', 'stat'[, period]) expression: {expression!r}")
    schema = SCHEMA.match(call["query"])
    if not schema:
        raise MetricQueryError(f"a SEARCH without a {{namespace,dimension,...}} schema: {expression!r}")
    namespace, *dimension_names = [part.strip().strip('"') for part in schema["schema"].split(",")]
    terms, consumed = [], 0
    text = schema["terms"]
    for term in EXACT_TERM.finditer(text):
        if term.start() != consumed:
            break
        terms.append((term["name"], term["value"]))
        consumed = term.end()
    if consumed != len(text) and text[consumed:].strip():
        raise MetricQueryError(f"only exact terms (Name=\"value\") are understood in a SEARCH: {expression!r}")
    period = int(call["period"]) if call["period"] else None
    return Search(namespace, tuple(dimension_names), tuple(terms), call["stat"], period)


# --- metric math ----------------------------------------------------------------------------------

_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.Div: lambda a, b: a / b}


def _tree(expression: str) -> ast.expr:
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as error:
        raise MetricQueryError(f"not a metric math expression: {expression!r}") from error
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id == FILL and len(node.args) == 2
                    and not node.keywords and isinstance(node.args[1], ast.Constant)):
                raise MetricQueryError(f"of the math functions only FILL(series, number) is understood: {expression!r}")
        elif not isinstance(node, (ast.BinOp, ast.UnaryOp, ast.USub, ast.Constant, ast.Name, ast.Load,
                                   *_OPERATORS)):
            raise MetricQueryError(f"only + - * / ( ) and FILL are understood in metric math: {expression!r}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise MetricQueryError(f"only numbers are constants in metric math: {expression!r}")
    return tree


def referenced_ids(expression: str) -> set:
    """The query ids a metric math expression reads."""
    tree = _tree(expression)
    functions = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} - functions


def evaluate(expression: str, series: Mapping[str, Series], grid: Sequence[datetime]) -> Series:
    """The expression over the series by id, period by period: an operation between two series has
    a value where both have one; FILL gives a series a value at every time of the grid; a division
    by zero has none."""
    def value_of(node) -> "float | Series":
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in series:
                raise MetricQueryError(f"{expression!r} reads {node.id!r}, which no query of the widget has")
            return dict(series[node.id])
        if isinstance(node, ast.UnaryOp):
            return combine(-1.0, value_of(node.operand), _OPERATORS[ast.Mult])
        if isinstance(node, ast.Call):
            filled, default = value_of(node.args[0]), float(node.args[1].value)
            return {moment: filled.get(moment, default) for moment in grid} if isinstance(filled, dict) else filled
        return combine(value_of(node.left), value_of(node.right), _OPERATORS[type(node.op)])

    def combine(left, right, operate) -> "float | Series":
        if not isinstance(left, dict) and not isinstance(right, dict):
            return operate(left, right)
        moments = (set(left) & set(right) if isinstance(left, dict) and isinstance(right, dict)
                   else set(left if isinstance(left, dict) else right))
        result = {}
        for moment in moments:
            a = left[moment] if isinstance(left, dict) else left
            b = right[moment] if isinstance(right, dict) else right
            try:
                result[moment] = operate(a, b)
            except ZeroDivisionError:
                continue
        return result

    value = value_of(_tree(expression))
    return value if isinstance(value, dict) else {moment: value for moment in grid}


# --- a dashboard widget's metrics -------------------------------------------------------------------

@dataclass
class Query:
    """One line of a widget's `metrics` array as a GetMetricData query, and how the widget shows it."""
    query: dict                       # a MetricDataQuery: {"Id", "MetricStat"} or {"Id", "Expression"}
    label: Optional[str] = None       # None: CloudWatch's label (for SEARCH, one per metric found)
    visible: bool = True
    y_axis: str = "left"
    options: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.query["Id"]

    @property
    def metric(self) -> Optional[dict]:
        """{"Namespace", "MetricName", "Dimensions"} for a metric line, None for an expression."""
        return self.query["MetricStat"]["Metric"] if "MetricStat" in self.query else None

    @property
    def expression(self) -> Optional[str]:
        return self.query.get("Expression")


def widget_queries(properties: dict) -> List[Query]:
    """The GetMetricData queries of a metric widget's `metrics`, ids as given or m1, m2, ..."""
    default_stat = properties.get("stat", DEFAULT_STAT)
    default_period = int(properties.get("period", DEFAULT_PERIOD))
    queries = []
    for number, line in enumerate(properties.get("metrics", []), start=1):
        if not isinstance(line, list) or not line:
            raise MetricQueryError(f"a widget's metrics line must be a non-empty list, got {line!r}")
        options = line[-1] if isinstance(line[-1], dict) else {}
        names = line[:-1] if isinstance(line[-1], dict) else line
        query_id = options.get("id", f"m{number}")
        if "expression" in options:
            if names:
                raise MetricQueryError(f"an expression line holds only its options, got {line!r}")
            query = {"Id": query_id, "Expression": options["expression"]}
            if not is_search(options["expression"]):
                referenced_ids(options["expression"])    # refuses what evaluate() could not compute
            else:
                parse_search(options["expression"])
        else:
            if any(not isinstance(name, str) for name in names) or len(names) < 2 or len(names) % 2:
                raise MetricQueryError(f"a metric line is [namespace, name, dimension, value, ...]: {line!r}")
            if "." in names[:2] or "..." in names:
                raise MetricQueryError(f"the '.'/'...' shorthands of the console are not understood: {line!r}")
            namespace, metric_name, *pairs = names
            dimensions = [{"Name": pairs[index], "Value": pairs[index + 1]} for index in range(0, len(pairs), 2)]
            query = {"Id": query_id, "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": metric_name, "Dimensions": dimensions},
                "Period": int(options.get("period", default_period)), "Stat": options.get("stat", default_stat)}}
        query["ReturnData"] = options.get("visible", True) is not False
        queries.append(Query(query, options.get("label"), query["ReturnData"], options.get("yAxis", "left"), options))
    return queries


def grid_of(start: datetime, end: datetime, period: int) -> List[datetime]:
    """The period start times from start to end, as GetMetricData aligns its answers."""
    from datetime import timedelta
    moments, moment = [], start
    while moment < end:
        moments.append(moment)
        moment += timedelta(seconds=period)
    return moments
