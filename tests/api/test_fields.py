"""StrictCharField: the contract's strings, and nothing that merely looks like one."""

import pytest
from rest_framework import serializers

from ivsproject.api.fields import StrictCharField


class Payload(serializers.Serializer):
    userId = StrictCharField(max_length=8)
    name = StrictCharField(required=False)


def errors_of(data):
    serializer = Payload(data=data)
    assert not serializer.is_valid()
    return {field: [e.code for e in errs] for field, errs in serializer.errors.items()}


def test_a_string_is_accepted_and_trimmed():
    serializer = Payload(data={"userId": "  u-1 "})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"userId": "u-1"}


@pytest.mark.parametrize("value", [7, 7.5, True, False, ["u"], {"id": "u"}])
def test_non_strings_are_invalid(value):
    assert errors_of({"userId": value}) == {"userId": ["invalid"]}


@pytest.mark.parametrize("value", ["u\x001", "u\n1", "u\t1", "u\x1b[31m", "u\x7f", "u\x85"])
def test_control_characters_are_invalid(value):
    assert errors_of({"userId": value}) == {"userId": ["control_characters"]}


def test_max_length_is_enforced():
    assert errors_of({"userId": "123456789"}) == {"userId": ["max_length"]}


def test_a_default_max_length_bounds_every_field():
    assert errors_of({"userId": "u", "name": "n" * (StrictCharField.DEFAULT_MAX_LENGTH + 1)}) == {
        "name": ["max_length"]
    }


@pytest.mark.parametrize("value", [None, "", "   "])
def test_null_and_blank_read_as_missing(value):
    assert errors_of({"userId": value})["userId"][0] in {"null", "blank"}


def test_unicode_text_is_fine():
    serializer = Payload(data={"userId": "主播-1"})

    assert serializer.is_valid(), serializer.errors


def test_the_invisible_characters_read_at_start_up_are_every_format_character_in_unicode():
    import sys
    import unicodedata

    from ivsproject.api.fields import INVISIBLE_CHARS

    every_cf = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    assert set(INVISIBLE_CHARS) == every_cf | {"\u2028", "\u2029"}
