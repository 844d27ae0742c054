"""What the emulator knows from botocore's ivs-realtime service model: routes and input constraints.

Driving both from the model (not hand-written tables) keeps the emulator honest when botocore is
upgraded: a new required member or a tighter pattern shows up here without code changes, and
AWS-side checks botocore skips on the client (max lengths, patterns, enums, max counts) answer
with the same ValidationException IVS would send.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from stages.ivs.emulator_state import AwsError

_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@functools.lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ivs-realtime")


@functools.lru_cache(maxsize=1)
def _routes() -> dict[tuple[str, str], str]:
    model = service_model()
    routes = {}
    for name in model.operation_names:
        http = model.operation_model(name).http
        if "{" not in http["requestUri"]:  # tagging calls address the ARN in the path; not emulated
            routes[(http["method"], http["requestUri"])] = name
    return routes


def route(method: str, path: str) -> str | None:
    return _routes().get((method.upper(), path))


def operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


def is_operation(name: str) -> bool:
    return name in service_model().operation_names


def validate_input(operation: str, params: Any) -> None:
    shape = operation_model(operation).input_shape
    if shape is not None:
        _check(shape, params, "")


def output_problem(operation: str, body: Any) -> str | None:
    """First way a response body breaks the model (None if it conforms): the emulator checks
    itself on every answer, so a drift from IVS shows up in development logs, not in production."""
    shape = operation_model(operation).output_shape
    try:
        if shape is not None:
            _check(shape, body, "")
    except AwsError as problem:
        return problem.message
    return None


def _fail(path: str, value: Any, constraint: str) -> AwsError:
    shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
    return AwsError(
        "ValidationException",
        f"1 validation error detected: Value {shown} at '{path or 'body'}' failed to satisfy constraint: {constraint}",
    )


def _check(shape: Shape, value: Any, path: str) -> None:
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            raise _fail(path, value, "Member must be an object")
        for required in meta.get("required", []):
            if value.get(required) is None:
                raise _fail(f"{path}.{required}".lstrip("."), None, "Member must not be null")
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            if name in value and value[name] is not None and "location" not in member.serialization:
                _check(member, value[name], f"{path}.{name}".lstrip("."))
    elif kind == "string":
        if not isinstance(value, str):
            raise _fail(path, value, "Member must be a string")
        _range(len(value), meta, path, value, "length")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            raise _fail(path, value, f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if "enum" in meta and value not in meta["enum"]:
            raise _fail(path, value, f"Member must satisfy enum value set: {meta['enum']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, value, "Member must be an integer")
        _range(value, meta, path, value, "value")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(path, value, "Member must be a boolean")
    elif kind == "timestamp":
        if not (isinstance(value, str) and _ISO_8601.fullmatch(value)):
            raise _fail(path, value, "Member must be an ISO 8601 timestamp")
    elif kind == "list":
        if not isinstance(value, list):
            raise _fail(path, value, "Member must be a list")
        _range(len(value), meta, path, value, "length")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}.{index + 1}")  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, dict):
            raise _fail(path, value, "Member must be a map")
        _range(len(value), meta, path, value, "length")
        for map_key, item in value.items():
            _check(shape.key, map_key, f"{path}.key")  # type: ignore[attr-defined]
            _check(shape.value, item, f"{path}.{map_key}")  # type: ignore[attr-defined]


def _range(measure: int, meta: dict, path: str, value: Any, what: str) -> None:
    if "min" in meta and measure < meta["min"]:
        raise _fail(path, value, f"Member must have {what} greater than or equal to {meta['min']}")
    if "max" in meta and measure > meta["max"]:
        raise _fail(path, value, f"Member must have {what} less than or equal to {meta['max']}")
