"""Custom executors' resources and their shutdown, without Ray: the
master's accounting (an executor's resources taken with its first task,
used until it exits, shown in the state), the agent's book's part
(exits reported, executors listed, a removed framework's shut down).

As Mesos: the first task for an executor needs the executor's resources
too (`Total resources ... required by task and its executor is more than
available ...`), later ones only their own; teardown sends
ShutdownFramework to the agents running its executors."""

from __future__ import annotations

from pyactors import Resources
from pyactors.agent import executors as agent_book
from pyactors.agent.executors import ExecutorBook
from pyactors.api import state_json
from pyactors.api.state_json import About
from pyactors.core.operations import ExecutorInfo, Launch, LaunchGroup, TaskInfo
from pyactors.core.protocol import (
    ExecutorReport,
    ExitedExecutor,
    ForwardUpdates,
    LaunchTasks,
    SendOffers,
    ShutdownFramework,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.master.state import MasterConfig, MasterState

AGENT = "agent-0"
TOTAL = "cpus:4;mem:1024"
EXECUTOR = ExecutorInfo("ex", "run-executor", "cpus:1;mem:256")


def task(task_id: str, resources: str = "cpus:1;mem:128") -> TaskInfo:
    return TaskInfo(task_id, task_id, Resources.parse(resources), executor=EXECUTOR)


def offered(master: MasterState, now: float) -> Resources:
    """Everything the agent offers now: outstanding offers are declined
    (without a filter) and a cycle run."""
    for offer in list(master.offers):
        master.decline(offer.framework_id, [offer.id], 0, now)
    total = Resources()
    for effect in master.allocate(now):
        if isinstance(effect, SendOffers):
            for offer in effect.offers:
                total = total + offer.resources
    return total


def one_offer(master: MasterState, now: float) -> str:
    offered(master, now)
    (offer,) = list(master.offers)
    return offer.id


def started() -> tuple[MasterState, str]:
    master = MasterState(MasterConfig())
    master.register_agent(AGENT, "host", Resources.parse(TOTAL), {}, now=0)
    fw, _ = master.subscribe("fw", ["*"], now=0)
    return master, fw


def finish(master: MasterState, task_id: str, now: float) -> None:
    status = TaskStatus(
        task_id, TaskState.TASK_FINISHED, Source.SOURCE_EXECUTOR, now, AGENT, uuid="a" * 32
    )
    master.status_updates(AGENT, [status])


def errors(effects: list[object]) -> list[TaskStatus]:
    return [s for e in effects if isinstance(e, ForwardUpdates) for s in e.statuses]


def test_an_offer_too_small_for_the_task_and_its_executor_is_refused() -> None:
    master = MasterState(MasterConfig())
    # Room for the task alone, not with its executor.
    master.register_agent(AGENT, "host", Resources.parse("cpus:1.5;mem:512"), {}, now=0)
    fw, _ = master.subscribe("fw", ["*"], now=0)
    effects = master.accept(fw, [one_offer(master, 1)], [Launch([task("t1")])], 0, now=1)
    assert not [e for e in effects if isinstance(e, LaunchTasks)]
    (error,) = errors(effects)
    assert error.state is TaskState.TASK_ERROR
    assert error.reason is Reason.REASON_TASK_INVALID
    assert error.message == (
        "Total resources cpus:2;mem:384 required by task and its executor is more than "
        "available cpus:1.5;mem:512"
    )
    # Nothing was taken: the whole agent is offered again.
    assert offered(master, 2) == Resources.parse("cpus:1.5;mem:512")
    assert master.offering.executors.running(fw) == set()


def test_a_group_too_small_with_its_executor_is_refused_whole() -> None:
    master = MasterState(MasterConfig())
    master.register_agent(AGENT, "host", Resources.parse("cpus:2;mem:1024"), {}, now=0)
    fw, _ = master.subscribe("fw", ["*"], now=0)
    group = LaunchGroup([task("g1", "cpus:0.5;mem:64"), task("g2", "cpus:0.75;mem:64")])
    effects = master.accept(fw, [one_offer(master, 1)], [group], 0, now=1)
    assert not [e for e in effects if isinstance(e, LaunchTasks)]
    messages = {s.task_id: s.message for s in errors(effects)}
    assert messages["g2"] == (
        "Total resources cpus:2.25;mem:384 required by task group and its executor are "
        "more than available cpus:2;mem:1024"
    )
    assert messages["g1"] == "its group has invalid tasks: g2"


def test_the_executor_is_used_until_it_exits_and_later_tasks_need_only_their_own() -> None:
    master, fw = started()
    effects = master.accept(fw, [one_offer(master, 1)], [Launch([task("t1")])], 0, now=1)
    assert [type(e) for e in effects] == [LaunchTasks]
    # The task's and the executor's resources are both out of the offers.
    assert offered(master, 2) == Resources.parse("cpus:2;mem:640")
    finish(master, "t1", 3)
    # The task's came back; the executor's stay used while it runs.
    assert offered(master, 4) == Resources.parse("cpus:3;mem:768")
    # A second task on the running executor fits in its own resources: an
    # offer of exactly them is enough.
    offer_id = one_offer(master, 5)
    effects = master.accept(fw, [offer_id], [Launch([task("t2", "cpus:3;mem:768")])], 0, now=5)
    assert [type(e) for e in effects] == [LaunchTasks]
    finish(master, "t2", 6)
    assert offered(master, 7) == Resources.parse("cpus:3;mem:768")
    # The agent says the executor exited: its resources are offered again.
    master.executor_exited(ExitedExecutor(AGENT, fw, "ex", "exited with status 0"))
    assert offered(master, 8) == Resources.parse(TOTAL)
    # Its next task launches it again, with its resources.
    master.accept(fw, [one_offer(master, 9)], [Launch([task("t3")])], 0, now=9)
    assert offered(master, 10) == Resources.parse("cpus:2;mem:640")


def test_the_state_shows_executors_and_counts_them_used() -> None:
    master, fw = started()
    master.accept(fw, [one_offer(master, 1)], [Launch([task("t1")])], 0, now=1)
    finish(master, "t1", 2)
    about = About(id="m1", version="0.1.0", start_time=0.0, clock_offset=0.0, now=2.0)
    (framework,) = state_json.frameworks(master, about)["frameworks"]
    (executor,) = framework["executors"]
    assert executor["executor_id"] == "ex"
    assert executor["framework_id"] == fw
    assert executor["slave_id"] == AGENT
    assert executor["role"] == "*"
    assert executor["resources"]["cpus"] == 1 and executor["resources"]["mem"] == 256
    assert executor["command"]["value"] == "run-executor"
    # The idle executor's resources are what the framework and agent use.
    assert framework["used_resources"]["cpus"] == 1
    (agent,) = state_json.slaves(master, about)["slaves"]
    assert agent["used_resources"]["mem"] == 256


def test_teardown_shuts_down_the_frameworks_executors_idle_ones_too() -> None:
    master, fw = started()
    master.accept(fw, [one_offer(master, 1)], [Launch([task("t1")])], 0, now=1)
    finish(master, "t1", 2)
    effects = master.teardown(fw, now=3)
    assert ShutdownFramework(AGENT, fw) in effects
    assert list(master.offering.executors) == []
    master.subscribe("other", ["*"], now=3)
    assert offered(master, 4) == Resources.parse(TOTAL)


def test_a_framework_past_its_failover_timeout_has_its_executors_shut_down() -> None:
    master = MasterState(MasterConfig())
    master.register_agent(AGENT, "host", Resources.parse(TOTAL), {}, now=0)
    fw, _ = master.subscribe("fw", ["*"], now=0, failover_timeout=5)
    master.accept(fw, [one_offer(master, 1)], [Launch([task("t1")])], 0, now=1)
    master.disconnect(fw, now=2)
    assert ShutdownFramework(AGENT, fw) not in master.expire(now=6.9)
    assert ShutdownFramework(AGENT, fw) in master.expire(now=7)


def test_a_registration_lists_the_executors_a_new_leader_counts_and_drops_the_rest() -> None:
    master, fw = started()
    master.accept(fw, [one_offer(master, 1)], [Launch([task("t1")])], 0, now=1)
    finish(master, "t1", 2)
    # A new leader: the agent's registration lists its executor, which it
    # counts as used (and shuts down one of a framework it does not know).
    leader = MasterState(MasterConfig(), registry=master.registry)
    leader.recover(now=10)
    reports = [ExecutorReport(fw, "*", EXECUTOR), ExecutorReport("gone", "*", EXECUTOR)]
    effects = leader.register_agent(
        AGENT, "host", Resources.parse(TOTAL), {}, now=10, executors=reports
    )
    assert ShutdownFramework(AGENT, "gone") in effects
    leader.subscribe("fw", ["*"], now=10, framework_id=fw)
    assert offered(leader, 11) == Resources.parse("cpus:3;mem:768")
    # The agent restarts without it (it exited meanwhile): its resources
    # go back, though no ExitedExecutor came.
    leader.register_agent(AGENT, "host", Resources.parse(TOTAL), {}, now=12, recovered=True)
    assert offered(leader, 13) == Resources.parse(TOTAL)


# ------------------------------------------------------------------ the agent


def agent_task(task_id: str) -> TaskInfo:
    return TaskInfo(task_id, task_id, "cpus:0.1", executor=EXECUTOR)


def test_the_agent_reports_its_executors_and_their_exits() -> None:
    book = ExecutorBook(AGENT)
    assert book.launch("fw", agent_task("t1"), 0.0, role="web")
    assert book.report() == [ExecutorReport("fw", "web", EXECUTOR)]
    book.exited(("fw", "ex"), 1.0, "exited with status 0")
    assert book.take_exits() == [ExitedExecutor(AGENT, "fw", "ex", "exited with status 0")]
    assert book.take_exits() == []
    assert book.report() == []


def test_shutdown_framework_reaches_idle_executors_and_kills_after_the_grace() -> None:
    book = ExecutorBook(AGENT, shutdown_grace=5.0)
    book.launch("fw", agent_task("t1"), 0.0)
    book.subscribe(("fw", "ex"), [], [], 1.0)
    book.update(
        ("fw", "ex"),
        TaskStatus("t1", TaskState.TASK_FINISHED, Source.SOURCE_EXECUTOR, 2.0, uuid="b" * 32),
        2.0,
    )
    # Idle (its task finished, not killed): only the framework's removal ends it.
    book.take_events()
    book.launch("other", agent_task("o1"), 2.0)
    book.shut_down_framework("fw", 3.0)
    assert book.take_events() == [(("fw", "ex"), agent_book.Shutdown())]
    assert book.due(7.9) == []
    assert book.due(8.0) == [("fw", "ex")]
    # One that never subscribed is killed at once; other frameworks' stay.
    book.shut_down_framework("other", 9.0)
    assert book.due(9.0) == [("other", "ex")]
