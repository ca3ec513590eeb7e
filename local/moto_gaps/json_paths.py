"""JSONPath at a fleet's scale: moto 5.2.5 builds a new JSONPath parser for every path it evaluates.

jsonpath_ng's `parse()` makes a new parser (reading its yacc tables) on every call, a few
milliseconds each. moto calls it for every path of every Step Functions state it runs (InputPath,
Parameters' ".$" fields, ResultPath, OutputPath) and for every input path of every EventBridge
input transformer, for every event: a fifth of the stand-in's time when a fleet's decisions reach
the bus. AWS parses a state machine's paths once, when it is created. Upstream fix: parse each path
once (functools.lru_cache over the path's text), as the parsed JSONPath holds no state of an
evaluation.
"""
import functools
from contextlib import ExitStack
from unittest import mock

PARSED_PATHS_KEPT = 4096


def once_per_path(parse):
    """parse(path) that parses each path's text once and then hands out the same JSONPath."""
    return functools.lru_cache(maxsize=PARSED_PATHS_KEPT)(parse)


def bridge_json_paths(stack: ExitStack) -> None:
    """Every place moto parses a JSONPath, with each path parsed once while the stack is open."""
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # EventBridge imports jsonpath_ng.ext.parse at each transformation; Step Functions at import.
    for module in (jsonpath_ng.ext, json_path, result_path):
        stack.enter_context(mock.patch.object(module, "parse", once_per_path(module.parse)))
