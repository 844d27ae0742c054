"""Serializer fields for the wire contract.

DRF's `CharField` quietly turns `123` into `"123"`; the contract's ids are strings, and a number
where a string belongs is a client bug we report (400 VALIDATION_ERROR) rather than paper over.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

# C0 controls, DEL and C1 controls: never part of an id or a name, and trouble in logs and Redis keys.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Unicode format characters (category Cf: right-to-left override, zero-width space, BOM, ...) and
# the line and paragraph separators: invisible, they make look-alike ids (`admin‮gnp.exe`) in the
# admin and in viewer lists. Read from the Unicode database, so a new Cf character is covered too.
# Only planes 0, 1 and 14 hold Cf characters, so every process's start-up reads those alone (an
# eighth of the table); tests/api/test_fields.py checks the whole table still agrees.
CF_PLANES = (0x0, 0x1, 0xE)
INVISIBLE_CHARS = (
    "".join(
        chr(c)
        for plane in CF_PLANES
        for c in range(plane << 16, (plane + 1) << 16)
        if unicodedata.category(chr(c)) == "Cf"
    )
    + "\u2028\u2029"
)
_INVISIBLE = re.compile(f"[{re.escape(INVISIBLE_CHARS)}]")


class StrictCharField(serializers.CharField):
    """A string and only a string: no numbers or booleans, no control characters, bounded length.

    `max_length` defaults to `DEFAULT_MAX_LENGTH` so no field is unbounded by accident.
    """

    DEFAULT_MAX_LENGTH = 256

    # `invalid` ("Not a valid string.") is inherited from CharField, with DRF's translations.
    default_error_messages = {
        "control_characters": _("不可包含控制字元"),
        "invisible_characters": _("不可包含不可見的格式字元"),
    }

    def __init__(self, *, allow_invisible: bool = True, **kwargs: Any):
        """`allow_invisible=False` for ids: no Unicode format characters nor line separators."""
        kwargs.setdefault("max_length", self.DEFAULT_MAX_LENGTH)
        self.allow_invisible = allow_invisible
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if _CONTROL_CHARS.search(data):
            self.fail("control_characters")
        if not self.allow_invisible and _INVISIBLE.search(data):
            self.fail("invisible_characters")
        return data.strip() if self.trim_whitespace else data


class NullMeansAbsent:
    """For an optional field: a JSON `null` is taken exactly as the field not sent (its default,
    if it has one, applies; else it is left out). A required field is not affected.

    JSON clients write null for "no value" (`stageArn: null` for "pick a stage for me"), and the
    contract's optional fields say what their absence means; answering `缺少 stageArn` (missing) to
    an optional field would be wrong. An optional field is declared nullable, so the schema says so.
    """

    required: bool

    def __init__(self, **kwargs: Any):
        optional = kwargs.get("required") is False or "default" in kwargs
        if kwargs.get("allow_null") and not optional:
            raise TypeError("NullMeansAbsent: a required field cannot take null as absent")
        kwargs.setdefault("allow_null", optional)
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # A mixin: the field class is next in the MRO, with DRF's handling of an absent value.
        if data is None and not self.required:
            data = serializers.empty
        return super().validate_empty_values(data)  # type: ignore[misc]


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter where a present but empty value (`?limit=`) is an error.

    DRF treats an empty form value of an optional field as absent (browsers submit empty inputs),
    so `?limit=` quietly meant the default. Our callers are programs and the schema says integer:
    schema fuzzing (tests/hardening) flagged the mismatch, so it is a 400 like any other bad value.
    """

    def get_value(self, dictionary: Any) -> Any:
        if hasattr(dictionary, "getlist") and dictionary.get(self.field_name, None) == "":
            return ""
        return super().get_value(dictionary)
