"""What the definition readers (Marathon apps, Chronos/Metronome jobs) share:
a definition given as data or JSON text, and values quoted in their errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


def decoded(definition: Mapping[str, Any] | str | bytes) -> tuple[Any, str | None]:
    """The definition as data, and why its text is not JSON (None if it is,
    or if it was given as data)."""
    if not isinstance(definition, str | bytes):
        return definition, None
    try:
        return orjson.loads(definition), None
    except orjson.JSONDecodeError as error:
        return None, f"not valid JSON: {error}"


def shown(value: Any) -> str:
    """A value as an error message quotes it: its JSON, cut at 60 characters."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
