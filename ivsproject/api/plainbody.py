"""Proving that a request body passes a serializer of plain string fields, without running it.

Why (bench/): DRF builds and deep-copies a serializer's fields and runs five validators per field
on every request — about an eighth of a heartbeat's server time, and a visible share of a viewer
token's. The hot endpoints check the common body here first; whatever this cannot vouch for goes
through the serializer, which then gives its exact errors. It accepts only what the serializer
would return unchanged, so the two can never disagree on a body this module passes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from ivsproject.api.fields import INVISIBLE_CHARS, NullMeansAbsent, StrictCharField

_STANDARD_VALIDATORS = {MaxLengthValidator, ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator}
# The methods a field class may define besides `__init__`: StrictCharField's own conversion, and
# NullMeansAbsent's reading of a null as absent, both of which `validate` mirrors.
_KNOWN_FIELD_METHODS: dict[type, set[str]] = {
    StrictCharField: {"to_internal_value"},
    NullMeansAbsent: {"validate_empty_values"},
}
_REFUSED_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # StrictCharField's + surrogates
_INVISIBLE = re.compile(f"[{re.escape(INVISIBLE_CHARS)}]")  # refused by ids (allow_invisible=False)


@dataclass(frozen=True)
class _Field:
    name: str
    max_length: int
    required: bool
    allow_blank: bool
    allow_invisible: bool
    null_is_absent: bool


class PlainBody:
    """`PlainBody(SomeSerializer).validate(data)`: the serializer's validated data when `data`
    certainly passes it unchanged, else None ("let the serializer decide")."""

    def __init__(self, serializer_class: type[serializers.Serializer]):
        self.serializer_class = serializer_class
        self.fields = _plain_fields(serializer_class)

    def validated(self, data: object) -> dict[str, Any]:
        """The validated data: proven here when it can be, else by the serializer (its errors)."""
        valid = self.validate(data)
        if valid is None:
            serializer = self.serializer_class(data=data)
            serializer.is_valid(raise_exception=True)
            return dict(serializer.validated_data)
        return valid

    def validate(self, data: object) -> dict[str, str] | None:
        if self.fields is None or type(data) is not dict:
            return None
        clean = {}
        for field in self.fields:
            value = data.get(field.name, empty)
            if (value is empty and not field.required) or (value is None and field.null_is_absent):
                continue
            if value == "" and field.allow_blank:
                clean[field.name] = value
                continue
            if (
                type(value) is not str
                or not 0 < len(value) <= field.max_length
                or value != value.strip()
                or _REFUSED_CHARS.search(value)
                or (not field.allow_invisible and _INVISIBLE.search(value))
            ):
                return None
            clean[field.name] = value
        return clean


def _plain_fields(serializer_class: type[serializers.Serializer]) -> list[_Field] | None:
    """The fields, when every one is a StrictCharField with nothing but the standard validators
    and no default (so `validate` can tell for sure that a body passes), else None.

    What the serializer and its fields do is read from their documented options (`max_length`,
    `required`, `validators`, ...) and from our own classes: a serializer class below DRF's
    `Serializer`, or a field class below DRF's `CharField`, that defines any method of its own
    (a `validate`, a `to_internal_value`, ...) could do anything, so it is the serializer's to run.
    The one method allowed is `__init__`, whose effect is the options read here, and StrictCharField's
    own `to_internal_value`, which `_REFUSED_CHARS` mirrors.
    """
    serializer = serializer_class()
    if _defines_methods(serializer_class, below=serializers.Serializer) or serializer.validators:
        return None
    fields: list[_Field] = []
    for name, field in serializer.fields.items():
        if (
            not isinstance(field, StrictCharField)
            or _defines_methods(type(field), below=serializers.CharField, allowed=_KNOWN_FIELD_METHODS)
            or field.source != name
            or hasattr(serializer, f"validate_{name}")
            or field.default is not empty
            or field.read_only
            or not field.trim_whitespace
            or (field.allow_null and not isinstance(field, NullMeansAbsent))
            or field.min_length is not None
            or field.max_length is None
            or not {type(v) for v in field.validators} <= _STANDARD_VALIDATORS
        ):
            return None
        null_is_absent = isinstance(field, NullMeansAbsent) and not field.required
        fields.append(
            _Field(name, field.max_length, field.required, field.allow_blank, field.allow_invisible, null_is_absent)
        )
    return fields


def _defines_methods(cls: type, *, below: type, allowed: Mapping[type, set[str]] | None = None) -> bool:
    """Whether a class between `cls` and `below` (exclusive) defines a method other than `__init__`
    (and, per class, the names in `allowed`)."""
    for klass in cls.__mro__:
        if klass is below:
            return False
        own = {"__init__", *(allowed or {}).get(klass, ())}
        if any(name not in own and _is_method(value) for name, value in vars(klass).items()):
            return True
    return True  # not a subclass of `below` at all


def _is_method(value: object) -> bool:
    return inspect.isroutine(value) or isinstance(value, classmethod | staticmethod | property | cached_property)
