"""Parsed OTLP/JSON bodies -> protobuf messages, without protobuf's generic parser where it is not needed.

json_format.ParseDict handles any message, and pays for it on every JSON object: it rebuilds the
message type's field table, formats a path for error messages it rarely needs and checks names against
extension syntax. On a 15 MB body that is seconds, most of a receiver's work. `fill` does the same for
the shapes OTLP senders write, with each table built once per message type, and gives up (NotPlain)
on anything else: an unknown field, a null, a quoted float, an integer written as a float, a name
where a number belongs. The caller then hands the untouched data to ParseDict, so what is accepted,
what is refused and with which message do not change.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["NotPlain", "fill"]

# OTLP/JSON writes trace and span ids as hex, not as protobuf JSON's base64.
HEX_ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
# ParseDict refuses messages nested deeper than 100; well short of that, it decides.
_MAX_DEPTH = 90
_INTEGER = re.compile(r"-?[0-9]+\Z")
_INT_TYPES = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)
_MESSAGE, _STRING, _INT, _DOUBLE, _BOOL, _ENUM, _HEX = range(7)


class NotPlain(Exception):
    """The data has something `fill` leaves to ParseDict."""


class _Field:
    __slots__ = ("name", "kind", "repeated", "oneof", "enum", "message")

    def __init__(self, field: FieldDescriptor, kind: int) -> None:
        self.name = field.name
        self.kind = kind
        self.repeated = _is_repeated(field)
        self.oneof = field.containing_oneof.name if field.containing_oneof is not None else None
        self.enum = field.enum_type.values_by_name if kind == _ENUM else None
        self.message = field.message_type if kind == _MESSAGE else None


_TABLES: dict[str, dict[str, _Field]] = {}


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf 6 and later have is_repeated and, from 7, no label; protobuf 5 only label.
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == FieldDescriptor.LABEL_REPEATED


def _kind(field: FieldDescriptor) -> int | None:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        message = field.message_type
        if message.GetOptions().map_entry or message.full_name.startswith("google.protobuf."):
            return None  # maps and well-known types have JSON forms of their own
        return _MESSAGE
    if cpp in _INT_TYPES:
        return _INT
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _DOUBLE
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return _BOOL
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return _ENUM
    if field.type == FieldDescriptor.TYPE_STRING:
        return _STRING
    if field.type == FieldDescriptor.TYPE_BYTES and field.name in HEX_ID_FIELDS:
        return _HEX
    return None  # floats (range checks), other bytes (base64): ParseDict's


def _table(descriptor: Descriptor) -> dict[str, _Field]:
    table = _TABLES.get(descriptor.full_name)
    if table is None:
        table = {}
        for field in descriptor.fields:
            kind = _kind(field)
            if kind is not None:
                entry = _Field(field, kind)
                table[field.name] = entry
                table[field.json_name] = entry  # ParseDict looks the JSON name up first
        _TABLES[descriptor.full_name] = table
    return table


def fill(data: dict, message) -> None:
    """Set `message`'s fields from `data` (a parsed OTLP/JSON object) as ParseDict would, with unknown
    fields ignored and ids in hex; or raise NotPlain, `data` left untouched and `message` to be
    discarded."""
    try:
        _fill(data, message, 1)
    except NotPlain:
        raise
    except (ValueError, TypeError, OverflowError, AttributeError):
        raise NotPlain() from None  # out of range, not hex, ...: ParseDict words the refusal


def _fill(data: dict, message, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise NotPlain()
    table = _table(message.DESCRIPTOR)
    seen: set[str] = set()
    for key, value in data.items():
        field = table.get(key)
        if field is None or value is None:
            raise NotPlain()
        name = field.name
        if name in seen or (field.oneof is not None and field.oneof in seen):
            raise NotPlain()
        seen.add(name)
        if field.oneof is not None:
            seen.add(field.oneof)
        kind = field.kind
        if field.repeated:
            if type(value) is not list:
                raise NotPlain()
            if kind == _MESSAGE:
                add = getattr(message, name).add
                for item in value:
                    if type(item) is not dict:
                        raise NotPlain()
                    _fill(item, add(), depth + 1)
            else:
                getattr(message, name).extend([_scalar(field, item) for item in value])
        elif kind == _MESSAGE:
            if type(value) is not dict:
                raise NotPlain()
            sub = getattr(message, name)
            sub.SetInParent()
            _fill(value, sub, depth + 1)
        else:
            setattr(message, name, _scalar(field, value))


def _scalar(field: _Field, value):
    kind, t = field.kind, type(value)
    if kind == _STRING:
        if t is str and (value.isascii() or _encodable(value)):
            return value
    elif kind == _INT:
        if t is int:
            return value
        if t is str and _INTEGER.match(value):
            return int(value)
    elif kind == _DOUBLE:
        if t is float:
            if value - value == 0.0:  # finite: ParseDict wants NaN and infinities quoted
                return value
        elif t is int:
            return float(value)
    elif kind == _HEX:
        if t is str:
            return bytes.fromhex(value)
    elif kind == _BOOL:
        if t is bool:
            return value
    elif kind == _ENUM:
        if t is int:
            return value
        if t is str:
            number = field.enum.get(value)
            if number is not None:
                return number.number
    raise NotPlain()


def _encodable(text: str) -> bool:
    """No lone surrogates (which ParseDict refuses, and which JSON escapes can produce)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
