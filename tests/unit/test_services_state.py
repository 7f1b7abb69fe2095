"""The service framework's decisions, driven without Ray: launches from
offers, self-healing with backoff, kill selection, rolling deployments
within their capacity bounds, constraints, resident apps, persistence."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from support import services
from support.services import Offers

from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Create, Destroy, Reserve, Unreserve
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.errors import AppDefinitionError, DuplicateError, UnknownAppError
from pyactors.frameworks.services.state import DECLINE_SECONDS, ServiceState

offer = Offers("cpus:4;mem:4096;ports:[31000-31100]")
app = functools.partial(services.app, instances=3)


def report(
    state: ServiceState,
    task_id: str,
    task_state: TaskState,
    now: float,
    healthy: bool | None = None,
) -> None:
    state.status(
        TaskStatus(task_id, task_state, Source.SOURCE_AGENT, now, agent_id="a1", healthy=healthy),
        now,
    )


def launch_all(state: ServiceState, now: float, *offers: OfferInfo) -> list[str]:
    answers = state.offers(list(offers) or [offer()], now)
    return [plan.task_id for answer in answers for plan in answer.launches]


def run(state: ServiceState, task_ids: list[str], now: float, healthy: bool | None = None) -> None:
    for task_id in task_ids:
        report(state, task_id, TaskState.TASK_RUNNING, now, healthy)


def test_deploy_launches_the_instances_with_ports_and_environment() -> None:
    state = ServiceState()
    state.deploy(app(), 0.0)
    assert state.wants_offers(0.0)
    (answer,) = state.offers([offer()], 0.0)
    assert len(answer.launches) == 3 and not answer.operations
    plan = answer.launches[0]
    assert plan.env["PORT0"] == str(plan.ports[0]) and plan.env["MARATHON_APP_ID"] == "/web"
    assert len({p.ports for p in answer.launches}) == 3
    assert not state.wants_offers(0.0)
    assert state.app_status("/web")["tasksStaged"] == 3
    assert state.service_port("/web") == 10000


def test_offers_that_do_not_fit_are_declined_with_a_long_filter() -> None:
    state = ServiceState()
    state.deploy(app(cpus=8), 0.0)
    (answer,) = state.offers([offer()], 0.0)
    assert not answer.launches and answer.refuse_seconds == DECLINE_SECONDS


def test_bad_definitions_and_unknown_apps_change_nothing() -> None:
    state = ServiceState()
    with pytest.raises(AppDefinitionError, match="instances"):
        state.deploy(app(instances="x"), 0.0)
    state.deploy(app(), 0.0)
    with pytest.raises(DuplicateError):
        state.deploy(app(), 0.0)
    with pytest.raises(UnknownAppError, match="no app /other"):
        state.scale("/other", 2, 0.0)
    assert [a["id"] for a in state.apps_status()] == ["/web"]


def test_a_failed_instance_is_replaced_after_a_growing_backoff() -> None:
    state = ServiceState()
    state.deploy(app(instances=1, backoffSeconds=2, backoffFactor=2), 0.0)
    (first,) = launch_all(state, 0.0)
    report(state, first, TaskState.TASK_FAILED, 1.0)
    assert state.take_demand_grew()
    assert not state.wants_offers(2.0)  # backoff: 2 s from 1.0
    (answer,) = state.offers([offer()], 2.0)
    assert not answer.launches and answer.refuse_seconds == pytest.approx(1.0)
    (second,) = launch_all(state, 3.0)
    report(state, second, TaskState.TASK_RUNNING, 3.5)
    report(state, second, TaskState.TASK_FAILED, 4.0)
    assert not launch_all(state, 7.9)  # 4 s now
    assert len(launch_all(state, 8.0)) == 1
    status = state.app_status("/web")
    assert status["lastTaskFailure"]["taskId"] == second
    assert status["backoff"]["failures"] == 2


def test_backoff_resets_once_an_instance_is_healthy_or_ran_long_enough() -> None:
    state = ServiceState(backoff_reset_seconds=10)
    state.deploy(app(instances=1, backoffSeconds=5, backoffFactor=2), 0.0)
    (first,) = launch_all(state, 0.0)
    report(state, first, TaskState.TASK_FAILED, 0.0)
    (second,) = launch_all(state, 5.0)
    report(state, second, TaskState.TASK_RUNNING, 5.0)
    report(state, second, TaskState.TASK_FAILED, 30.0)  # ran 25 s
    assert state.app_status("/web")["backoff"]["failures"] == 1
    assert launch_all(state, 35.0)


def test_kills_from_the_framework_are_not_failures() -> None:
    state = ServiceState()
    state.deploy(app(instances=2), 0.0)
    tasks = launch_all(state, 0.0)
    run(state, tasks, 1.0)
    state.scale("/web", 1, 2.0)
    (killed,) = state.take_kills()
    report(state, killed, TaskState.TASK_KILLED, 3.0)
    status = state.app_status("/web")
    assert status["lastTaskFailure"] is None and status["deployments"] == []
    assert not state.wants_offers(3.0)


@pytest.mark.parametrize(("selection", "victim"), [("YOUNGEST_FIRST", -1), ("OLDEST_FIRST", 0)])
def test_scale_down_kills_by_kill_selection(selection: str, victim: int) -> None:
    state = ServiceState()
    state.deploy(app(instances=1, killSelection=selection), 0.0)
    tasks = []
    for count, now in ((1, 0.0), (2, 10.0), (3, 20.0)):
        state.scale("/web", count, now)
        tasks += launch_all(state, now)
    run(state, tasks, 30.0)
    state.scale("/web", 2, 40.0)
    assert state.take_kills() == [tasks[victim]]


def test_scale_down_kills_instances_not_yet_healthy_first() -> None:
    state = ServiceState()
    state.deploy(app(instances=3), 0.0)
    tasks = launch_all(state, 0.0)
    run(state, tasks[:2], 1.0)
    state.scale("/web", 2, 2.0)
    assert state.take_kills() == [tasks[2]]


def health_app(**fields: Any) -> dict[str, Any]:
    check = {"protocol": "HTTP", "path": "/", "intervalSeconds": 1}
    return app(healthChecks=[check]) | fields


def healthy_counts(state: ServiceState) -> int:
    return int(state.app_status("/web")["tasksHealthy"])


def rolling(state: ServiceState, minimum: int, maximum: int, start: float) -> None:
    """Drive a rolling restart to its end, launching and making healthy what
    it asks for step by step; assert the bounds at every step."""
    now = start
    for _ in range(50):
        now += 1
        for task_id in state.take_kills():
            report(state, task_id, TaskState.TASK_KILLED, now)
        assert healthy_counts(state) >= minimum
        live = len(state.app_status("/web")["tasks"])
        assert live <= maximum
        launched = launch_all(state, now)
        assert len(state.app_status("/web")["tasks"]) <= maximum
        run(state, launched, now, healthy=True)
        if not state.app_status("/web")["deployments"]:
            return
    raise AssertionError("the restart did not finish")


@pytest.mark.parametrize(
    ("min_health", "max_over", "minimum", "maximum"),
    [(1.0, 1.0, 4, 8), (0.5, 0.0, 2, 4), (1.0, 0.0, 3, 4), (0.75, 0.25, 3, 5), (0.0, 0.0, 0, 4)],
)
def test_rolling_restart_stays_within_the_upgrade_strategy(
    min_health: float, max_over: float, minimum: int, maximum: int
) -> None:
    state = ServiceState()
    strategy = {"minimumHealthCapacity": min_health, "maximumOverCapacity": max_over}
    state.deploy(health_app(instances=4, upgradeStrategy=strategy), 0.0)
    first = launch_all(state, 0.0)
    run(state, first, 1.0, healthy=True)
    assert not state.app_status("/web")["deployments"]
    state.restart("/web", 2.0)
    assert state.app_status("/web")["deployments"][0]["kind"] == "restart"
    rolling(state, minimum, maximum, 2.0)
    status = state.app_status("/web")
    assert {t["version"] for t in status["tasks"]} == {status["version"]}
    assert not {t["id"] for t in status["tasks"]} & set(first)
    assert healthy_counts(state) == 4


def test_update_changes_the_command_and_keeps_the_service_port() -> None:
    state = ServiceState()
    state.deploy(app(instances=1), 0.0)
    run(state, launch_all(state, 0.0), 0.0)
    state.update(app(instances=1, cmd="serve --new"), 1.0)
    (answer,) = state.offers([offer()], 1.0)
    assert answer.launches[0].app.cmd == "serve --new"
    assert state.service_port("/web") == 10000


def test_unhealthy_reports_take_an_instance_out_of_the_load_balancer() -> None:
    state = ServiceState()
    state.deploy(health_app(instances=2), 0.0)
    tasks = launch_all(state, 0.0)
    run(state, tasks, 1.0, healthy=True)
    (frontend,) = state.frontends()
    assert frontend.mode == "http" and len(frontend.backends) == 2
    report(state, tasks[0], TaskState.TASK_RUNNING, 2.0, healthy=False)
    (frontend,) = state.frontends()
    assert len(frontend.backends) == 1
    assert state.app_status("/web")["tasksUnhealthy"] == 1


def test_unreachable_instances_are_replaced_after_inactive_after_seconds() -> None:
    state = ServiceState()
    strategy = {"inactiveAfterSeconds": 5, "expungeAfterSeconds": 8}
    state.deploy(app(instances=1, unreachableStrategy=strategy), 0.0)
    (task,) = launch_all(state, 0.0)
    run(state, [task], 0.0)
    report(state, task, TaskState.TASK_UNREACHABLE, 1.0)
    state.tick(5.0)
    assert not state.wants_offers(5.0)
    state.tick(6.0)
    assert state.take_kills() == [task]
    assert state.wants_offers(6.0)
    (replacement,) = launch_all(state, 6.0)
    state.tick(9.0)
    assert state.live_tasks().keys() == {replacement}
    report(state, task, TaskState.TASK_RUNNING, 10.0)  # back after being forgotten
    assert state.take_kills() == [task]


@pytest.mark.parametrize(
    ("constraint", "placements"),
    [
        (["hostname", "UNIQUE"], {"a1": 1, "a2": 1, "a3": 1}),
        (["rack", "MAX_PER", "2"], {"a1": 2, "a3": 1}),
        (["rack", "CLUSTER", "r2"], {"a3": 3}),
    ],
)
def test_constraints_on_hostnames_and_attributes(
    constraint: list[str], placements: dict[str, int]
) -> None:
    state = ServiceState()
    state.deploy(app(constraints=[constraint]), 0.0)
    answers = state.offers(
        [offer("a1", rack="r1"), offer("a2", rack="r1"), offer("a3", rack="r2")], 0.0
    )
    counts = {a.launches[0].agent_id: len(a.launches) for a in answers if a.launches}
    assert counts == placements


def resident_app() -> dict[str, Any]:
    return app(
        instances=1,
        container={"volumes": [{"containerPath": "data", "persistent": {"size": 16}}]},
    )


def test_a_resident_app_reserves_creates_launches_and_comes_back_to_its_volume() -> None:
    state = ServiceState()
    state.deploy(resident_app(), 0.0)
    (answer,) = state.offers([offer("a1", "cpus:4;mem:4096;disk:100;ports:[31000-31100]")], 0.0)
    reserve, create = answer.operations
    assert isinstance(reserve, Reserve) and isinstance(create, Create)
    (plan,) = answer.launches
    ((path, persistence_id),) = plan.volumes
    assert path == "data" and f"[{persistence_id}]" in str(plan.resources)
    report(state, plan.task_id, TaskState.TASK_FAILED, 1.0)
    held = "cpus(services):0.5;mem(services):64;disk(services)[{}]:16;ports:[31000-31100]"
    elsewhere = offer("a2", "cpus:4;mem:4096;disk:100;ports:[31000-31100]")
    back = offer("a1", held.format(persistence_id))
    answers = state.offers([elsewhere, back], 10.0)
    assert not answers[0].launches and not answers[0].operations
    (again,) = answers[1].launches
    assert again.volumes == plan.volumes and not answers[1].operations
    state.remove("/web", 11.0)
    (killed,) = state.take_kills()
    report(state, killed, TaskState.TASK_KILLED, 12.0)
    (release,) = state.offers([offer("a1", held.format(persistence_id))], 13.0)
    destroy, unreserve = release.operations
    assert isinstance(destroy, Destroy) and isinstance(unreserve, Unreserve)
    assert state.apps == {}


def test_state_round_trips_and_a_restored_framework_adopts_its_tasks() -> None:
    state = ServiceState()
    state.deploy(health_app(instances=2), 0.0)
    tasks = launch_all(state, 0.0)
    run(state, tasks, 1.0, healthy=True)
    restored = ServiceState(seed=1)
    restored.restore(state.to_json())
    assert restored.live_tasks().keys() == set(tasks)
    assert not restored.wants_offers(2.0) and not launch_all(restored, 2.0)
    report(restored, tasks[0], TaskState.TASK_LOST, 3.0)
    assert len(launch_all(restored, 4.0)) == 1
    assert restored.to_json()["serial"] == state.to_json()["serial"]
    # Task ids go on from where the saved framework left them (as the
    # framework that saved would have gone on), never starting over.
    again = ServiceState()
    again.restore(state.to_json())
    for each in (state, again):
        report(each, tasks[1], TaskState.TASK_LOST, 3.0)
    (fresh,) = launch_all(again, 4.0)
    assert launch_all(state, 4.0) == [fresh] and fresh not in tasks


def test_unknown_live_tasks_are_killed_and_removing_forgets_the_app() -> None:
    state = ServiceState()
    state.deploy(app(instances=1), 0.0)
    (task,) = launch_all(state, 0.0)
    report(state, "stray.1", TaskState.TASK_RUNNING, 1.0)
    assert state.take_kills() == ["stray.1"]
    state.remove("/web", 2.0)
    assert state.take_kills() == [task]
    with pytest.raises(UnknownAppError):
        state.app_status("/web")
    report(state, task, TaskState.TASK_KILLED, 3.0)
    assert state.apps == {}


def test_a_resident_instance_counts_once_for_constraints() -> None:
    state = ServiceState()
    state.deploy(
        resident_app() | {"instances": 2, "constraints": [["hostname", "MAX_PER", "2"]]}, 0.0
    )
    (answer,) = state.offers([offer("a1", "cpus:4;mem:4096;disk:100;ports:[31000-31100]")], 0.0)
    assert len(answer.launches) == 2 and len(answer.operations) == 4
    assert len({plan.volumes for plan in answer.launches}) == 2


def test_a_framework_registered_anew_relaunches_every_instance() -> None:
    state = ServiceState()
    state.deploy(app(instances=2), 0.0)
    run(state, launch_all(state, 0.0), 1.0)
    state.forget_tasks(2.0)
    assert state.live_tasks() == {} and state.wants_offers(2.0)
    assert len(launch_all(state, 2.0)) == 2
