"""What keeps the master's memory per agent small: equal values many agents
hold are held once, and an agent's one task costs no dict of its own."""

from __future__ import annotations

import pytest

from pyactors import Resources
from pyactors.master.grouping import Grouped
from pyactors.master.records import Shared
from pyactors.master.state import MasterConfig, MasterState

SLOT = "cpus:1;mem:256"


def test_shared_gives_one_object_per_value_up_to_its_limit() -> None:
    shared = Shared(limit=2)
    first = shared.resources(Resources.parse(SLOT))
    assert shared.resources(Resources.parse(SLOT)) is first
    attributes = shared.attributes({"rack": "r1"})
    assert shared.attributes({"rack": "r1"}) is attributes
    assert shared.attributes({"rack": "r2"}) == {"rack": "r2"}
    # Past the limit, values are kept as given: nothing grows per agent.
    third = {"rack": "r3"}
    assert shared.attributes(third) is third
    assert shared.attributes({"rack": "r3"}) is not third


def test_agents_registering_alike_share_their_total_and_attributes() -> None:
    master = MasterState(MasterConfig())
    for i in range(3):
        master.register_agent(f"a{i}", f"h{i}", Resources.parse(SLOT), {"rack": "r1"}, now=0.0)
    records = list(master.agents.values())
    assert all(r.total is records[0].total for r in records)
    assert all(r.attributes is records[0].attributes for r in records)
    admitted = master.agent_store.admitted
    assert all(e.resources is admitted["a0"].resources for e in admitted.values())


@pytest.mark.parametrize("order", [["t1", "t2", "t3"], ["t3", "t1", "t2"]])
def test_grouped_holds_one_entry_without_a_dict_and_more_in_one(order: list[str]) -> None:
    grouped: Grouped[int] = Grouped()
    grouped.add("agent", "t1", 1)
    assert dict(grouped.of("agent")) == {"t1": 1}
    grouped.add("agent", "t1", 10)  # the same id again replaces it
    assert dict(grouped.of("agent")) == {"t1": 10}
    grouped.add("agent", "t2", 2)
    grouped.add("agent", "t3", 3)
    assert dict(grouped.of("agent")) == {"t1": 10, "t2": 2, "t3": 3}
    left = {"t1": 10, "t2": 2, "t3": 3}
    for key in order:
        grouped.drop("agent", key)
        del left[key]
        assert dict(grouped.of("agent")) == left
    assert dict(grouped.of("agent")) == {}
    with pytest.raises(KeyError):
        grouped.drop("agent", "t1")
    grouped.add("agent", "t1", 1)
    with pytest.raises(KeyError):
        grouped.drop("agent", "t2")
    assert dict(grouped.of("agent")) == {"t1": 1}
