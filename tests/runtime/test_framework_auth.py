"""Frameworks on a cluster with credentials and ACLs: refused for bad
credentials and for a role the ACLs deny (typed errors, no actor left), an
accepted one recorded with its principal, and a task the ACLs deny as its
user answered TASK_ERROR naming the ACL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import ray._private.state
from support.runtime import Launcher, small_cluster, wait_for

import pyactors
from pyactors import AuthenticationError, AuthorizationError, Resources, TaskInfo
from pyactors.runtime.cluster import Cluster

CREDENTIALS = {"web": "web-secret", "ops": "ops-secret"}
ACLS: dict[str, Any] = {
    "permissive": False,
    "register_frameworks": [
        {"principals": {"values": ["web"]}, "roles": {"values": ["web"]}},
        {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
    ],
    "run_tasks": [{"principals": {"values": ["web"]}, "users": {"values": ["nobody"]}}],
}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory, credentials=CREDENTIALS, acls=ACLS)


class UserLauncher(Launcher):
    """A Launcher whose tasks run as the user `users` names (else none)."""

    def __init__(self, tasks: list[tuple[str, str, str]], users: dict[str, str]) -> None:
        super().__init__(tasks)
        self.users = users

    def task_info(self, task_id: str, command: str, resources: str) -> TaskInfo:
        return TaskInfo(
            task_id,
            task_id,
            Resources.parse(resources),
            command=command,
            user=self.users.get(task_id),
        )


def live_framework_actors() -> int:
    return sum(
        1
        for actor in ray._private.state.actors().values()
        if actor["ActorClassName"] == "FrameworkActor" and actor["State"] != "DEAD"
    )


@pytest.mark.parametrize(
    ("principal", "secret", "says"),
    [
        (None, None, "gave no principal"),
        ("web", "ops-secret", "principal 'web' and its secret do not match"),
        ("stranger", "web-secret", "principal 'stranger' and its secret do not match"),
    ],
)
def test_bad_credentials_are_refused_and_leave_no_actor(
    secured: Cluster, principal: str | None, secret: str | None, says: str
) -> None:
    before = live_framework_actors()
    with pytest.raises(AuthenticationError, match=says) as raised:
        secured.run_framework(
            Launcher, [], name="web", roles=["web"], principal=principal, secret=secret
        )
    # The typed error itself, not Ray's wrapping of it.
    assert type(raised.value) is AuthenticationError
    assert "web-secret" not in str(raised.value)
    assert "ops-secret" not in str(raised.value)
    wait_for(lambda: live_framework_actors() == before, what="the refused actor to stop")
    assert secured.state()["frameworks"] == []


def test_a_role_the_acls_deny_is_refused_naming_the_acl(secured: Cluster) -> None:
    before = live_framework_actors()
    with pytest.raises(AuthorizationError) as raised:
        secured.run_framework(
            Launcher, [], name="web", roles=["ops"], principal="web", secret="web-secret"
        )
    assert type(raised.value) is AuthorizationError
    assert isinstance(raised.value, pyactors.PyactorsError)
    assert raised.value.action == "register_frameworks"
    assert str(raised.value) == (
        "principal 'web' may not register_frameworks with role 'ops' (ACL register_frameworks)"
    )
    wait_for(lambda: live_framework_actors() == before, what="the refused actor to stop")
    assert secured.state()["frameworks"] == []


def test_a_framework_is_recorded_with_its_principal_and_denied_tasks_get_task_error(
    secured: Cluster,
) -> None:
    tasks = [("as-nobody", "true", "cpus:0.1;mem:16"), ("as-root", "true", "cpus:0.1;mem:16")]
    framework = secured.run_framework(
        UserLauncher,
        tasks,
        {"as-root": "root"},
        name="web",
        roles=["web"],
        principal="web",
        secret="web-secret",
        user="nobody",
    )
    try:
        (shown,) = [f for f in secured.state()["frameworks"] if f["id"] == framework.id]
        assert (shown["principal"], shown["user"]) == ("web", "nobody")

        def updates() -> list[tuple[str, str, str | None, str]]:
            seen: list[tuple[str, str, str | None, str]] = framework.call("seen")["updates"]
            return seen

        def ended(task_id: str) -> list[tuple[str, str, str | None, str]]:
            terminal = ("TASK_ERROR", "TASK_FINISHED", "TASK_FAILED")
            return [u for u in updates() if u[0] == task_id and u[1] in terminal]

        (denied,) = wait_for(lambda: ended("as-root"), what="as-root refused", seen=updates)
        assert denied == (
            "as-root",
            "TASK_ERROR",
            "REASON_TASK_UNAUTHORIZED",
            "principal 'web' may not run_tasks as user 'root' (ACL run_tasks)",
        )
        # The other took the framework's user and ran.
        (finished,) = wait_for(lambda: ended("as-nobody"), what="as-nobody ended", seen=updates)
        assert finished[1] == "TASK_FINISHED", finished
        state = secured.state()
        (shown,) = [f for f in state["frameworks"] if f["id"] == framework.id]
        users = {t["id"]: t["user"] for t in shown["tasks"] + shown["completed_tasks"]}
        assert users == {"as-nobody": "nobody"}
    finally:
        secured.teardown(framework)


def test_the_handles_operator_calls_are_checked_as_its_principal(secured: Cluster) -> None:
    # This handle was given no principal: the ACLs see an unauthenticated caller.
    before = secured.state()["weights"]
    with pytest.raises(
        AuthorizationError, match=r"unauthenticated caller .* \(ACL update_weights\)"
    ):
        secured.set_weight("web", 3.0)
    with pytest.raises(AuthorizationError, match=r"\(ACL update_quotas\)"):
        secured.set_quota("web", "cpus:1")
    state = secured.state()
    assert (state["weights"], state["quotas"]) == (before, {})
