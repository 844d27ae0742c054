"""PlainBody (ivsproject/api/plainbody.py): it vouches only for serializers whose behaviour it knows,
and a body it passes is exactly what the serializer would return."""

import pytest
from rest_framework import serializers

from ivsproject.api.fields import NullMeansAbsent, StrictCharField
from ivsproject.api.plainbody import PlainBody


class IdField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(**kwargs)


class Plain(serializers.Serializer):
    userId = IdField()
    note = StrictCharField(max_length=8, required=False, allow_blank=True)


def test_the_hot_bodies_are_vouched_for():
    from tokens.serializers import ViewerTokenRequestSerializer
    from viewers.serializers import ViewerStageSerializer

    assert PlainBody(ViewerStageSerializer).fields is not None
    assert PlainBody(ViewerTokenRequestSerializer).fields is not None


def _validator(value):
    return value


class ValidatingField(IdField):
    def run_validation(self, data=serializers.empty):
        return super().run_validation(data)


class ConvertingField(StrictCharField):
    def to_internal_value(self, data):
        return super().to_internal_value(data).upper()


class ReadingField(StrictCharField):
    def get_value(self, dictionary):
        return super().get_value(dictionary)


class WithValidate(Plain):
    def validate(self, attrs):
        return attrs


class WithFieldValidator(Plain):
    def validate_userId(self, value):
        return value


class WithConversion(Plain):
    def to_internal_value(self, data):
        return super().to_internal_value(data)


class WithMetaValidators(Plain):
    class Meta:
        validators = [_validator]


def _with(field):
    return type("WithField", (serializers.Serializer,), {"userId": field})


@pytest.mark.parametrize(
    "serializer_class",
    [
        WithValidate,
        WithFieldValidator,
        WithConversion,
        WithMetaValidators,
        _with(ValidatingField()),
        _with(ConvertingField()),
        _with(ReadingField()),
        _with(serializers.CharField(max_length=16)),
        _with(IdField(validators=[_validator])),
        _with(IdField(default="x")),
        _with(IdField(source="other")),
        _with(IdField(allow_null=True)),
        _with(IdField(min_length=2)),
        _with(IdField(trim_whitespace=False)),
    ],
    ids=lambda cls: cls.__name__ + ":" + type(cls().fields.get("userId")).__name__,
)
def test_anything_that_changes_validation_is_left_to_the_serializer(serializer_class):
    assert PlainBody(serializer_class).fields is None


BODIES = [
    {"userId": "u-1"},
    {"userId": "u-1", "note": ""},
    {"userId": "u-1", "note": "hi"},
    {"userId": "u-1", "note": "too long!"},
    {"userId": " u-1 "},
    {"userId": "u\x00"},
    {"userId": "u\u2028"},
    {"userId": "\ud800"},
    {"userId": "中文😀"},
    {"userId": "x" * 16},
    {"userId": "x" * 17},
    {"userId": ""},
    {"userId": None},
    {"userId": 7},
    {"userId": ["u"]},
    {"note": "hi"},
    {"userId": "u-1", "extra": {"nested": 1}},
    {},
    [],
    "u-1",
]


@pytest.mark.parametrize("body", BODIES, ids=repr)
def test_a_body_it_passes_is_what_the_serializer_returns(body):
    proven = PlainBody(Plain).validate(body)
    serializer = Plain(data=body)
    if proven is not None:
        assert serializer.is_valid(), serializer.errors
        assert proven == dict(serializer.validated_data)


class OptionalRoomField(NullMeansAbsent, StrictCharField):
    pass


class WithNullableOptional(serializers.Serializer):
    userId = IdField()
    room = OptionalRoomField(max_length=8, required=False, allow_blank=True)


@pytest.mark.parametrize(
    "body",
    [{"userId": "u-1", "room": None}, {"userId": "u-1", "room": "r1"}, {"userId": "u-1"}, {"userId": None}],
    ids=repr,
)
def test_a_null_for_an_optional_field_is_absent_here_as_in_the_serializer(body):
    """Null means absent (NullMeansAbsent): the route stays vouched for and a null for the optional
    field is proven absent here as the serializer drops it; a null for a required field is still
    the serializer's error."""
    plain = PlainBody(WithNullableOptional)
    assert plain.fields is not None
    serializer = WithNullableOptional(data=body)
    if body["userId"] is None:
        assert plain.validate(body) is None
    else:
        assert serializer.is_valid(), serializer.errors
        assert plain.validate(body) == dict(serializer.validated_data)
    if body["userId"] is None:
        assert not serializer.is_valid() and serializer.errors["userId"][0].code == "null"
    else:
        assert serializer.is_valid(), serializer.errors
        assert serializer.validated_data == {k: v for k, v in body.items() if v is not None}


def test_a_null_takes_an_optional_fields_default_and_a_required_field_refuses_it():
    class WithDefault(serializers.Serializer):
        userId = IdField()
        room = OptionalRoomField(max_length=8, default="default")

    class Required(serializers.Serializer):
        room = OptionalRoomField(max_length=8)

    with_default = WithDefault(data={"userId": "u", "room": None})
    assert with_default.is_valid(), with_default.errors
    assert with_default.validated_data == {"userId": "u", "room": "default"}
    required = Required(data={"room": None})
    assert not required.is_valid() and required.errors["room"][0].code == "null"
    with pytest.raises(TypeError):
        OptionalRoomField(max_length=8, allow_null=True)
