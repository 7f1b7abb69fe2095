"""Polling for a condition in tests that drive real actors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """The first truthy value of `predicate`, polled every 0.1 s; an
    AssertionError naming `what` if none comes within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout} s: {what or predicate}")
