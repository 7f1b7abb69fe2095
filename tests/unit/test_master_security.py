"""The master's authentication and authorization, driven without Ray:
frameworks' credentials and roles, what they do through accepts, and the
operator's calls. A refused call changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pyactors import AuthenticationError, AuthorizationError, InvalidArgumentError, Resources
from pyactors.core.operations import Create, Destroy, Launch, LaunchGroup, Reserve, TaskInfo
from pyactors.core.protocol import ErrorEvent, ForwardUpdates, LaunchTasks, SendOffers
from pyactors.core.tasks import Reason, TaskState
from pyactors.master.registry import MemoryRegistry, MemoryStore
from pyactors.master.registry_records import FrameworkEntry, Key, Kind, decode, encode
from pyactors.master.state import MasterConfig, MasterState
from pyactors.security import Acls, Credentials

CREDENTIALS = {"web": "web-secret", "ops": "ops-secret"}
ACLS: dict[str, Any] = {
    "permissive": False,
    "register_frameworks": [
        {"principals": {"values": ["web"]}, "roles": {"values": ["web"]}},
        {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
    ],
    "run_tasks": [
        {"principals": {"values": ["web"]}, "users": {"values": ["nobody"]}},
        {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    ],
    "reserve_resources": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
    "unreserve_resources": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
    "create_volumes": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
    "destroy_volumes": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
    "update_weights": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
    "update_quotas": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
    "drain_agents": [{"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}}],
    "kill_tasks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}],
    "teardown_frameworks": [
        {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}
    ],
}


def secured(store: MemoryStore | None = None) -> MasterState:
    config = MasterConfig(credentials=Credentials.load(CREDENTIALS), acls=Acls.load(ACLS))
    master = MasterState(config, MemoryRegistry(store or MemoryStore()))
    master.recover(0)
    master.register_agent("agent-0", "h", Resources.parse("cpus:4;mem:1024;disk:1000"), {}, now=0)
    return master


def picture(master: MasterState) -> Any:
    """Everything a refused call must leave as it was."""
    return copy.deepcopy(
        (
            master.allocator.snapshot(),
            sorted(master.frameworks),
            {a: str(r.total) for a, r in master.agents.items()},
            sorted(master.tasks),
            dict(master.weights),
            dict(master.quotas),
            dict(master.maintenance),
            {a: str(r) for a, r in master.reservations.items()},
            dict(stored(master)),
        )
    )


def stored(master: MasterState) -> dict[Key, bytes]:
    registry = master.registry
    assert isinstance(registry, MemoryRegistry)
    return registry.store.records


def offer_id(master: MasterState, framework_id: str, now: float) -> str:
    (batch,) = [b for b in master.allocate(now=now) if isinstance(b, SendOffers)]
    assert batch.framework_id == framework_id
    return batch.offers[0].id


def task(task_id: str, user: str | None = None) -> TaskInfo:
    return TaskInfo(task_id, task_id, "cpus:1;mem:64", command="id -u", user=user)


# ------------------------------------------------------------ frameworks


@pytest.mark.parametrize(
    ("principal", "secret", "says"),
    [
        (None, None, "gave no principal"),
        ("web", None, "principal 'web' and its secret do not match"),
        ("web", "ops-secret", "principal 'web' and its secret do not match"),
        ("stranger", "web-secret", "principal 'stranger' and its secret do not match"),
    ],
)
def test_a_framework_without_valid_credentials_is_refused(
    principal: str | None, secret: str | None, says: str
) -> None:
    master = secured()
    before = picture(master)
    with pytest.raises(AuthenticationError, match=says) as raised:
        master.subscribe("web", ["web"], 1, principal=principal, secret=secret)
    assert "web-secret" not in str(raised.value)
    assert picture(master) == before


def test_a_role_the_acls_deny_is_refused_naming_the_acl() -> None:
    master = secured()
    before = picture(master)
    with pytest.raises(AuthorizationError) as raised:
        master.subscribe("web", ["web", "ops"], 1, principal="web", secret="web-secret")
    assert raised.value.action == "register_frameworks"
    assert str(raised.value) == (
        "principal 'web' may not register_frameworks with role 'ops' (ACL register_frameworks)"
    )
    assert picture(master) == before


def test_the_principal_and_user_are_recorded_and_stored_without_the_secret() -> None:
    store = MemoryStore()
    master = secured(store)
    fw, _ = master.subscribe("web", ["web"], 1, principal="web", secret="web-secret", user="nobody")
    record = master.frameworks[fw]
    assert (record.principal, record.user) == ("web", "nobody")
    entry = decode(store.records[Key(Kind.FRAMEWORK, fw)], fw)
    assert isinstance(entry, FrameworkEntry)
    assert (entry.principal, entry.user) == ("web", "nobody")
    assert all(b"web-secret" not in value for value in store.records.values())
    # A new leader knows who registered it, and takes it back only from them.
    new = MasterState(master.config, MemoryRegistry(store))
    new.recover(10)
    assert (new.frameworks[fw].principal, new.frameworks[fw].user) == ("web", "nobody")
    with pytest.raises(
        AuthenticationError, match="registered by principal 'web', not principal 'ops'"
    ):
        new.subscribe("web", ["web"], 11, fw, principal="ops", secret="ops-secret")
    assert new.frameworks[fw].connected is False
    assert new.subscribe("web", ["web"], 11, fw, principal="web", secret="web-secret")[0] == fw
    assert new.frameworks[fw].connected is True


def test_a_framework_record_without_principal_or_user_still_reads() -> None:
    old = b'{"schema_version":1,"kind":"framework","framework_id":"f","name":"n",'
    old += b'"roles":["r"],"capabilities":[],"failover_timeout":0.0,"registered_at":0.0}'
    entry = decode(old, "old record")
    assert isinstance(entry, FrameworkEntry)
    assert (entry.principal, entry.user) == (None, None)
    # Written back without the fields it does not use, as before them.
    assert encode(entry) == encode(FrameworkEntry("f", "n", ["r"], [], 0.0, 0.0))
    assert b"principal" not in encode(entry)


def test_without_credentials_a_principal_is_recorded_as_given() -> None:
    master = MasterState()
    fw, _ = master.subscribe("web", ["web"], 0, principal="web")
    assert master.frameworks[fw].principal == "web"


def test_updating_roles_checks_register_frameworks() -> None:
    master = secured()
    fw, _ = master.subscribe("web", ["web"], 1, principal="web", secret="web-secret")
    before = picture(master)
    with pytest.raises(AuthorizationError, match="with role 'ops'"):
        master.update_framework(fw, roles=["web", "ops"])
    assert picture(master) == before
    assert master.frameworks[fw].roles == ["web"]


# ------------------------------------------------------------ accepts


def test_run_tasks_denial_is_task_error_naming_the_acl_and_users_come_from_the_framework() -> None:
    master = secured()
    fw, _ = master.subscribe("web", ["web"], 1, principal="web", secret="web-secret", user="nobody")
    offer = offer_id(master, fw, now=2)
    effects = master.accept(
        fw, [offer], [Launch([task("as-framework"), task("as-root", user="root")])], 0, now=2
    )
    (launch,) = [e for e in effects if isinstance(e, LaunchTasks)]
    assert [(t.task_id, t.user) for t in launch.tasks] == [("as-framework", "nobody")]
    assert master.tasks["as-framework"].task.user == "nobody"
    (errors,) = [e for e in effects if isinstance(e, ForwardUpdates)]
    (denied,) = errors.statuses
    assert (denied.task_id, denied.state, denied.reason) == (
        "as-root",
        TaskState.TASK_ERROR,
        Reason.REASON_TASK_UNAUTHORIZED,
    )
    assert denied.message == "principal 'web' may not run_tasks as user 'root' (ACL run_tasks)"
    assert "as-root" not in master.tasks
    # What the refused task would have used went back.
    assert master.allocator.snapshot()["agents"]["agent-0"]["available"] == (
        "cpus:3;disk:1000;mem:960"
    )


def test_a_group_with_a_denied_task_is_refused_whole() -> None:
    master = secured()
    fw, _ = master.subscribe("web", ["web"], 1, principal="web", secret="web-secret")
    offer = offer_id(master, fw, now=2)
    group = LaunchGroup([task("a", user="nobody"), task("b", user="root")])
    effects = master.accept(fw, [offer], [group], 0, now=2)
    assert [e for e in effects if isinstance(e, LaunchTasks)] == []
    (errors,) = [e for e in effects if isinstance(e, ForwardUpdates)]
    messages = {s.task_id: s.message for s in errors.statuses}
    assert messages["b"] == "principal 'web' may not run_tasks as user 'root' (ACL run_tasks)"
    assert messages["a"] == "its group has unauthorized tasks: b"
    assert master.tasks == {}


def test_a_task_without_any_user_is_checked_as_no_user() -> None:
    master = secured()
    fw, _ = master.subscribe("web", ["web"], 1, principal="web", secret="web-secret")
    offer = offer_id(master, fw, now=2)
    effects = master.accept(fw, [offer], [Launch([task("anyone")])], 0, now=2)
    (errors,) = [e for e in effects if isinstance(e, ForwardUpdates)]
    assert errors.statuses[0].message == "principal 'web' may not run_tasks (ACL run_tasks)"


def test_a_denied_reservation_is_dropped_with_an_error_and_changes_nothing() -> None:
    master = secured()
    fw, _ = master.subscribe("web", ["web"], 1, principal="web", secret="web-secret")
    offer = offer_id(master, fw, now=2)
    total = str(master.agents["agent-0"].total)
    effects = master.accept(fw, [offer], [Reserve(Resources.parse("cpus(web):1"))], 0, now=2)
    (error,) = [e for e in effects if isinstance(e, ErrorEvent)]
    assert error.message == (
        "RESERVE: principal 'web' may not reserve_resources with role 'web' (ACL reserve_resources)"
    )
    assert str(master.agents["agent-0"].total) == total
    assert master.reservations == {}


def test_an_allowed_principal_reserves_and_creates_volumes() -> None:
    master = secured()
    fw, _ = master.subscribe("ops", ["ops"], 1, principal="ops", secret="ops-secret")
    offer = offer_id(master, fw, now=2)
    reserved = Resources.parse("cpus(ops):1;disk(ops):500")
    volume = Resources.parse("disk(ops)[data]:200")
    effects = master.accept(fw, [offer], [Reserve(reserved), Create(volume)], 0, now=2)
    assert [e for e in effects if isinstance(e, ErrorEvent)] == []
    assert "disk(ops)[data]:200" in str(master.agents["agent-0"].total)
    offer = offer_id(master, fw, now=3)
    effects = master.accept(fw, [offer], [Destroy(volume)], 0, now=3)
    assert [e for e in effects if isinstance(e, ErrorEvent)] == []


# ------------------------------------------------------------ the operator


def operated() -> tuple[MasterState, str]:
    """A master with a running task of web's, a reservation and a volume
    to unreserve and destroy, and agent-0 drained (to reactivate)."""
    master = secured()
    fw, _ = master.subscribe("web", ["web"], 1, principal="web", secret="web-secret")
    offer = offer_id(master, fw, now=2)
    master.accept(fw, [offer], [Launch([task("t", user="nobody")])], 0, now=2)
    master.register_agent("agent-1", "h", Resources.parse("cpus:4;mem:1024;disk:1000"), {}, 3)
    master.reserve("agent-1", Resources.parse("disk(web):500"), principal="ops")
    master.create_volumes("agent-1", Resources.parse("disk(web)[v]:100"), principal="ops")
    master.drain_agent("agent-1", None, principal="ops")
    return master, fw


@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("update_weights", lambda m, fw, p: m.set_weight("web", 2.0, principal=p)),
        ("update_weights", lambda m, fw, p: m.set_weights([("a", 1.0), ("web", 2.0)], p)),
        ("update_quotas", lambda m, fw, p: m.set_quota("web", "cpus:1", principal=p)),
        (
            "reserve_resources",
            lambda m, fw, p: m.reserve("agent-0", Resources.parse("cpus(web):1"), p),
        ),
        (
            "unreserve_resources",
            lambda m, fw, p: m.unreserve("agent-1", Resources.parse("disk(web):100"), p),
        ),
        (
            "create_volumes",
            lambda m, fw, p: m.create_volumes("agent-1", Resources.parse("disk(web)[w]:10"), p),
        ),
        (
            "destroy_volumes",
            lambda m, fw, p: m.destroy_volumes("agent-1", Resources.parse("disk(web)[v]:100"), p),
        ),
        ("drain_agents", lambda m, fw, p: m.drain_agent("agent-0", 1.0, principal=p)),
        ("drain_agents", lambda m, fw, p: m.reactivate_agent("agent-1", principal=p)),
        ("kill_tasks", lambda m, fw, p: m.operator_kill("t", None, 5, principal=p)),
        ("teardown_frameworks", lambda m, fw, p: m.operator_teardown(fw, 5, principal=p)),
    ],
)
@pytest.mark.parametrize("principal", ["web", None])
def test_a_denied_operator_call_changes_nothing(
    action: str, call: Any, principal: str | None
) -> None:
    master, fw = operated()
    before = picture(master)
    with pytest.raises(AuthorizationError) as raised:
        call(master, fw, principal)
    assert raised.value.action == action
    assert f"(ACL {action})" in str(raised.value)
    assert raised.value.principal == principal
    assert picture(master) == before
    # The principal the ACLs allow does it (a kill is the effect it sends).
    effects = call(master, fw, "ops")
    assert picture(master) != before or effects


def test_a_framework_tears_itself_down_without_an_acl() -> None:
    master, fw = operated()
    master.teardown(fw, 1)
    assert fw not in master.frameworks
    assert Key(Kind.FRAMEWORK, fw) not in stored(master)


def test_task_user_is_checked() -> None:
    assert task("t", user="nobody").problems() == []
    for user in ["", "a b", "a:b", "../x", "x" * 65, "a\x00"]:
        (problem,) = task("t", user=user).problems()
        assert problem.startswith(f"invalid user {user!r}")
    with pytest.raises(Exception, match="invalid framework user"):
        MasterState().subscribe("web", ["web"], 0, user="a b")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"credentials": {"web": ""}}, "secret of principal 'web'"),
        ({"acls": {"run_tasks": [{"principals": {}}]}}, r"acls.run_tasks\[0\]"),
        ({"task_user": "a b"}, "invalid task_user 'a b'"),
        ({"http_host": "0.0.0.0"}, "refusing to serve the HTTP API on 0.0.0.0"),
        ({"http_hostnames": "example.com"}, "a list of names"),
    ],
)
def test_a_cluster_refuses_bad_security_options_before_starting_anything(
    options: dict[str, Any], says: str
) -> None:
    # Refused before Ray is started: the unit tests' guard fails any ray.init.
    from pyactors.runtime.cluster import start

    with pytest.raises(InvalidArgumentError, match=says):
        start(agents=1, **options)
