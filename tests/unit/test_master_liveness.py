"""The master finds silent and unrecovered agents without visiting the
others: the work of `expire` does not grow with idle agents (counted, not
timed), and what it decides is what a scan of every agent would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyactors import Resources
from pyactors.core.protocol import AgentLost
from pyactors.master.liveness import Liveness
from pyactors.master.state import MasterConfig, MasterState

SLOT = Resources.parse("cpus:1;mem:64")
CONFIG = MasterConfig(agent_timeout=10.0, agent_recovery_timeout=60.0)


def master_with(agents: int) -> MasterState:
    master = MasterState(CONFIG)
    for index in range(agents):
        master.register_agent(f"agent-{index}", f"host-{index}", SLOT, {}, now=0.0)
    master.subscribe("fw", ["*"], now=0.0)
    return master


def unreachable(master: MasterState) -> set[str]:
    return {a for a, record in master.agents.items() if not record.reachable}


def test_the_work_of_expire_does_not_grow_with_idle_agents() -> None:
    visited = []
    for count in (10, 1_000, 20_000):
        master = master_with(count)
        # Every agent but one keeps heartbeating; the one falls silent.
        for now in (5.0, 9.0, 13.0):
            for index in range(1, count):
                master.heartbeat(f"agent-{index}", now)
            master.expire(now)
        assert unreachable(master) == {"agent-0"}
        master.expire(14.0)
        visited.append(master.liveness.visited)
    # Nothing due: one agent looked at, however many there are.
    assert visited == [1, 1, 1]


def test_a_silent_agent_is_lost_and_a_disconnected_one_gets_its_recovery_timeout() -> None:
    master = master_with(3)
    master.agent_disconnected("agent-1", now=1.0)
    effects = []
    for now in (5.0, 10.0, 15.0, 20.0):
        master.heartbeat("agent-2", now)
        effects += master.expire(now)
    assert unreachable(master) == {"agent-0"}
    assert any(isinstance(e, AgentLost) and e.agent_id == "agent-0" for e in effects)
    assert master.agents["agent-1"].disconnected_at == 1.0
    master.heartbeat("agent-2", 60.0)
    master.expire(60.5)
    assert unreachable(master) == {"agent-0"}
    master.heartbeat("agent-2", 61.0)
    master.expire(61.0)
    assert unreachable(master) == {"agent-0", "agent-1"}
    assert master.agents["agent-1"].disconnected_at is None


def test_an_agent_back_is_watched_again() -> None:
    master = master_with(2)
    master.heartbeat("agent-1", 20.0)
    master.expire(20.0)
    assert unreachable(master) == {"agent-0"}
    master.register_agent("agent-0", "host-0", SLOT, {}, now=21.0)
    master.expire(30.5)
    assert unreachable(master) == {"agent-1"}
    master.expire(31.5)
    assert unreachable(master) == {"agent-0", "agent-1"}


events = st.lists(
    st.tuples(
        st.sampled_from(["heard", "disconnected", "forget", "due"]),
        st.integers(0, 5),
        st.floats(0.0, 30.0),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(events)
def test_due_is_what_a_scan_of_every_agent_finds(steps: list[tuple[str, int, float]]) -> None:
    liveness = Liveness()
    heard: dict[str, float] = {}
    disconnected: dict[str, float] = {}
    now = 0.0
    for kind, index, advance in steps:
        now += advance
        agent_id = f"agent-{index}"
        if kind == "heard":
            liveness.heard(agent_id, now)
            disconnected.pop(agent_id, None)
            heard[agent_id] = now
        elif kind == "disconnected":
            liveness.disconnected(agent_id, now)
            heard.pop(agent_id, None)
            disconnected.setdefault(agent_id, now)
        elif kind == "forget":
            liveness.forget(agent_id)
            heard.pop(agent_id, None)
            disconnected.pop(agent_id, None)
        else:
            due = liveness.due(now, agent_timeout=10.0, recovery_timeout=20.0)
            assert set(due.silent) == {a for a, t in heard.items() if now - t > 10.0}
            assert set(due.not_recovered) == {a for a, t in disconnected.items() if now - t >= 20.0}
