"""Starting Ray on a loaded machine: Ray's fixed 30 s wait for a new node
giving up is slowness, so the start is tried again (after cleaning up what
the failed one left) until the start budget is spent; any other failure is
raised as it is. Ray's own start is replaced here: its timeout cannot be
provoked on demand."""

from __future__ import annotations

from typing import Any

import pytest

from pyactors.errors import RayStartError
from pyactors.runtime import ray_calls

TIMED_OUT = Exception(
    "The current node timed out during startup. This could happen because some of "
    "the raylet failed to startup or the GCS has become overloaded."
)


class FakeRay:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls: list[str] = []

    def init(self, **options: Any) -> None:
        self.calls.append("init")
        if self.failures:
            raise self.failures.pop(0)

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    def is_initialized(self) -> bool:
        return False


def test_a_node_that_timed_out_is_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRay([TIMED_OUT, TIMED_OUT])
    monkeypatch.setattr(ray_calls, "ray", fake)
    ray_calls.ensure_started(address="local")
    assert fake.calls == ["init", "shutdown", "init", "shutdown", "init"]


def test_other_failures_are_raised_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRay([ValueError("bad address")])
    monkeypatch.setattr(ray_calls, "ray", fake)
    with pytest.raises(ValueError, match="bad address"):
        ray_calls.ensure_started(address="local")
    assert fake.calls == ["init"]


def test_past_the_budget_it_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRay([TIMED_OUT] * 3)
    monkeypatch.setattr(ray_calls, "ray", fake)
    monkeypatch.setattr(ray_calls, "START_BUDGET", 0.0)
    with pytest.raises(RayStartError, match="Ray did not start within 0 s"):
        ray_calls.ensure_started(address="local")
    assert fake.calls == ["init", "shutdown"]
