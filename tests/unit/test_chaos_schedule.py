"""The chaos harness's fault schedule: a pure function of the seed."""

from __future__ import annotations

import pytest

from pyactors.errors import InvalidArgumentError
from pyactors.tools.chaos.schedule import KINDS, LEADER_KILL, TASK_KILL, plan


def test_the_same_seed_gives_the_same_faults_and_another_seed_others() -> None:
    assert plan(7, 30) == plan(7, 30)
    assert plan(7, 30) != plan(8, 30)
    # A longer plan begins as the shorter one: a run's first faults do not
    # depend on how long it lasts.
    assert plan(7, 40)[:30] == plan(7, 30)


def test_every_kind_comes_once_in_each_bag_and_gaps_stay_in_bounds() -> None:
    faults = plan(3, len(KINDS) * 5, min_gap=2.0, max_gap=4.0)
    for bag in range(5):
        kinds = [f.kind for f in faults[bag * len(KINDS) : (bag + 1) * len(KINDS)]]
        assert sorted(kinds) == sorted(KINDS)
    assert all(2.0 <= f.gap <= 4.0 for f in faults)
    assert [f.index for f in faults] == list(range(len(faults)))


def test_a_subset_of_kinds_is_all_that_is_drawn() -> None:
    assert {f.kind for f in plan(1, 10, kinds=(LEADER_KILL, TASK_KILL))} == {
        LEADER_KILL,
        TASK_KILL,
    }


@pytest.mark.parametrize(
    ("kinds", "count", "gaps"),
    [
        (("reboot",), 3, (1.0, 2.0)),
        ((), 3, (1.0, 2.0)),
        (KINDS, -1, (1.0, 2.0)),
        (KINDS, 3, (2.0, 1.0)),
    ],
)
def test_bad_arguments_are_refused(
    kinds: tuple[str, ...], count: int, gaps: tuple[float, float]
) -> None:
    with pytest.raises(InvalidArgumentError):
        plan(1, count, kinds=kinds, min_gap=gaps[0], max_gap=gaps[1])
