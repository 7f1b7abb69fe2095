"""Status updates as Mesos's master takes them: a terminal `latest_state`
frees a task's resources when the update arrives (the task stays until its
terminal update is acknowledged), and an update resent with the uuid the
master already holds costs a lookup, not a forward."""

from __future__ import annotations

from pyactors import Resources
from pyactors.agent.pool import EmulatedAgents
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import AcknowledgeToAgent, Effect, ForwardUpdates, SendOffers
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.master.state import MasterConfig, MasterState

SLOT = "cpus:1;mem:256"


def launched() -> tuple[MasterState, str]:
    """One agent of one slot, running task `t` of one framework."""
    master = MasterState(MasterConfig(offer_timeout=1e6, agent_timeout=1e6))
    master.register_agent("a", "h", Resources.parse(SLOT), {}, now=0)
    framework_id, _ = master.subscribe("f", ["science"], now=0)
    (offer,) = offered(master, now=1)
    task = TaskInfo("t", "t", Resources.parse(SLOT), command="x")
    master.accept(framework_id, [offer], [Launch([task])], refuse_seconds=0, now=1)
    return master, framework_id


def offered(master: MasterState, now: float) -> list[str]:
    return [o.id for e in master.allocate(now) if isinstance(e, SendOffers) for o in e.offers]


def update(state: TaskState, latest: TaskState | None = None) -> TaskStatus:
    return TaskStatus("t", state, Source.SOURCE_EXECUTOR, 2, agent_id="a", latest_state=latest)


def forwarded(effects: list[Effect]) -> list[TaskStatus]:
    return [s for e in effects if isinstance(e, ForwardUpdates) for s in e.statuses]


def acknowledged(effects: list[Effect]) -> list[tuple[str, str]]:
    return [a for e in effects if isinstance(e, AcknowledgeToAgent) for a in e.acknowledgements]


def test_a_terminal_latest_state_frees_the_resources_when_the_update_arrives() -> None:
    master, framework_id = launched()
    assert offered(master, now=2) == []
    running = update(TaskState.TASK_RUNNING, latest=TaskState.TASK_FINISHED)
    assert forwarded(master.status_updates("a", [running])) == [running]
    # Back before anyone acknowledged anything: the slot is offered again.
    assert len(offered(master, now=3)) == 1
    record = master.tasks["t"]
    assert record.state is TaskState.TASK_FINISHED and record.status == running
    assert not record.holds and master.counters["tasks_finished"] == 1
    # Acknowledging the RUNNING update keeps the task: its end is not yet heard.
    assert running.uuid is not None
    master.acknowledge(framework_id, [("t", running.uuid)])
    assert "t" in master.tasks


def test_the_terminal_update_after_its_latest_state_frees_nothing_twice() -> None:
    master, framework_id = launched()
    master.status_updates("a", [update(TaskState.TASK_RUNNING, latest=TaskState.TASK_FINISHED)])
    assert len(offered(master, now=3)) == 1
    finished = update(TaskState.TASK_FINISHED)
    assert forwarded(master.status_updates("a", [finished])) == [finished]
    assert offered(master, now=4) == []  # the slot is out as one offer, not two
    assert master.counters["tasks_finished"] == 1
    assert finished.uuid is not None
    master.acknowledge(framework_id, [("t", finished.uuid)])
    assert "t" not in master.tasks and "t" in master.completed


def test_a_task_whose_latest_state_is_terminal_is_not_made_unreachable() -> None:
    master, _ = launched()
    master.status_updates("a", [update(TaskState.TASK_RUNNING, latest=TaskState.TASK_FAILED)])
    lost = master.agent_lost("a", now=5)
    assert forwarded(lost) == []
    assert master.tasks["t"].state is TaskState.TASK_FAILED
    assert master.counters["tasks_failed"] == 1 and master.counters["tasks_unreachable"] == 0


def test_reconciliation_answers_with_the_latest_state() -> None:
    master, framework_id = launched()
    master.status_updates("a", [update(TaskState.TASK_RUNNING, latest=TaskState.TASK_KILLED)])
    (answer,) = forwarded(master.reconcile(framework_id, ["t"], now=5))
    assert answer.state is TaskState.TASK_KILLED and answer.uuid is None


def test_a_resent_update_is_dropped_until_acknowledged_then_acknowledged_again() -> None:
    master, framework_id = launched()
    running = update(TaskState.TASK_RUNNING)
    assert running.uuid is not None
    assert forwarded(master.status_updates("a", [running])) == [running]
    for _ in range(3):
        assert master.status_updates("a", [running]) == []
    assert master.counters["status_updates_duplicate"] == 3
    assert master.counters["status_updates"] == 4
    master.acknowledge(framework_id, [("t", running.uuid)])
    # The agent missed the acknowledgement: the master repeats it.
    resent = master.status_updates("a", [running])
    assert forwarded(resent) == [] and acknowledged(resent) == [("t", running.uuid)]
    assert master.counters["status_updates_duplicate"] == 4
    assert master.tasks["t"].status is running


def test_a_resent_update_reaches_a_scheduler_that_failed_over() -> None:
    master, framework_id = launched()
    running = update(TaskState.TASK_RUNNING)
    master.status_updates("a", [running])
    master.disconnect(framework_id, now=3)
    assert master.status_updates("a", [running]) == []
    _, resend = master.subscribe("f", ["science"], now=4, framework_id=framework_id)
    assert resend  # the agents are asked to resend
    assert forwarded(master.status_updates("a", [running])) == [running]
    assert master.status_updates("a", [running]) == []


def test_an_update_recorded_while_disconnected_is_forwarded_on_its_resend() -> None:
    master, framework_id = launched()
    master.disconnect(framework_id, now=2)
    running = update(TaskState.TASK_RUNNING)
    assert master.status_updates("a", [running]) == []
    master.subscribe("f", ["science"], now=4, framework_id=framework_id)
    assert forwarded(master.status_updates("a", [running])) == [running]


def test_a_resent_update_of_a_torn_down_framework_is_acknowledged_again() -> None:
    master, framework_id = launched()
    running = update(TaskState.TASK_RUNNING)
    master.status_updates("a", [running])
    master.teardown(framework_id, now=3)
    assert running.uuid is not None
    assert acknowledged(master.status_updates("a", [running])) == [("t", running.uuid)]


def test_an_emulated_agent_resends_its_update_with_the_end_behind_it() -> None:
    master, framework_id = launched()
    agents = EmulatedAgents(["a"], task_seconds=30.0, seed=1, retry=5.0)
    agents.launch("a", framework_id, "science", [master.tasks["t"].task], [], now=1)
    ((_, [running]),) = agents.poll(now=1)
    assert running.latest_state is None
    master.status_update_batches([("a", [running])])  # forwarded, not yet acknowledged
    agents.kill(["t"], now=2)
    assert agents.poll(now=2) == []  # the KILLED update waits behind RUNNING
    ((_, [resent]),) = agents.poll(now=6)
    assert resent.uuid == running.uuid and resent.latest_state is TaskState.TASK_KILLED
    assert master.status_update_batches([("a", [resent])]) == []  # a resend: nothing forwarded
    assert master.tasks["t"].state is TaskState.TASK_KILLED
    assert len(offered(master, now=7)) == 1  # ...but the slot is back
    assert master.counters["tasks_killed"] == 1
