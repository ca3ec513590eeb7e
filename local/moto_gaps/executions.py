"""Step Functions executions at a burst's scale: two things moto 5.2.5 repeats for every execution.

- It parses the state machine's definition (an ANTLR grammar, in Python) when each execution
  starts: about 50 ms of CPU for classify-vehicle's, over half of the stand-in's time when a thousand
  uploads start a thousand executions. AWS parses a definition once, when the state machine is
  created or updated. Upstream fix: keep the parsed program per definition text; its components
  hold no state of an evaluation (that lives in each execution's Environment), except a key each
  one draws lazily the first time it is evaluated, which is drawn here before the program is shared.
- It makes a new boto3 client (with fixed dummy credentials, whatever the state's) for every Task
  state it runs: an eighth of an execution's CPU time. boto3 clients are thread-safe. Upstream fix:
  one client per region and service.
"""
import importlib
import threading
from contextlib import ExitStack
from unittest import mock


def parsed_once_per_definition(get_evaluation_entrypoint):
    """ExecutionWorker._get_evaluation_entrypoint that parses each definition once and then hands
    every execution of it the same program."""
    programs: dict = {}
    lock = threading.Lock()

    def entrypoint(worker):
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            if definition not in programs:
                program = get_evaluation_entrypoint(worker)
                _draw_heap_keys(program)
                programs[definition] = program
            return programs[definition]
    return entrypoint


def _draw_heap_keys(program) -> None:
    """Each component's heap key (the name of its per-execution state, such as a retrier's attempt
    count) drawn now, so that two executions evaluating a component for the first time at once
    cannot draw two different keys for it."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen, pending = set(), [program]
    while pending:
        value = pending.pop()
        if isinstance(value, (list, tuple, set)):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, Component) and id(value) not in seen:
            seen.add(id(value))
            if isinstance(value, EvalComponent):
                value.heap_key  # noqa: B018 - drawn on first read
            pending.extend(vars(value).values())


def shared_clients(boto_client_for):
    """boto_client_for(region, service, state_credentials) with one client per region and service."""
    clients = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials=None):
        with lock:
            if (region, service) not in clients:
                clients[region, service] = boto_client_for(region=region, service=service,
                                                           state_credentials=state_credentials)
            return clients[region, service]

    return client_for


# Every module of moto's interpreter that makes clients with its own reference to boto_client_for.
CLIENT_MAKERS = tuple(f"moto.stepfunctions.parser.asl.component.state.exec.{name}" for name in (
    "state_task.lambda_eval_utils", "state_map.item_reader.eval.resource_eval_s3",
    "state_map.result_writer.resource_eval.resource_eval_s3", *(f"state_task.service.state_task_service_{service}"
    for service in ("aws_sdk", "batch", "dynamodb", "ecs", "events", "glue", "sfn", "sns", "sqs", "unsupported"))))


def bridge_executions(stack: ExitStack) -> None:
    """Each definition parsed once, and one client per region and service for every Task state."""
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    stack.enter_context(mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint",
                                          parsed_once_per_definition(ExecutionWorker._get_evaluation_entrypoint)))
    client_for = shared_clients(boto_client.boto_client_for)
    for name in CLIENT_MAKERS:
        stack.enter_context(mock.patch.object(importlib.import_module(name), "boto_client_for", client_for))
