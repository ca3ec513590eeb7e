"""local/moto_gaps/json_paths.py: moto still builds a JSONPath parser for every path it evaluates, and
bridged it parses each path once, with the same results.

The plain-moto test failing after a moto upgrade means moto fixed the gap: remove the bridge.
"""
from unittest import mock

import pytest
from jsonpath_ng import parser as jsonpath_parser
from moto.events.utils import EventTemplateParser
from moto.stepfunctions.parser.asl.utils import json_path

from tests.local.moto_gaps import BRIDGED, IDS, moto


EVENT = {"detail": {"driver_id": "D-1", "label": "bicycle"}, "ingestion-time": 0}


def counting_parsers():
    """Patches the JSONPath parser's constructor (every jsonpath_ng parse() makes one) to count calls."""
    built = []
    construct = jsonpath_parser.JsonPathParser.__init__

    def counted(parser, *args, **kwargs):
        built.append(type(parser).__name__)
        construct(parser, *args, **kwargs)
    return built, mock.patch.object(jsonpath_parser.JsonPathParser, "__init__", counted)


def evaluate_twice() -> list:
    """The same paths, twice: as a Step Functions state reads its input, and as EventBridge transforms an event."""
    return [(json_path.extract_json("$.detail.label", EVENT),
             EventTemplateParser.parse('{"driver": "<driver>"}', {"driver": "$.detail.driver_id"}, EVENT))
            for _ in range(2)]


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_each_path_is_parsed_once_only_when_bridged(bridged):
    built, counting = counting_parsers()
    with moto(bridged), counting:
        results = evaluate_twice()

    assert results == [("bicycle", {"driver": "D-1"})] * 2
    assert len(built) == (2 if bridged else 4)
