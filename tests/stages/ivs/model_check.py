"""Independent checks of emulator traffic against botocore's ivs-realtime service model.

Deliberately separate from the emulator's own input validation: a bug shared by both would
otherwise hide itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore import parsers
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
# Not modelled for ivs-realtime but sent by every AWS service (and by our fault injection).
GENERIC_ERRORS = {"ThrottlingException": 429}

_model: ServiceModel = botocore.session.get_session().get_service_model("ivs-realtime")


def service_model() -> ServiceModel:
    return _model


def operation_for(method: str, path: str) -> OperationModel:
    for name in _model.operation_names:
        op = _model.operation_model(name)
        if op.http["method"] == method and op.http["requestUri"] == path:
            return op
    raise AssertionError(f"no ivs-realtime operation for {method} {path}")


@dataclass
class Exchange:
    operation: str
    request_body: bytes
    status: int
    headers: dict[str, str]
    response_body: bytes


def wire_problems(shape: Shape, value: Any, path: str = "", *, allow_extra: frozenset[str] = frozenset()) -> list[str]:
    """Every way `value` (decoded JSON) departs from `shape`: types, required, unknown members, constraints."""
    meta, kind, where = shape.metadata, shape.type_name, path or "<root>"
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected object, got {type(value).__name__}"]
        members = {n: m for n, m in shape.members.items() if "location" not in m.serialization}  # type: ignore[attr-defined]
        problems = [f"{where}: missing required {name}" for name in meta.get("required", []) if name not in value]
        problems += [
            f"{where}: unknown member {name}" for name in value if name not in members and name not in allow_extra
        ]
        for name, member in members.items():
            if name in value:
                problems += wire_problems(member, value[name], f"{path}.{name}".lstrip("."))
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected list, got {type(value).__name__}"]
        problems = _sized(len(value), meta, where)
        for index, item in enumerate(value):
            problems += wire_problems(shape.member, item, f"{path}[{index}]")  # type: ignore[attr-defined]
        return problems
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected map, got {type(value).__name__}"]
        problems = _sized(len(value), meta, where)
        for item_key, item in value.items():
            problems += wire_problems(shape.key, item_key, f"{path}<key>")  # type: ignore[attr-defined]
            problems += wire_problems(shape.value, item, f"{path}[{item_key}]")  # type: ignore[attr-defined]
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected string, got {type(value).__name__}"]
        problems = _sized(len(value), meta, where)
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value, flags=re.DOTALL):
            problems.append(f"{where}: {value!r} does not match {meta['pattern']}")
        if "enum" in meta and value not in meta["enum"]:
            problems.append(f"{where}: {value!r} not in {meta['enum']}")
        return problems
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: expected integer, got {type(value).__name__}"]
        return _sized(value, meta, where)
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected boolean, got {type(value).__name__}"]
    if kind == "timestamp":
        # The model asks for ISO 8601 strings (`timestampFormat: iso8601`), not epoch numbers.
        if not (isinstance(value, str) and ISO_8601.fullmatch(value)):
            return [f"{where}: expected an ISO 8601 timestamp, got {value!r}"]
        return []
    return [f"{where}: unchecked type {kind}"]


def _sized(measure: int, meta: dict, where: str) -> list[str]:
    problems = []
    if "min" in meta and measure < meta["min"]:
        problems.append(f"{where}: {measure} below min {meta['min']}")
    if "max" in meta and measure > meta["max"]:
        problems.append(f"{where}: {measure} above max {meta['max']}")
    return problems


def exchange_problems(exchange: Exchange) -> list[str]:
    op = _model.operation_model(exchange.operation)
    label = f"{exchange.operation} ({exchange.status})"
    headers = {k.lower(): v for k, v in exchange.headers.items()}
    problems = []
    # A request breaking the model (the scenario sends some on purpose) must be refused the way
    # IVS refuses it: ValidationException.
    if headers.get("x-amzn-errortype") != "ValidationException":
        problems += [f"{label} accepted a bad request: {p}" for p in request_problems(op, exchange.request_body)]
    if headers.get("content-type") != "application/json":
        problems.append(f"{label}: content-type {headers.get('content-type')!r}")
    try:
        body = json.loads(exchange.response_body or b"{}")
    except ValueError:
        return [*problems, f"{label}: response body is not JSON"]
    if exchange.status == op.http.get("responseCode", 200):
        problems += [f"{label} response: {p}" for p in wire_problems(op.output_shape, body)] if op.output_shape else []
        problems += [f"{label} parsed: {p}" for p in _parsed_problems(op, exchange)]
    else:
        problems += [f"{label} error: {p}" for p in _error_problems(op, exchange.status, headers, body)]
    return problems


def request_problems(op: OperationModel, raw: bytes) -> list[str]:
    params = json.loads(raw or b"{}")
    return wire_problems(op.input_shape, params) if op.input_shape else []


def _parsed_problems(op: OperationModel, exchange: Exchange) -> list[str]:
    """Parse as boto3 does, then validate the result against the output shape with botocore."""
    parser = parsers.create_parser("rest-json")
    response = {"status_code": exchange.status, "headers": exchange.headers, "body": exchange.response_body}
    try:
        parsed = parser.parse(response, op.output_shape)
    except Exception as exc:
        return [f"botocore cannot parse the response: {exc!r}"]
    parsed.pop("ResponseMetadata", None)
    if "Error" in parsed:
        return [f"parsed as an error: {parsed['Error']}"]
    report = ParamValidator().validate(parsed, op.output_shape)
    return [report.generate_report()] if report.has_errors() else []


def _error_problems(op: OperationModel, status: int, headers: dict[str, str], body: Any) -> list[str]:
    code = headers.get("x-amzn-errortype", "")
    if code in GENERIC_ERRORS:
        return [] if status == GENERIC_ERRORS[code] else [f"{code} with HTTP {status}"]
    declared = {shape.name: shape for shape in op.error_shapes}
    if code not in declared:
        return [f"{code!r} is not an error {op.name} declares ({sorted(declared)})"]
    shape = declared[code]
    problems = []
    if shape.metadata["error"]["httpStatusCode"] != status:
        problems.append(f"{code} with HTTP {status}, model says {shape.metadata['error']['httpStatusCode']}")
    # botocore reads the human text from `message`, next to the modelled `exceptionMessage`.
    return problems + wire_problems(shape, body, allow_extra=frozenset({"message"}))
