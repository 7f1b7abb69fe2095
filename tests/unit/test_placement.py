"""Marathon constraints, host and service ports, the task environment."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyactors import InvalidArgumentError, Resources
from pyactors.errors import AppDefinitionError
from pyactors.frameworks.services.app_reader import parse_app
from pyactors.frameworks.services.constraints import (
    Constraint,
    Placement,
    meets_constraints,
    parse_constraint,
    unmet_constraint,
)
from pyactors.frameworks.services.placement import (
    assign_service_ports,
    offered_ports,
    select_app_ports,
    select_ports,
    task_environment,
)


def c(*raw: str) -> Constraint:
    return parse_constraint(list(raw))


def at(host: str, **attributes: str) -> Placement:
    return (host, attributes)


# Each operator, on hostname and on attributes.


def test_unique_hostname() -> None:
    unique = c("hostname", "UNIQUE")
    placed = [at("a"), at("b")]
    assert unique.allows("c", {}, placed)
    assert not unique.allows("a", {}, placed)
    assert unique.allows("a", {}, [])


def test_unique_attribute() -> None:
    unique = c("rack", "UNIQUE")
    placed = [at("a", rack="r1"), at("b", rack="r2")]
    assert unique.allows("c", {"rack": "r3"}, placed)
    assert not unique.allows("c", {"rack": "r1"}, placed)
    # Marathon: an agent without the attribute qualifies only for UNLIKE.
    assert not unique.allows("c", {}, placed)


def test_cluster_with_a_value() -> None:
    cluster = c("zone", "CLUSTER", "eu")
    assert cluster.allows("a", {"zone": "eu"}, [])
    assert not cluster.allows("a", {"zone": "us"}, [])
    assert not cluster.allows("a", {}, [])
    assert c("hostname", "CLUSTER", "a").allows("a", {}, [at("a")])
    assert not c("hostname", "CLUSTER", "a").allows("b", {}, [])


def test_cluster_without_a_value_follows_the_first_instance() -> None:
    cluster = c("zone", "CLUSTER")
    assert cluster.value is None
    assert cluster.allows("a", {"zone": "us"}, [])
    placed = [at("a", zone="eu")]
    assert cluster.allows("b", {"zone": "eu"}, placed)
    assert not cluster.allows("b", {"zone": "us"}, placed)
    # An empty value is no value, as in Marathon's JSON.
    assert c("zone", "CLUSTER", "") == cluster


def test_like_and_unlike_match_the_whole_value() -> None:
    like = c("zone", "LIKE", "eu-.*")
    unlike = c("zone", "UNLIKE", "eu-.*")
    assert like.allows("a", {"zone": "eu-west"}, [])
    assert not like.allows("a", {"zone": "us-east"}, [])
    assert not like.allows("a", {"zone": "xeu-west"}, [])  # not a search
    assert not c("zone", "LIKE", "eu").allows("a", {"zone": "eu-west"}, [])  # nor a prefix
    assert unlike.allows("a", {"zone": "us-east"}, [])
    assert not unlike.allows("a", {"zone": "eu-west"}, [])
    # Missing attribute: LIKE fails, UNLIKE holds.
    assert not like.allows("a", {}, [])
    assert unlike.allows("a", {}, [])
    assert c("hostname", "LIKE", "node-[0-9]+").allows("node-12", {}, [])
    assert not c("hostname", "UNLIKE", "node-[0-9]+").allows("node-12", {}, [])


def test_max_per() -> None:
    max_two = c("rack", "MAX_PER", "2")
    placed = [at("a", rack="r1"), at("b", rack="r1"), at("c", rack="r2")]
    assert not max_two.allows("d", {"rack": "r1"}, placed)
    assert max_two.allows("d", {"rack": "r2"}, placed)
    assert max_two.allows("d", {"rack": "r3"}, placed)
    assert not c("hostname", "MAX_PER", "1").allows("a", {}, [at("a")])
    assert c("hostname", "MAX_PER", "1").allows("b", {}, [at("a")])


def test_is() -> None:
    assert c("os", "IS", "linux").allows("a", {"os": "linux"}, [])
    assert not c("os", "IS", "linux").allows("a", {"os": "darwin"}, [])


def test_group_by_takes_new_values_and_the_least_used() -> None:
    group = c("rack", "GROUP_BY")
    placed = [at("a", rack="r1"), at("b", rack="r1"), at("c", rack="r2")]
    assert group.allows("d", {"rack": "r3"}, placed)  # a new value
    assert group.allows("d", {"rack": "r2"}, placed)  # the least used
    assert not group.allows("d", {"rack": "r1"}, placed)
    assert group.allows("d", {"rack": "r1"}, [])


def test_group_by_with_a_count_waits_for_that_many_values() -> None:
    group = c("rack", "GROUP_BY", "3")
    placed = [at("a", rack="r1"), at("b", rack="r2")]
    # Two racks in use, three wanted: only a new rack qualifies.
    assert not group.allows("c", {"rack": "r1"}, placed)
    assert not group.allows("c", {"rack": "r2"}, placed)
    assert group.allows("c", {"rack": "r3"}, placed)
    placed.append(at("c", rack="r3"))
    assert group.allows("d", {"rack": "r1"}, placed)


def test_group_by_balances_instances_over_racks() -> None:
    """Offers always come from the racks in the same (unfair) order; the
    instances still spread evenly."""
    agents = [(f"node-{i}", {"rack": f"r{i % 3}"}) for i in range(9)]
    constraints = [c("rack", "GROUP_BY", "3")]
    placed: list[Placement] = []
    for _ in range(9):
        host, attributes = next(
            (h, a) for h, a in agents if meets_constraints(constraints, h, a, placed)
        )
        placed.append((host, attributes))
        counts = Counter(a["rack"] for _, a in placed)
        assert max(counts.values()) - min(counts.values()) <= 1 or len(counts) < 3
    assert Counter(a["rack"] for _, a in placed) == {"r0": 3, "r1": 3, "r2": 3}


def test_several_constraints_all_hold() -> None:
    constraints = [c("hostname", "UNIQUE"), c("zone", "LIKE", "eu-.*"), c("rack", "MAX_PER", "1")]
    placed = [at("a", zone="eu-1", rack="r1")]
    assert meets_constraints(constraints, "b", {"zone": "eu-1", "rack": "r2"}, placed)
    assert (
        unmet_constraint(constraints, "a", {"zone": "eu-1", "rack": "r2"}, placed)
        == (constraints[0])
    )
    assert (
        unmet_constraint(constraints, "b", {"zone": "us-1", "rack": "r2"}, placed)
        == (constraints[1])
    )
    assert (
        unmet_constraint(constraints, "b", {"zone": "eu-1", "rack": "r1"}, placed)
        == (constraints[2])
    )
    assert meets_constraints([], "a", {}, placed)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["rack", "LIKE", "("], "not a regular expression"),
        (["rack", "LIKE"], "needs a regular expression"),
        (["rack", "MAX_PER", "0"], "count >= 1"),
        (["rack", "MAX_PER", "two"], "count >= 1"),
        (["rack", "MAX_PER"], "count >= 1"),
        (["rack", "GROUP_BY", "x"], "number of groups"),
        (["rack", "IS"], "needs a value"),
        (["rack", "UNIQUE", "r1"], "takes no value"),
        (["", "UNIQUE"], "field is empty"),
        (["rack", "unique"], "unknown operator"),
        (["rack"], "[field, operator"),
        ("rack:UNIQUE", "[field, operator"),
    ],
)
def test_malformed_constraints_are_refused_with_their_path(raw: Any, expected: str) -> None:
    with pytest.raises(AppDefinitionError) as caught:
        parse_constraint(raw, "constraints[2]")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("constraints[2]: ")


def test_constraints_round_trip_through_json() -> None:
    for raw in (["hostname", "UNIQUE"], ["rack", "GROUP_BY", "3"], ["z", "LIKE", "a|b"]):
        assert parse_constraint(raw).to_json() == raw


# Host ports.

FRAGMENTED = Resources.parse("cpus:4;mem:1024;ports:[31000-31001,31005-31005,31010-31020]")


def test_lowest_ports_from_fragmented_ranges() -> None:
    choice = select_ports(FRAGMENTED, [0, 0, 0, 0])
    assert choice is not None
    assert choice.ports == (31000, 31001, 31005, 31010)
    assert choice.resources == Resources.parse("ports:[31000-31001,31005-31005,31010-31010]")
    assert choice.resources <= FRAGMENTED


def test_declared_ports_without_require_ports_are_any_ports() -> None:
    # A non-zero port is the service port; the host port is any free one.
    choice = select_ports(FRAGMENTED, [10000, 10001])
    assert choice is not None and choice.ports == (31000, 31001)


def test_not_enough_ports() -> None:
    assert select_ports(FRAGMENTED, [0] * 14) is not None
    assert select_ports(FRAGMENTED, [0] * 15) is None
    assert select_ports(Resources.parse("cpus:1"), [0]) is None


def test_no_ports_needed() -> None:
    choice = select_ports(Resources.parse("cpus:1"), [])
    assert choice is not None
    assert choice.ports == () and choice.resources == Resources()


def test_require_ports_takes_exactly_the_declared_ports() -> None:
    choice = select_ports(FRAGMENTED, [31015, 31005], require_ports=True)
    assert choice is not None
    assert choice.ports == (31015, 31005)
    assert choice.resources == Resources.parse("ports:[31005-31005,31015-31015]")


def test_require_ports_fails_when_a_declared_port_is_not_offered() -> None:
    assert select_ports(FRAGMENTED, [31005, 31003], require_ports=True) is None
    assert select_ports(FRAGMENTED, [8080], require_ports=True) is None


def test_require_ports_needs_assigned_ports() -> None:
    with pytest.raises(InvalidArgumentError, match="non-zero"):
        select_ports(FRAGMENTED, [0, 31005], require_ports=True)
    with pytest.raises(InvalidArgumentError, match="repeat"):
        select_ports(FRAGMENTED, [31005, 31005], require_ports=True)


def test_reserved_ports_keep_their_reservation_and_come_first() -> None:
    offered = Resources.parse("ports(web):[31000-31001];ports:[32000-32010]")
    choice = select_ports(offered, [0, 0, 0])
    assert choice is not None
    assert choice.ports == (31000, 31001, 32000)
    assert choice.resources == Resources.parse("ports(web):[31000-31001];ports:[32000-32000]")
    assert choice.resources <= offered
    assert offered_ports(offered) == [(31000, 31001), (32000, 32010)]


def test_random_ports_are_drawn_from_the_whole_offer() -> None:
    rng = random.Random(7)
    seen: set[int] = set()
    for _ in range(50):
        choice = select_ports(FRAGMENTED, [0, 0], rng=rng)
        assert choice is not None
        seen.update(choice.ports)
    assert 31005 in seen and len(seen) > 8


def test_app_ports() -> None:
    app = parse_app({"id": "/web", "cmd": "true", "portDefinitions": [{}, {"port": 10001}]})
    choice = select_app_ports(app, FRAGMENTED)
    assert choice is not None and choice.ports == (31000, 31001)
    required = parse_app(
        {"id": "/web", "cmd": "true", "requirePorts": True, "portDefinitions": [{"port": 31012}]}
    )
    choice = select_app_ports(required, FRAGMENTED)
    assert choice is not None and choice.ports == (31012,)
    assert select_app_ports(required, Resources.parse("ports:[31000-31011]")) is None


_ranges = st.lists(
    st.tuples(st.integers(1, 60000), st.integers(0, 40)), min_size=0, max_size=6
).map(lambda spans: [(begin, min(begin + size, 65535)) for begin, size in spans])


def _resources_of(spans: list[tuple[int, int]]) -> Resources:
    if not spans:
        return Resources.parse("cpus:1")
    merged: list[list[int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(end, merged[-1][1])
        else:
            merged.append([begin, end])
    return Resources.from_dict({"cpus": 1.0, "ports": merged})


@settings(max_examples=200, deadline=None)
@given(_ranges, st.integers(0, 30), st.one_of(st.none(), st.integers(0, 2**32)))
def test_chosen_ports_are_distinct_and_within_the_offer(
    spans: list[tuple[int, int]], count: int, seed: int | None
) -> None:
    offered = _resources_of(spans)
    available = {p for begin, end in offered_ports(offered) for p in range(begin, end + 1)}
    rng = None if seed is None else random.Random(seed)
    choice = select_ports(offered, [0] * count, rng=rng)
    if len(available) < count:
        assert choice is None
        return
    assert choice is not None
    assert len(choice.ports) == count == len(set(choice.ports))
    assert set(choice.ports) <= available
    assert choice.resources <= offered
    chosen_ranges = offered_ports(choice.resources)
    assert {p for b, e in chosen_ranges for p in range(b, e + 1)} == set(choice.ports)
    if rng is None:
        assert list(choice.ports) == sorted(available)[:count]


@settings(max_examples=100, deadline=None)
@given(_ranges, st.data())
def test_required_ports_are_taken_iff_all_offered(
    spans: list[tuple[int, int]], data: st.DataObject
) -> None:
    offered = _resources_of(spans)
    available = {p for begin, end in offered_ports(offered) for p in range(begin, end + 1)}
    wanted = data.draw(st.lists(st.integers(1, 65535), max_size=4, unique=True))
    from_offer: bool = data.draw(st.booleans())
    if available and from_offer:
        wanted = data.draw(st.lists(st.sampled_from(sorted(available)), max_size=4, unique=True))
    choice = select_ports(offered, wanted, require_ports=True)
    if set(wanted) <= available:
        assert choice is not None and list(choice.ports) == wanted
        assert choice.resources <= offered
    else:
        assert choice is None


# Service ports.


def test_service_ports_fill_the_zeros() -> None:
    app = parse_app(
        {
            "id": "/web",
            "cmd": "true",
            "portDefinitions": [{"port": 0}, {"port": 10001}, {"port": 0, "name": "admin"}],
        }
    )
    assigned = assign_service_ports(app, in_use={10000, 10002})
    assert [d.port for d in assigned.portDefinitions] == [10003, 10001, 10004]
    assert assigned.portDefinitions[2].name == "admin"
    assert parse_app(assigned.to_json()) == assigned


def test_service_port_conflicts_and_exhaustion() -> None:
    app = parse_app({"id": "/web", "cmd": "true", "portDefinitions": [{"port": 10001}]})
    with pytest.raises(AppDefinitionError, match=r"portDefinitions\[0\].port: service port 10001"):
        assign_service_ports(app, in_use={10001})
    two = parse_app({"id": "/web", "cmd": "true", "portDefinitions": [{}, {}]})
    with pytest.raises(AppDefinitionError, match=r"portDefinitions\[1\].port: no service port"):
        assign_service_ports(two, in_use={10000}, port_range=(10000, 10001))


# The task environment.


def test_task_environment() -> None:
    app = parse_app(
        {
            "id": "/shop/web",
            "cmd": "serve",
            "cpus": 0.5,
            "mem": 64,
            "portDefinitions": [{"port": 10001, "name": "http"}, {"port": 0}],
            "labels": {"team": "shop", "haproxy.group": "external"},
            "env": {"GREETING": "hello"},
        }
    )
    env = task_environment(app, "node-1", [31000, 31007], version="2026-01-01T00:00:00.000Z")
    assert env == {
        "MARATHON_APP_ID": "/shop/web",
        "MARATHON_APP_VERSION": "2026-01-01T00:00:00.000Z",
        "MARATHON_APP_RESOURCE_CPUS": "0.5",
        "MARATHON_APP_RESOURCE_MEM": "64.0",
        "MARATHON_APP_RESOURCE_DISK": "0.0",
        "MARATHON_APP_RESOURCE_GPUS": "0",
        "MARATHON_APP_LABELS": "TEAM HAPROXY_GROUP",
        "MARATHON_APP_LABEL_TEAM": "shop",
        "MARATHON_APP_LABEL_HAPROXY_GROUP": "external",
        "PORT0": "31000",
        "PORT1": "31007",
        "PORT_10001": "31000",
        "PORT_31007": "31007",
        "PORT_HTTP": "31000",
        "PORT": "31000",
        "PORTS": "31000,31007",
        "HOST": "node-1",
        "GREETING": "hello",
    }
    # The agent sets these.
    assert "MESOS_TASK_ID" not in env and "MESOS_SANDBOX" not in env


def test_the_apps_env_overrides_marathons() -> None:
    app = parse_app({"id": "/web", "cmd": "true", "env": {"PORT": "8080", "HOST": "0.0.0.0"}})
    env = task_environment(app, "node-1", [31000])
    assert env["PORT"] == "8080" and env["HOST"] == "0.0.0.0"
    assert env["PORT0"] == "31000"


def test_no_ports_no_port_variables() -> None:
    app = parse_app({"id": "/worker", "cmd": "true", "portDefinitions": [], "version": "v1"})
    env = task_environment(app, "node-1", [])
    assert not any(key.startswith("PORT") for key in env)
    assert env["MARATHON_APP_VERSION"] == "v1"
    assert env["MARATHON_APP_LABELS"] == ""
    with pytest.raises(InvalidArgumentError, match="declares 0 ports"):
        task_environment(app, "node-1", [31000])
