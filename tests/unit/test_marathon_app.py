"""Marathon app definitions: defaults, normalisation, errors naming their field."""

from __future__ import annotations

import pickle
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyactors import InvalidArgumentError, Resources
from pyactors.errors import AppDefinitionError
from pyactors.frameworks.services.app_definition import (
    AppDefinition,
    HealthCheck,
    PersistentVolume,
    PortDefinition,
    UnreachableStrategy,
    UpgradeStrategy,
    normalize_app_id,
)
from pyactors.frameworks.services.app_reader import parse_app
from pyactors.frameworks.services.constraints import Constraint

REALISTIC = """
{
  "id": "/shop/web",
  "cmd": "python3 -m http.server $PORT0",
  "env": {"GREETING": "hello", "LOG_LEVEL": "info"},
  "instances": 3,
  "cpus": 0.25,
  "mem": 64,
  "disk": 10,
  "portDefinitions": [
    {"port": 10001, "name": "http", "protocol": "tcp", "labels": {"VIP_0": "/web:80"}},
    {"port": 0, "name": "admin"}
  ],
  "requirePorts": false,
  "constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"], ["zone", "LIKE", "eu-.*"]],
  "healthChecks": [
    {"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 5,
     "intervalSeconds": 2, "timeoutSeconds": 1, "maxConsecutiveFailures": 3},
    {"protocol": "TCP", "portIndex": 1},
    {"protocol": "COMMAND", "command": {"value": "test -f ready"}}
  ],
  "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
  "backoffSeconds": 2,
  "backoffFactor": 1.5,
  "maxLaunchDelaySeconds": 60,
  "killSelection": "OLDEST_FIRST",
  "labels": {"HAPROXY_GROUP": "external", "team": "shop"},
  "unreachableStrategy": {"inactiveAfterSeconds": 30, "expungeAfterSeconds": 120},
  "taskKillGracePeriodSeconds": 3
}
"""


def problems(definition: Any) -> list[tuple[str, str]]:
    with pytest.raises(AppDefinitionError) as caught:
        parse_app(definition)
    return caught.value.problems


def problem_at(definition: Any, path: str) -> str:
    """The message of the one problem at `path` (and it is named in the text)."""
    with pytest.raises(AppDefinitionError) as caught:
        parse_app(definition)
    found = [message for where, message in caught.value.problems if where == path]
    assert found, f"no problem at {path}: {caught.value.problems}"
    assert f"{path}: " in str(caught.value)
    return found[0]


def app(**fields: Any) -> dict[str, Any]:
    return {"id": "/web", "cmd": "sleep 100", **fields}


# Defaults and normalisation.


def test_marathon_defaults() -> None:
    parsed = parse_app({"id": "/web", "cmd": "sleep 100"})
    assert parsed == AppDefinition(id="/web", cmd="sleep 100")
    assert parsed.instances == 1
    assert (parsed.cpus, parsed.mem, parsed.disk, parsed.gpus) == (1, 128, 0, 0)
    assert parsed.portDefinitions == (PortDefinition(port=0, protocol="tcp"),)
    assert parsed.requirePorts is False
    assert parsed.constraints == () and parsed.healthChecks == ()
    assert parsed.upgradeStrategy == UpgradeStrategy(1.0, 1.0)
    assert (parsed.backoffSeconds, parsed.backoffFactor) == (1, 1.15)
    assert parsed.maxLaunchDelaySeconds == 3600  # Marathon 1.x's AppDefinition default
    assert parsed.killSelection == "YOUNGEST_FIRST"
    assert parsed.unreachableStrategy == UnreachableStrategy(300, 600)
    assert parsed.env == {} and parsed.labels == {}
    assert parsed.container is None and not parsed.is_resident


def test_health_check_defaults() -> None:
    parsed = parse_app(app(healthChecks=[{}]))
    assert parsed.healthChecks == (HealthCheck(protocol="HTTP", portIndex=0),)
    check = parsed.healthChecks[0]
    assert (check.gracePeriodSeconds, check.intervalSeconds, check.timeoutSeconds) == (300, 60, 20)
    assert check.maxConsecutiveFailures == 3
    assert check.http_path == "/"


def test_null_reads_as_absent() -> None:
    parsed = parse_app(app(args=None, container=None, instances=None, user=None, fetch=[]))
    assert parsed == AppDefinition(id="/web", cmd="sleep 100")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/web", "/web"),
        ("/shop/web/", "/shop/web"),
        ("//shop///web", "/shop/web"),
        ("/shop/./web", "/shop/web"),
        ("/shop/old/../web", "/shop/web"),
        ("/a.b-c/x1", "/a.b-c/x1"),
    ],
)
def test_ids_are_normalised(raw: str, normal: str) -> None:
    assert normalize_app_id(raw) == normal
    assert parse_app(app(id=raw)).id == normal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("web", "is relative"),
        ("shop/web", "is relative"),
        ("/", "names no app"),
        ("/..", "above the root"),
        ("/Web", "lowercase"),
        ("/we_b", "lowercase"),
        ("/-web", "starting and ending"),
    ],
)
def test_bad_ids_are_rejected(raw: str, expected: str) -> None:
    assert expected in problem_at(app(id=raw), "id")


def test_id_is_required() -> None:
    assert "required" in problem_at({"cmd": "true"}, "id")


def test_resources_and_ports() -> None:
    parsed = parse_app(app(cpus=0.5, mem=256, disk=100, gpus=1, portDefinitions=[{}, {}]))
    assert parsed.resources() == Resources.parse("cpus:0.5;mem:256;disk:100;gpus:1")
    assert "ports" not in parsed.resources().names()
    assert parsed.port_count() == 2
    assert parse_app(app(portDefinitions=[])).port_count() == 0
    assert parse_app(app(cpus=0.1, mem=32)).resources() == Resources.parse("cpus:0.1;mem:32")


def test_deprecated_ports_become_port_definitions() -> None:
    parsed = parse_app(app(ports=[0, 10005]))
    assert parsed.portDefinitions == (PortDefinition(0), PortDefinition(10005))
    assert "not both" in problem_at(app(ports=[0], portDefinitions=[]), "ports")


def test_cmd_and_args() -> None:
    assert parse_app(app()).command() == ("sleep 100", True)
    parsed = parse_app({"id": "/web", "args": ["sleep", "100"]})
    assert parsed.args == ("sleep", "100")
    assert parsed.command() == (["sleep", "100"], False)
    assert "exclusive" in problem_at(app(args=["sleep"]), "cmd")
    assert "needs cmd" in problem_at({"id": "/web"}, "cmd")
    assert "empty" in problem_at({"id": "/web", "args": []}, "args")
    assert "empty" in problem_at({"id": "/web", "cmd": "  "}, "cmd")


def test_launch_backoff() -> None:
    parsed = parse_app(app(backoffSeconds=1, backoffFactor=2, maxLaunchDelaySeconds=10))
    assert [parsed.launch_delay(n) for n in range(7)] == [0, 1, 2, 4, 8, 10, 10]
    assert parse_app(app()).launch_delay(10_000) == 3600


def test_resident_app_defaults_and_rules() -> None:
    volumes = {"volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 64}}]}
    parsed = parse_app(app(container=volumes))
    assert parsed.is_resident
    assert parsed.volumes == (PersistentVolume("data", 64),)
    assert parsed.upgradeStrategy == UpgradeStrategy(0.5, 0.0)
    assert parsed.unreachableStrategy is None
    assert "must be 0" in problem_at(
        app(container=volumes, upgradeStrategy={"maximumOverCapacity": 0.5}),
        "upgradeStrategy.maximumOverCapacity",
    )
    assert "disabled" in problem_at(
        app(container=volumes, unreachableStrategy={"inactiveAfterSeconds": 1}),
        "unreachableStrategy",
    )


def test_unreachable_strategy_forms() -> None:
    assert parse_app(app(unreachableStrategy="disabled")).unreachableStrategy is None
    parsed = parse_app(app(unreachableStrategy={"inactiveAfterSeconds": 10}))
    assert parsed.unreachableStrategy == UnreachableStrategy(10, 600)
    assert "at least inactiveAfterSeconds" in problem_at(
        app(unreachableStrategy={"inactiveAfterSeconds": 10, "expungeAfterSeconds": 5}),
        "unreachableStrategy.expungeAfterSeconds",
    )
    assert "disabled" in problem_at(app(unreachableStrategy="off"), "unreachableStrategy")


# Every error names its field.


@pytest.mark.parametrize(
    ("definition", "path", "expected"),
    [
        (app(colour="red"), "colour", "unknown field"),
        (app(instances="3"), "instances", 'expected an integer, got "3"'),
        (app(instances=1.5), "instances", "expected an integer"),
        (app(instances=True), "instances", "expected an integer, got true"),
        (app(instances=-1), "instances", "at least 0"),
        (app(cpus="1"), "cpus", 'expected a number, got "1"'),
        (app(mem=-5), "mem", "at least 0"),
        (app(disk=[1]), "disk", "expected a number"),
        (app(gpus=0.5), "gpus", "expected an integer"),
        (app(cmd=5), "cmd", "expected a string, got 5"),
        (app(env={"A": 1}), "env.A", "expected a string, got 1"),
        (app(env={"A=B": "x"}), "env.A=B", "no '='"),
        (app(env={"A": "a\0b"}), "env.A", "NUL"),
        (app(env={"A": "\ud800"}), "env.A", "lone surrogate"),
        (app(cmd="echo \ud800"), "cmd", "lone surrogate"),
        (app(cmd="echo \0"), "cmd", "NUL"),
        ({"id": "/web", "args": ["echo", "\0"]}, "args[1]", "NUL"),
        (app(labels={"a": "\udfff"}), "labels.a", "lone surrogate"),
        (app(constraints=[["rack", "IS", "\ud800"]]), "constraints[0][2]", "Unicode"),
        (app(env={"A": {"secret": "s"}}), "env.A", "secrets are not supported"),
        (app(env=[]), "env", "expected an object"),
        (app(labels={"a": True}), "labels.a", "expected a string"),
        (app(requirePorts="yes"), "requirePorts", "expected a boolean"),
        (app(killSelection="RANDOM"), "killSelection", "YOUNGEST_FIRST, OLDEST_FIRST"),
        (app(backoffFactor=0.5), "backoffFactor", "at least 1.0"),
        (app(backoffSeconds="1"), "backoffSeconds", "expected a number"),
        (app(maxLaunchDelaySeconds=-1), "maxLaunchDelaySeconds", "at least 0"),
        (app(taskKillGracePeriodSeconds="x"), "taskKillGracePeriodSeconds", "a number"),
        (app(version=3), "version", "expected a string"),
        (app(portDefinitions={}), "portDefinitions", "expected an array"),
        (app(portDefinitions=[5]), "portDefinitions[0]", "expected an object"),
        (app(portDefinitions=[{"port": 70000}]), "portDefinitions[0].port", "at most 65535"),
        (app(portDefinitions=[{"port": "80"}]), "portDefinitions[0].port", "an integer"),
        (app(portDefinitions=[{"name": "HTTP"}]), "portDefinitions[0].name", "lowercase"),
        (app(portDefinitions=[{"protocol": "sctp"}]), "portDefinitions[0].protocol", "tcp"),
        (app(portDefinitions=[{"hostPort": 1}]), "portDefinitions[0].hostPort", "unknown"),
        (
            app(portDefinitions=[{"name": "a"}, {"name": "a"}]),
            "portDefinitions",
            "'a' is repeated",
        ),
        (
            app(portDefinitions=[{"port": 10000}, {"port": 10000}]),
            "portDefinitions",
            "port 10000 is repeated",
        ),
        (
            app(healthChecks=[{"intervalSeconds": "x"}]),
            "healthChecks[0].intervalSeconds",
            'expected a number, got "x"',
        ),
        (
            app(healthChecks=[{"protocol": "HTTPS"}]),
            "healthChecks[0].protocol",
            "HTTP, TCP, COMMAND",
        ),
        (
            app(healthChecks=[{"maxConsecutiveFailures": 1.5}]),
            "healthChecks[0].maxConsecutiveFailures",
            "an integer",
        ),
        (app(healthChecks=[{"portIndex": 1}]), "healthChecks[0].portIndex", "out of range"),
        (
            app(healthChecks=[{"protocol": "TCP"}], portDefinitions=[]),
            "healthChecks[0].portIndex",
            "needs a port",
        ),
        (
            app(healthChecks=[{"portIndex": 0, "port": 8080}]),
            "healthChecks[0].port",
            "not both",
        ),
        (
            app(healthChecks=[{"protocol": "COMMAND"}]),
            "healthChecks[0].command",
            "needs a command",
        ),
        (
            app(healthChecks=[{"protocol": "COMMAND", "command": "true"}]),
            "healthChecks[0].command",
            '{"value"',
        ),
        (
            app(healthChecks=[{"protocol": "TCP", "command": {"value": "true"}}]),
            "healthChecks[0].command",
            "only COMMAND",
        ),
        (
            app(healthChecks=[{"protocol": "TCP", "path": "/x"}]),
            "healthChecks[0].path",
            "only HTTP",
        ),
        (app(healthChecks=[{"path": "health"}]), "healthChecks[0].path", "start with '/'"),
        (app(healthChecks=[{"ignoreHttp1xx": 1}]), "healthChecks[0].ignoreHttp1xx", "boolean"),
        (app(healthChecks=[{"colour": 1}]), "healthChecks[0].colour", "unknown field"),
        (app(constraints=[["hostname"]]), "constraints[0]", "[field, operator"),
        (app(constraints=[["hostname", "SOMETIMES"]]), "constraints[0]", "unknown operator"),
        (app(constraints=[["hostname", "UNIQUE", 3]]), "constraints[0][2]", "a string"),
        (app(constraints="hostname:UNIQUE"), "constraints", "expected an array"),
        (
            app(constraints=[["hostname", "UNIQUE"], ["hostname", "UNIQUE"]]),
            "constraints",
            "repeated",
        ),
        (
            app(upgradeStrategy={"minimumHealthCapacity": 2}),
            "upgradeStrategy.minimumHealthCapacity",
            "at most 1",
        ),
        (
            app(upgradeStrategy={"maximumOverCapacity": "all"}),
            "upgradeStrategy.maximumOverCapacity",
            "a number",
        ),
        (app(upgradeStrategy={"speed": 1}), "upgradeStrategy.speed", "unknown field"),
        (app(container={"type": "DOCKER"}), "container.type", "MESOS"),
        (app(container={"docker": {"image": "x"}}), "container.docker", "does not support"),
        (app(container={"volumes": {}}), "container.volumes", "expected an array"),
        (
            app(container={"volumes": [{"containerPath": "d", "hostPath": "/tmp"}]}),
            "container.volumes[0].hostPath",
            "does not support",
        ),
        (
            app(container={"volumes": [{"containerPath": "d"}]}),
            "container.volumes[0].persistent",
            "required",
        ),
        (
            app(container={"volumes": [{"containerPath": "/d", "persistent": {"size": 1}}]}),
            "container.volumes[0].containerPath",
            "no '/'",
        ),
        (
            app(container={"volumes": [{"containerPath": "d", "persistent": {"size": "1"}}]}),
            "container.volumes[0].persistent.size",
            "an integer",
        ),
        (
            app(container={"volumes": [{"containerPath": "d", "persistent": {}}]}),
            "container.volumes[0].persistent.size",
            "required",
        ),
        (
            app(
                container={
                    "volumes": [{"containerPath": "d", "mode": "RO", "persistent": {"size": 1}}]
                }
            ),
            "container.volumes[0].mode",
            "RW",
        ),
        (app(tasksRunning=3), "tasksRunning", "status"),
        (app(user="root"), "user", "does not support"),
        (app(fetch=[{"uri": "http://x"}]), "fetch", "does not support"),
    ],
)
def test_every_error_names_its_field(definition: Any, path: str, expected: str) -> None:
    assert expected in problem_at(definition, path)


def test_all_problems_are_reported_together() -> None:
    found = problems(
        {
            "id": "web",
            "cmd": 1,
            "instances": "x",
            "healthChecks": [{"intervalSeconds": "x"}, {"timeoutSeconds": -1}],
        }
    )
    assert [path for path, _ in found] == [
        "id",
        "cmd",
        "healthChecks[0].intervalSeconds",
        "healthChecks[1].timeoutSeconds",
        "instances",
    ]


def test_not_an_object_or_not_json() -> None:
    assert "expected an object" in problem_at([1, 2], "(app)")
    assert "not valid JSON" in problem_at("{id: /web}", "(app)")


def test_the_error_is_an_invalid_argument_and_pickles() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_app(app(instances="x"))
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, AppDefinitionError)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, AppDefinitionError)
    assert copy.problems == error.problems and str(copy) == str(error)


# A realistic app, end to end.


def test_realistic_app_parses() -> None:
    parsed = parse_app(REALISTIC)
    assert parsed.id == "/shop/web"
    assert parsed.instances == 3
    assert parsed.resources() == Resources.parse("cpus:0.25;mem:64;disk:10")
    assert parsed.portDefinitions[0] == PortDefinition(10001, "http", "tcp", {"VIP_0": "/web:80"})
    assert parsed.portDefinitions[1] == PortDefinition(0, "admin")
    assert parsed.constraints == (
        Constraint("hostname", "UNIQUE"),
        Constraint("rack", "GROUP_BY", "2"),
        Constraint("zone", "LIKE", "eu-.*"),
    )
    http, tcp, command = parsed.healthChecks
    assert (http.path, http.portIndex, http.intervalSeconds) == ("/health", 0, 2)
    assert (tcp.protocol, tcp.portIndex, tcp.intervalSeconds) == ("TCP", 1, 60)
    assert (command.command, command.portIndex) == ("test -f ready", None)
    assert parsed.upgradeStrategy == UpgradeStrategy(0.5, 0.2)
    assert parsed.killSelection == "OLDEST_FIRST"
    assert parsed.unreachableStrategy == UnreachableStrategy(30, 120)
    assert parsed.taskKillGracePeriodSeconds == 3


def test_realistic_app_round_trips() -> None:
    parsed = parse_app(REALISTIC)
    assert parse_app(parsed.to_json()) == parsed
    assert parse_app(parsed.to_json_text()) == parsed
    assert parse_app(orjson.dumps(parsed.to_json())) == parsed
    # The canonical form is a fixed point.
    assert parse_app(parsed.to_json()).to_json() == parsed.to_json()
    assert pickle.loads(pickle.dumps(parsed)) == parsed


def test_resident_app_round_trips() -> None:
    parsed = parse_app(
        app(
            container={
                "type": "MESOS",
                "volumes": [{"containerPath": "data", "persistent": {"size": 8}}],
            },
            args=None,
        )
    )
    assert parse_app(parsed.to_json()) == parsed
    assert parsed.to_json()["unreachableStrategy"] == "disabled"


_names = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


@st.composite
def app_definitions(draw: st.DrawFn) -> dict[str, Any]:
    ports: list[dict[str, str]] = draw(
        st.lists(st.fixed_dictionaries({"name": _names}), max_size=3, unique_by=lambda d: d["name"])
    )
    definition: dict[str, Any] = {
        "id": "/" + "/".join(draw(st.lists(_names, min_size=1, max_size=3))),
        "instances": draw(st.integers(0, 50)),
        "cpus": draw(st.sampled_from([0.1, 0.25, 1, 2])),
        "mem": draw(st.integers(0, 4096)),
        "portDefinitions": ports,
        "env": draw(st.dictionaries(st.from_regex(r"[A-Z_]{1,5}", fullmatch=True), st.text())),
        "labels": draw(st.dictionaries(_names, _names, max_size=3)),
        "constraints": draw(
            st.lists(
                st.sampled_from(
                    [["hostname", "UNIQUE"], ["rack", "MAX_PER", "2"], ["zone", "CLUSTER", "a"]]
                ),
                unique_by=tuple,
            )
        ),
        "backoffFactor": draw(st.floats(1, 10)),
    }
    if draw(st.booleans()):
        definition["cmd"] = draw(st.text(min_size=1).filter(str.strip))
    else:
        definition["args"] = draw(st.lists(st.text(), min_size=1, max_size=3))
    with_check: bool = draw(st.booleans())
    if ports and with_check:
        definition["healthChecks"] = [
            {"protocol": "TCP", "portIndex": draw(st.integers(0, len(ports) - 1))}
        ]
    return definition


def _storable(definition: dict[str, Any]) -> bool:
    """Whether every text can be JSON and an environment or argv (no lone
    surrogates, no NUL)."""
    try:
        orjson.dumps(definition)
    except TypeError:
        return False
    return "\\u0000" not in orjson.dumps(definition).decode()


@settings(max_examples=150, deadline=None)
@given(app_definitions())
def test_generated_apps_round_trip(definition: dict[str, Any]) -> None:
    if not _storable(definition):
        with pytest.raises(AppDefinitionError, match=r"lone surrogate|NUL"):
            parse_app(definition)
        return
    parsed = parse_app(definition)
    assert parse_app(parsed.to_json_text()) == parsed
    assert parsed.port_count() == len(definition["portDefinitions"])
