"""ACLs as Mesos's local authorizer decides them: first match wins,
permissive, ANY/NONE, a caller without a principal, aliases, bad input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from pyactors import AuthorizationError, InvalidArgumentError, PyactorsError
from pyactors.security import ACTIONS, Acls

WEB_ONLY = {
    "permissive": False,
    "register_frameworks": [
        {"principals": {"values": ["web"]}, "roles": {"values": ["web", "shared"]}},
        {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
    ],
}


def test_none_allows_everything() -> None:
    acls = Acls.load(None)
    for action in ACTIONS:
        assert acls.allows(action, None, None)
        assert acls.allows(action, "anyone", "anything")


def test_values_allow_what_they_name_and_permissive_false_denies_the_rest() -> None:
    acls = Acls.load(WEB_ONLY)
    assert acls.allows("register_frameworks", "web", "web")
    assert acls.allows("register_frameworks", "web", "shared")
    assert acls.allows("register_frameworks", "ops", "anything")
    assert not acls.allows("register_frameworks", "web", "ops")
    assert not acls.allows("register_frameworks", "stranger", "web")
    assert not acls.allows("register_frameworks", None, "web")
    # An action without rules falls to `permissive` too.
    assert not acls.allows("run_tasks", "web", "nobody")


def test_permissive_true_allows_what_no_rule_matches() -> None:
    acls = Acls.load({**WEB_ONLY, "permissive": True})
    assert acls.allows("register_frameworks", "stranger", "ops")
    # "web" with role "ops" matches no rule either: values match only what they name.
    assert acls.allows("register_frameworks", "web", "ops")


def test_first_match_wins() -> None:
    deny_first = {
        "run_tasks": [
            {"principals": {"values": ["web"]}, "users": {"type": "NONE"}},
            {"principals": {"values": ["web"]}, "users": {"values": ["nobody"]}},
        ]
    }
    assert not Acls.load(deny_first).allows("run_tasks", "web", "nobody")
    allow_first = {"run_tasks": list(reversed(deny_first["run_tasks"]))}
    acls = Acls.load(allow_first)
    assert acls.allows("run_tasks", "web", "nobody")
    assert not acls.allows("run_tasks", "web", "root")


def test_none_denies_and_any_allows() -> None:
    acls = Acls.load(
        {
            "teardown_frameworks": [
                {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}},
                {"principals": {"type": "ANY"}, "framework_principals": {"type": "NONE"}},
            ]
        }
    )
    assert acls.allows("teardown_frameworks", "ops", "web")
    assert acls.allows("teardown_frameworks", "ops", None)
    assert not acls.allows("teardown_frameworks", "web", "web")
    assert not acls.allows("teardown_frameworks", None, "web")


def test_a_caller_without_principal_matches_only_any_and_none() -> None:
    acls = Acls.load(
        {
            "permissive": True,
            "update_weights": [{"principals": {"values": ["ops"]}, "roles": {"type": "NONE"}}],
            "update_quotas": [{"principals": {"type": "NONE"}, "roles": {"type": "ANY"}}],
            "drain_agents": [{"principals": {"type": "ANY"}, "agents": {"values": ["a1"]}}],
        }
    )
    # A rule naming principals does not match an unauthenticated caller.
    assert acls.allows("update_weights", None, "web")
    assert not acls.allows("update_weights", "ops", "web")
    # NONE matches everyone and allows no one.
    assert not acls.allows("update_quotas", None, "web")
    assert not acls.allows("update_quotas", "ops", "web")
    # ANY allows an unauthenticated caller when the object matches.
    assert acls.allows("drain_agents", None, "a1")
    # A request without an object matches only ANY/NONE objects.
    assert acls.allows("drain_agents", None, None)


def test_set_quotas_is_update_quotas() -> None:
    acls = Acls.load(
        {
            "permissive": False,
            "set_quotas": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
        }
    )
    assert acls.allows("update_quotas", "ops", "web")
    assert acls.allows("set_quotas", "ops", "web")
    assert not acls.allows("update_quotas", "web", "web")
    # The current name's rules come before the older name's.
    both = Acls.load(
        {
            "set_quotas": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
            "update_quotas": [{"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}],
        }
    )
    assert not both.allows("update_quotas", "ops", "web")


def test_view_actions_take_users_or_roles() -> None:
    acls = Acls.load(
        {
            "permissive": False,
            "view_frameworks": [
                {"principals": {"values": ["viewer"]}, "roles": {"values": ["web"]}},
                {"principals": {"values": ["viewer"]}, "users": {"values": ["nobody"]}},
            ],
        }
    )
    assert acls.allows("view_frameworks", "viewer", {"users": "root", "roles": "web"})
    assert acls.allows("view_frameworks", "viewer", {"users": "nobody", "roles": "ops"})
    assert not acls.allows("view_frameworks", "viewer", {"users": "root", "roles": "ops"})
    # A plain string is the user.
    assert acls.allows("view_frameworks", "viewer", "nobody")
    assert not acls.allows("view_frameworks", "viewer", "web")


def test_check_raises_naming_the_acl() -> None:
    acls = Acls.load(WEB_ONLY)
    acls.check("register_frameworks", "web", "web")
    with pytest.raises(AuthorizationError) as raised:
        acls.check("register_frameworks", "web", "ops")
    error = raised.value
    assert isinstance(error, PyactorsError)
    assert error.action == "register_frameworks"
    assert error.principal == "web"
    assert str(error) == (
        "principal 'web' may not register_frameworks with role 'ops' (ACL register_frameworks)"
    )
    with pytest.raises(AuthorizationError, match="an unauthenticated caller may not run_tasks"):
        acls.check("run_tasks", None, "root")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.action, copy.principal) == (
        AuthorizationError,
        str(error),
        "register_frameworks",
        "web",
    )


def test_pickle_round_trip() -> None:
    acls = Acls.load(WEB_ONLY)
    copy = pickle.loads(pickle.dumps(acls))
    assert copy == acls
    assert copy.allows("register_frameworks", "web", "web")
    assert not copy.allows("register_frameworks", "web", "ops")


def test_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "acls.json"
    path.write_text(json.dumps(WEB_ONLY))
    assert Acls.load(path) == Acls.load(str(path)) == Acls.load(WEB_ONLY)


def test_unknown_action_asked_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown ACL action 'fly'"):
        Acls.load(None).allows("fly", "ops", None)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "expected a JSON object"),
        ({"permissive": "no"}, "permissive must be true or false"),
        ({"fly": []}, "unknown ACL action 'fly'"),
        ({"run_tasks": {}}, "acls.run_tasks must be a list"),
        ({"run_tasks": [1]}, r"acls.run_tasks\[0\] must be an object"),
        (
            {"run_tasks": [{"principals": {"type": "ANY"}}]},
            r'run_tasks\[0\] must have "principals"',
        ),
        (
            {"run_tasks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]},
            '"users" and nothing else',
        ),
        (
            {"unreserve_resources": [{"principals": {"type": "ANY"}, "reserver_principals": {}}]},
            '"roles" and nothing else',
        ),
        (
            {"run_tasks": [{"principals": {"type": "ALL"}, "users": {"type": "ANY"}}]},
            r"run_tasks\[0\].principals.type must be one of SOME, ANY, NONE",
        ),
        (
            {"run_tasks": [{"principals": {"values": "web"}, "users": {"type": "ANY"}}]},
            r"run_tasks\[0\].principals.values must be a list",
        ),
        (
            {"run_tasks": [{"principals": {"values": []}, "users": {"type": "ANY"}}]},
            r'run_tasks\[0\].principals: give "values"',
        ),
        (
            {"run_tasks": [{"principals": {"type": "ANY", "values": ["a"]}, "users": {}}]},
            "type ANY takes no values",
        ),
        (
            {"run_tasks": [{"principals": ["web"], "users": {"type": "ANY"}}]},
            r"run_tasks\[0\].principals must be",
        ),
        (
            {
                "run_tasks": [
                    {"principals": {"type": "ANY"}, "users": {"type": "ANY"}},
                    {"principals": {"type": "ANY"}, "users": {"values": ["a"]}, "x": 1},
                ]
            },
            r"run_tasks\[1\]",
        ),
    ],
)
def test_bad_acls_name_the_place(document: Any, says: str) -> None:
    with pytest.raises(InvalidArgumentError, match=says):
        Acls.load(document)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"missing\.json"):
        Acls.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("[")
    with pytest.raises(InvalidArgumentError, match=r"broken\.json is not JSON"):
        Acls.load(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"run_tasks": [3]}')
    with pytest.raises(InvalidArgumentError, match=r"wrong.json.run_tasks\[0\]"):
        Acls.load(wrong)
