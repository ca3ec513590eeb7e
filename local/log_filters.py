"""CloudWatch Logs' JSON filter patterns and metric transformations, for the stand-in's metric filters.

    { ($.type = "ExecutionFailed") && ($.details.error != "ConfidenceBelowThreshold") }

A pattern in braces holds comparisons of a JSON field ($.a.b) with a quoted text or a number (=,
!=, <, <=, >, >=), joined by && and || and grouped by parentheses; a field the event lacks makes its
comparison false. That is what the stack's metric filters use (serverless.yml); other pattern kinds
(terms, space-delimited, IS NULL, EXISTS, wildcards) raise FilterPatternError so a filter is never
applied wrongly. local/moto_gaps/ applies them to the log events the stand-in receives.
"""
from __future__ import annotations

import json
import re
from typing import Callable, Optional, Tuple

TOKEN = re.compile(r'\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>)|(?P<paren>[()])|(?P<field>\$(?:\.[A-Za-z0-9_-]+)+)'
                   r'|"(?P<text>(?:[^"\\]|\\.)*)"|(?P<number>-?\d+(?:\.\d+)?))')
COMPARISONS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
MISSING = object()

Matcher = Callable[[dict], bool]


class FilterPatternError(ValueError):
    """A filter pattern this module does not understand."""


def field_of(document, path: str):
    """The value at a JSON path such as $.details.error, or MISSING."""
    value = document
    for key in path.split(".")[1:]:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def _tokens(pattern: str) -> list:
    tokens, position, text = [], 0, pattern.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise FilterPatternError(f"only JSON patterns ({{ ... }}) are understood: {pattern!r}")
    text = text[1:-1]
    while position < len(text):
        if not text[position:].strip():
            break
        match = TOKEN.match(text, position)
        if not match:
            raise FilterPatternError(f"cannot read {text[position:]!r} in the pattern {pattern!r}")
        tokens.append(match)
        position = match.end()
    return tokens


def compile_pattern(pattern: str) -> Matcher:
    """A function telling whether a JSON log event (a dict) matches the pattern."""
    tokens = _tokens(pattern)
    position = 0

    def peek(kind: str) -> Optional[str]:
        return tokens[position][kind] if position < len(tokens) else None

    def take(kind: str) -> str:
        nonlocal position
        value = peek(kind)
        if value is None:
            raise FilterPatternError(f"expected a {kind} in {pattern!r}")
        position += 1
        return value

    def disjunction() -> Matcher:
        terms = [conjunction()]
        while peek("op") == "||":
            take("op")
            terms.append(conjunction())
        return terms[0] if len(terms) == 1 else (lambda event: any(term(event) for term in terms))

    def conjunction() -> Matcher:
        terms = [primary()]
        while peek("op") == "&&":
            take("op")
            terms.append(primary())
        return terms[0] if len(terms) == 1 else (lambda event: all(term(event) for term in terms))

    def primary() -> Matcher:
        if peek("paren") == "(":
            take("paren")
            inner = disjunction()
            if take("paren") != ")":
                raise FilterPatternError(f"unbalanced parentheses in {pattern!r}")
            return inner
        path, operator = take("field"), take("op")
        if operator in ("&&", "||"):
            raise FilterPatternError(f"a comparison needs an operator after {path} in {pattern!r}")
        if peek("text") is not None:
            expected = json.loads(f'"{take("text")}"')
            if "*" in expected:
                raise FilterPatternError(f"wildcards are not understood: {pattern!r}")
        else:
            expected = float(take("number"))
        compare = COMPARISONS[operator]

        def comparison(event: dict) -> bool:
            value = field_of(event, path)
            if value is MISSING:
                return False
            if isinstance(expected, float):
                return isinstance(value, (int, float)) and not isinstance(value, bool) and compare(float(value), expected)
            if operator not in ("=", "!="):
                raise FilterPatternError(f"texts compare with = and != only: {pattern!r}")
            return compare(value, expected)
        return comparison

    matcher = disjunction()
    if position != len(tokens):
        raise FilterPatternError(f"unexpected {tokens[position].group().strip()!r} in {pattern!r}")
    return matcher


def metric_value(matcher: Matcher, transformation: dict, message: str) -> Optional[Tuple[float, dict]]:
    """(value, dimensions) a metric transformation (PutMetricFilter's shape: metricValue,
    defaultValue, dimensions {name: $.field}) gives for one log message, or None for none."""
    try:
        event = json.loads(message)
    except ValueError:
        event = None
    if isinstance(event, dict) and matcher(event):
        value = transformation["metricValue"]
        if str(value).startswith("$."):
            value = field_of(event, value)
            if value is MISSING or not isinstance(value, (int, float)):
                return None
        dimensions = {name: field_of(event, path) for name, path in (transformation.get("dimensions") or {}).items()}
        if any(text is MISSING or text is None for text in dimensions.values()):
            return None
        return float(value), {name: str(text) for name, text in dimensions.items()}
    default = transformation.get("defaultValue")
    return None if default is None else (float(default), {})
