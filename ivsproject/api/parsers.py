"""The request body parser: JSON, and only a JSON object.

Every endpoint takes an object; an array or a bare string would reach views as a list or str and
fail there (`.get` on a list is a 500). Refusing it here makes it a 400 VALIDATION_ERROR everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from ivsproject.api.exceptions import ValidationFailed

_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


class JsonObjectParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json's scanner gives up at the interpreter's recursion limit: `[[[[…` 10,000 deep fits
            # in a 64 KiB body and used to escape as a 500. Bad input: 400.
            # (The reason is development-only detail, in English like DRF's other parse errors.)
            raise ParseError("JSON nested too deeply") from None
        if not isinstance(data, dict):
            raise ValidationFailed(
                _("請求內容必須是 JSON 物件"), details={"receivedType": _JSON_TYPES.get(type(data), "unknown")}
            )
        return data
