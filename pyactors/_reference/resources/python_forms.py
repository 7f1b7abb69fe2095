"""Entries read from Python values: the dict form's values and the items of
Mesos's JSON form (what `PyResources.to_dict` and `to_json` write)."""

from __future__ import annotations

from typing import Any, TypeGuard

from pyactors._reference.resources.entries import Key, Resource
from pyactors._reference.resources.values import (
    Value,
    ranges_from_python,
    scalar_from_units,
    set_from_items,
)
from pyactors.core.scalars import scalar_from_float
from pyactors.errors import ResourceError

EXPECTED_VALUE = "expected a number, a string, a list of [begin, end] pairs or a list of strings"
_JSON_FIELDS = ("name", "type", "scalar", "ranges", "set", "role", "reservation", "disk")
_VALUE_FIELDS = {"SCALAR": "scalar", "RANGES": "ranges", "SET": "set"}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return _is_int(value) or isinstance(value, float)


def _scalar_from_number(value: int | float) -> int:
    if isinstance(value, int):
        return scalar_from_units(value, repr(value))
    return scalar_from_float(value, repr(value))


def value_from_python(value: object) -> Value:
    """A dict value other than a string: a number, or a list of pairs or of strings."""
    if _is_number(value):
        return _scalar_from_number(value)
    if isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            return set_from_items(value)
        if all(
            isinstance(item, list | tuple) and len(item) == 2 and all(_is_int(b) for b in item)
            for item in value
        ):
            return ranges_from_python(value)
    raise ResourceError(f"invalid value {value!r}: {EXPECTED_VALUE}")


def _json_string(item: dict[Any, Any], field: str) -> str:
    if field not in item:
        raise ResourceError(f"missing field '{field}'")
    value = item[field]
    if not isinstance(value, str):
        raise ResourceError(f"field '{field}' must be a string")
    return value


def _has_only(value: object, *fields: str) -> TypeGuard[dict[Any, Any]]:
    """Whether `value` is a dict with exactly these fields."""
    return isinstance(value, dict) and len(value) == len(fields) and all(f in value for f in fields)


def entry_from_json(item: object) -> Resource:
    if not isinstance(item, dict):
        raise ResourceError(f"expected an object, got {type(item).__name__}")
    for field in item:
        if field not in _JSON_FIELDS:
            raise ResourceError(f"unknown field {field!r}")
    name = _json_string(item, "name")
    kind = _json_string(item, "type")
    value_field = _VALUE_FIELDS.get(kind)
    if value_field is None:
        raise ResourceError(f"unknown type '{kind}': expected SCALAR, RANGES or SET")
    for field in _VALUE_FIELDS.values():
        if field != value_field and field in item:
            raise ResourceError(f"field '{field}' does not match type {kind}")
    if value_field not in item:
        raise ResourceError(f"missing field '{value_field}'")
    role = _json_string(item, "role") if "role" in item else "*"
    principal = None
    if "reservation" in item:
        reservation = item["reservation"]
        if not _has_only(reservation, "principal") or not isinstance(reservation["principal"], str):
            raise ResourceError("field 'reservation' must be {\"principal\": string}")
        principal = reservation["principal"]
    volume = None
    if "disk" in item:
        disk = item["disk"]
        if (
            not _has_only(disk, "persistence")
            or not _has_only(disk["persistence"], "id")
            or not isinstance(disk["persistence"]["id"], str)
        ):
            raise ResourceError('field \'disk\' must be {"persistence": {"id": string}}')
        volume = disk["persistence"]["id"]
    key = Key.new(name, role, principal, volume)
    return key.with_value(_value_from_json(value_field, item[value_field]))


def _value_from_json(field: str, body: object) -> Value:
    if field == "scalar":
        number = body["value"] if _has_only(body, "value") else None
        if not _is_number(number):
            raise ResourceError("field 'scalar' must be {\"value\": number}")
        return _scalar_from_number(number)
    if field == "ranges":
        ranges = body["range"] if _has_only(body, "range") else None
        if not isinstance(ranges, list) or not all(
            _has_only(r, "begin", "end") and _is_int(r["begin"]) and _is_int(r["end"])
            for r in ranges
        ):
            raise ResourceError(
                'field \'ranges\' must be {"range": [{"begin": integer, "end": integer}]}'
            )
        return ranges_from_python((r["begin"], r["end"]) for r in ranges)
    items = body["item"] if _has_only(body, "item") else None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ResourceError("field 'set' must be {\"item\": [string]}")
    return set_from_items(items)
