"""Resource bundles: one suite run against both implementations, plus differential
tests that make the Rust `Resources` and the Python `PyResources` agree on
random input, results and error messages alike."""

from __future__ import annotations

import json
import math
import pickle
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# Imported through the package so that import sorting does not depend on
# whether the extension (or its stub) is present.
from pyactors import _core
from pyactors._reference import resources as reference
from pyactors._reference.resources import PyResources
from pyactors.errors import ResourceError

Resources = _core.Resources


@pytest.fixture(params=[Resources, PyResources], ids=["rust", "python"])
def cls(request: pytest.FixtureRequest) -> type:
    return request.param


def error_of(action: Callable[[], object]) -> str:
    with pytest.raises(ResourceError) as caught:
        action()
    return str(caught.value)


# -- text -----------------------------------------------------------------------

CANONICAL = [
    (
        "cpus:2;mem:1024;disk:4096;gpus:1;ports:[31000-31999];cpus(eng):1",
        "cpus:2;cpus(eng):1;disk:4096;gpus:1;mem:1024;ports:[31000-31999]",
    ),
    ("", ""),
    (" ; ;; ", ""),
    ("  cpus : 2 ; mem:1 ", "cpus:2;mem:1"),
    ("cpus(eng,alice):1", "cpus(eng,alice):1"),
    ("disk(eng,alice)[vol-1]:1024", "disk(eng,alice)[vol-1]:1024"),
    ("disk(eng)[v@1]:1", "disk(eng)[v@1]:1"),
    ("cpus(*):1", "cpus:1"),
    ("zones:{b, a}", "zones:{a,b}"),
    ("zones:{rack:1/a}", "zones:{rack:1/a}"),
    ("ports:[4-6,1-3]", "ports:[1-6]"),
    ("ports:[ 1 - 3 , 5-5 ]", "ports:[1-3,5-5]"),
    (
        "cpus(b):1;cpus(a,p):1;cpus(a):1;cpus:1;cpus(A):1;Cpus:1",
        "Cpus:1;cpus:1;cpus(A):1;cpus(a):1;cpus(a,p):1;cpus(b):1",
    ),
    ("cpus:0;ports:[];zones:{};mem:0.0004", ""),
    ("cpus:0;cpus(eng):[1-2]", "cpus(eng):[1-2]"),
    ("cpus:0.0005", "cpus:0.001"),
    ("cpus:1.2345", "cpus:1.235"),
    ("cpus:.5", "cpus:0.5"),
    ("cpus:1.250", "cpus:1.25"),
    ("cpus:0.9995", "cpus:1"),
    ("cpus:007", "cpus:7"),
    ("cpus:1;cpus:2", "cpus:3"),
    ("ports:[1-2];ports:[3-4]", "ports:[1-4]"),
    ("zones:{a};zones:{b}", "zones:{a,b}"),
    ("mem:1000000000000", "mem:1000000000000"),
    (
        "ports:[18446744073709551615-18446744073709551615]",
        "ports:[18446744073709551615-18446744073709551615]",
    ),
    ("a.b-c_d/e:1", "a.b-c_d/e:1"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_canonical_text(cls: type, text: str, canonical: str) -> None:
    bundle = cls.parse(text)
    assert str(bundle) == canonical
    assert cls.parse(canonical) == bundle


BAD_TEXT = [
    ("cpus:abc", "invalid scalar 'abc' in 'cpus:abc'"),
    ("cpus:-1", "negative quantity '-1' in 'cpus:-1'"),
    ("cpus:-x", "invalid scalar '-x' in 'cpus:-x'"),
    ("cpus:nan", "invalid scalar 'nan' in 'cpus:nan'"),
    ("cpus:inf", "invalid scalar 'inf' in 'cpus:inf'"),
    ("cpus:1e5", "invalid scalar '1e5' in 'cpus:1e5'"),
    ("cpus:1.", "invalid scalar '1.' in 'cpus:1.'"),
    ("cpus:+1", "invalid scalar '+1' in 'cpus:+1'"),
    ("cpus:", "invalid scalar '' in 'cpus:'"),
    ("cpus:\u0661", "invalid scalar '\u0661' in 'cpus:\u0661'"),
    (
        "mem:1000000000000.0005",
        "quantity '1000000000000.0005' above the maximum 1000000000000 in 'mem:1000000000000.0005'",
    ),
    (
        "mem:" + "9" * 5000,
        f"quantity '{'9' * 5000}' above the maximum 1000000000000 in 'mem:{'9' * 5000}'",
    ),
    (
        "ports:[31000-31005,31003-31010]",
        "overlapping ranges 31000-31005 and 31003-31010 in 'ports:[31000-31005,31003-31010]'",
    ),
    ("ports:[1-3,4-6,5-8]", "overlapping ranges 4-6 and 5-8 in 'ports:[1-3,4-6,5-8]'"),
    ("ports:[5-3]", "invalid range '5-3': begin above end in 'ports:[5-3]'"),
    ("ports:[1-2,]", "invalid range '' in 'ports:[1-2,]'"),
    ("ports:[1-2", "invalid ranges '[1-2' in 'ports:[1-2'"),
    ("ports:[5]", "invalid range '5' in 'ports:[5]'"),
    ("ports:[-1-5]", "invalid range '-1-5' in 'ports:[-1-5]'"),
    (
        "ports:[0-18446744073709551616]",
        "range bound 18446744073709551616 out of bounds in 'ports:[0-18446744073709551616]'",
    ),
    ("zones:{a,a}", "duplicate set item 'a' in 'zones:{a,a}'"),
    ("zones:{a,}", "invalid set item '' in 'zones:{a,}'"),
    ("zones:{a b}", "invalid set item 'a b' in 'zones:{a b}'"),
    ("zones:{a", "invalid set '{a' in 'zones:{a'"),
    ("cpus", "missing ':' in 'cpus'"),
    (":1", "invalid resource name '' in ':1'"),
    ("cp us:1", "invalid resource name 'cp us' in 'cp us:1'"),
    ("cpus(..):1", "invalid role '..' in 'cpus(..):1'"),
    ("cpus(.):1", "invalid role '.' in 'cpus(.):1'"),
    ("cpus():1", "invalid role '' in 'cpus():1'"),
    ("cpus(a//b):1", "invalid role 'a//b' in 'cpus(a//b):1'"),
    ("cpus(a/):1", "invalid role 'a/' in 'cpus(a/):1'"),
    ("cpus(-a):1", "invalid role '-a' in 'cpus(-a):1'"),
    ("cpus(a,b,c):1", "invalid resource key 'cpus(a,b,c)' in 'cpus(a,b,c):1'"),
    ("cpus(a:1", "invalid resource key 'cpus(a' in 'cpus(a:1'"),
    ("cpus(a)x:1", "invalid resource key 'cpus(a)x' in 'cpus(a)x:1'"),
    ("disk[v](a):1", "invalid resource key 'disk[v](a)' in 'disk[v](a):1'"),
    ("cpus(a,):1", "invalid principal '' in 'cpus(a,):1'"),
    ("cpus(a,b c):1", "invalid principal 'b c' in 'cpus(a,b c):1'"),
    (
        "cpus(*,alice):1",
        "principal 'alice' requires a reserved role in 'cpus(*,alice):1'",
    ),
    ("mem(eng)[v]:1", "volume 'v' is only allowed for disk in 'mem(eng)[v]:1'"),
    ("disk[v]:1", "volume 'v' requires a reservation in 'disk[v]:1'"),
    ("disk(eng)[]:1", "invalid volume '' in 'disk(eng)[]:1'"),
    (
        "ports:[1-6];ports:[5-10]",
        "cannot add ports:[5-10] to ports:[1-6]: overlapping ranges 1-6 and 5-10",
    ),
    (
        "cpus:1;cpus(eng):[1-2]",
        "conflicting types for 'cpus': cpus:1 is a scalar, cpus(eng):[1-2] is ranges",
    ),
    ("cpus:1;cpus:{a}", "conflicting types for 'cpus': cpus:1 is a scalar, cpus:{a} is a set"),
    (
        "mem:1000000000000;mem:1",
        "cannot add mem:1 to mem:1000000000000: total above the maximum 1000000000000",
    ),
    ("zones:{a,b};zones:{b}", "cannot add zones:{b} to zones:{a,b}: item 'b' in both"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TEXT)
def test_bad_text(cls: type, text: str, message: str) -> None:
    assert error_of(lambda: cls.parse(text)) == message


def test_resource_error_is_a_value_error(cls: type) -> None:
    with pytest.raises(ValueError):
        cls.parse("cpus:x")


def test_parse_wants_a_string(cls: type) -> None:
    with pytest.raises(TypeError):
        cls.parse(5)


def test_empty_bundle(cls: type) -> None:
    empty = cls()
    assert str(empty) == ""
    assert not empty
    assert empty.is_empty()
    assert len(empty) == 0
    assert empty == cls.parse("")
    assert cls.parse("cpus:1")
    assert not cls.parse("cpus:1").is_empty()


def test_repr(cls: type) -> None:
    assert repr(cls.parse("mem:1024;cpus:2")) == f"{cls.__name__}('cpus:2;mem:1024')"


# -- arithmetic -------------------------------------------------------------------


def test_fixed_point_sums_are_exact(cls: type) -> None:
    assert cls.parse("cpus:0.1") + cls.parse("cpus:0.2") == cls.parse("cpus:0.3")
    total = cls()
    for _ in range(10):
        total = total + cls.parse("cpus:0.1")
    assert str(total) == "cpus:1"
    assert total.scalar("cpus") == 1.0


def test_add_and_subtract(cls: type) -> None:
    a = cls.parse("cpus:4;mem:1024;ports:[1-10];zones:{a}")
    b = cls.parse("cpus:1.5;cpus(eng):1;ports:[11-20];zones:{b}")
    total = a + b
    assert str(total) == "cpus:5.5;cpus(eng):1;mem:1024;ports:[1-20];zones:{a,b}"
    assert total - b == a
    assert total - a == b
    assert total - total == cls()
    assert a + cls() == a
    assert cls() + a == a
    assert a - cls() == a
    assert str(cls.parse("ports:[1-10]") - cls.parse("ports:[3-4,6-6]")) == "ports:[1-2,5-5,7-10]"
    assert str(cls.parse("ports:[1-10,20-30]") - cls.parse("ports:[1-10,25-30]")) == (
        "ports:[20-24]"
    )
    top = cls.parse("ports:[18446744073709551615-18446744073709551615]")
    below = cls.parse("ports:[18446744073709551613-18446744073709551614]")
    assert str(top + below) == "ports:[18446744073709551613-18446744073709551615]"
    assert top + below - top == below


BAD_ARITHMETIC = [
    ("cpus:4", "-", "cpus(eng):2", "cannot subtract cpus(eng):2: not contained in cpus:4"),
    ("", "-", "cpus:1", "cannot subtract cpus:1: not contained in empty resources"),
    ("cpus:1", "-", "cpus:1.001", "cannot subtract cpus:1.001: not contained in cpus:1"),
    (
        "ports:[1-5]",
        "-",
        "ports:[5-6]",
        "cannot subtract ports:[5-6]: not contained in ports:[1-5]",
    ),
    (
        "ports:[1-5]",
        "+",
        "ports:[5-6]",
        "cannot add ports:[5-6] to ports:[1-5]: overlapping ranges 1-5 and 5-6",
    ),
    ("zones:{a,b}", "+", "zones:{b,c}", "cannot add zones:{b,c} to zones:{a,b}: item 'b' in both"),
    (
        "cpus:1",
        "+",
        "cpus(eng):{a}",
        "conflicting types for 'cpus': cpus:1 is a scalar, cpus(eng):{a} is a set",
    ),
    (
        "mem:999999999999.999",
        "+",
        "mem:0.002",
        "cannot add mem:0.002 to mem:999999999999.999: total above the maximum 1000000000000",
    ),
]


@pytest.mark.parametrize(("left", "op", "right", "message"), BAD_ARITHMETIC)
def test_bad_arithmetic_leaves_operands_unchanged(
    cls: type, left: str, op: str, right: str, message: str
) -> None:
    a, b = cls.parse(left), cls.parse(right)
    assert error_of(lambda: a + b if op == "+" else a - b) == message
    assert str(a) == str(cls.parse(left))
    assert str(b) == str(cls.parse(right))


def test_foreign_operands_are_not_implemented(cls: type) -> None:
    bundle = cls.parse("cpus:1")
    with pytest.raises(TypeError):
        bundle + 1
    with pytest.raises(TypeError):
        bundle - "cpus:1"
    with pytest.raises(TypeError):
        bundle <= 1  # noqa: B015
    assert bundle != "cpus:1"
    assert not bundle == 1  # noqa: SIM201


def test_containment_and_order(cls: type) -> None:
    a = cls.parse("cpus:4;mem:1024;ports:[1-10];cpus(eng):1")
    assert a.contains(cls.parse("cpus:4;ports:[2-3,5-9]"))
    assert a.contains(cls())
    assert not a.contains(cls.parse("cpus:4.001"))
    assert not a.contains(cls.parse("ports:[10-11]"))
    assert not a.contains(cls.parse("cpus(ops):1"))
    assert not a.contains(cls.parse("cpus(eng,p):1"))
    assert not cls.parse("ports:[1-3,5-6]").contains(cls.parse("ports:[3-5]"))
    assert not cls.parse("cpus:1").contains(cls.parse("cpus:[1-1]"))
    small, big = cls.parse("cpus:1"), cls.parse("cpus:2;mem:1")
    assert small <= big and small < big and big >= small and big > small
    assert not big <= small and not small >= big
    assert small <= small and not small < small and small >= small and not small > small
    other = cls.parse("mem:5")
    assert not other <= big and not big <= other and other != big


def test_equality_and_hash(cls: type) -> None:
    a = cls.parse("mem:1;cpus:0.50")
    b = cls.parse("cpus:.5;mem:1.0")
    assert a == b
    assert (a != b) is False
    assert hash(a) == hash(b) == hash("cpus:0.5;mem:1")
    assert len({a, b, cls.parse("cpus:1")}) == 2
    assert len(a) == 2


def test_immutable(cls: type) -> None:
    bundle = cls.parse("cpus:1")
    with pytest.raises(AttributeError):
        bundle.inner = cls()


# -- filters and totals -------------------------------------------------------------


def test_role_filters(cls: type) -> None:
    bundle = cls.parse("cpus:1;cpus(a):2;cpus(a/b):4;cpus(a/c):8;cpus(ab):16;cpus(a,p):32")
    assert str(bundle.allocatable_to("a/b")) == "cpus:1;cpus(a):2;cpus(a,p):32;cpus(a/b):4"
    assert str(bundle.allocatable_to("a/b/c")) == "cpus:1;cpus(a):2;cpus(a,p):32;cpus(a/b):4"
    assert str(bundle.allocatable_to("a")) == "cpus:1;cpus(a):2;cpus(a,p):32"
    assert str(bundle.allocatable_to("ab")) == "cpus:1;cpus(ab):16"
    assert str(bundle.allocatable_to("*")) == "cpus:1"
    assert str(bundle.unreserved()) == "cpus:1"
    assert str(bundle.reserved("a")) == "cpus(a):2;cpus(a,p):32"
    assert str(bundle.reserved(role="a/b")) == "cpus(a/b):4"
    assert str(bundle.reserved("*")) == ""
    assert len(bundle.reserved()) == 5
    assert len(bundle.reserved(None)) == 5


def test_totals(cls: type) -> None:
    bundle = cls.parse("cpus:1;cpus(eng):0.5;mem:10;ports:[1-2];zones:{a}")
    assert bundle.scalar("cpus") == 1.5
    assert bundle.scalar("ports") == 0.0
    assert bundle.scalar("gpus") == 0.0
    totals = bundle.totals()
    assert totals == {"cpus": 1.5, "mem": 10.0}
    assert list(totals) == ["cpus", "mem"]
    assert bundle.names() == ["cpus", "mem", "ports", "zones"]
    assert str(bundle.scalars()) == "cpus:1;cpus(eng):0.5;mem:10"


# -- dict, JSON and pickle forms -------------------------------------------------------


def test_from_dict(cls: type) -> None:
    bundle = cls.from_dict(
        {
            "cpus": 2,
            "cpus(eng)": "1.5",
            "mem": 0.1,
            "gpus": 0.0005,
            "disk(eng,alice)[v1]": 10,
            "ports": [[31000, 31005], (31006, 31010)],
            "zones": ["b", "a"],
            "zones(eng)": "{c}",
            "ports(eng)": "[1-2]",
            "cpus(*)": 1,
        }
    )
    assert str(bundle) == (
        "cpus:3;cpus(eng):1.5;disk(eng,alice)[v1]:10;gpus:0.001;mem:0.1;"
        "ports:[31000-31010];ports(eng):[1-2];zones:{a,b};zones(eng):{c}"
    )
    assert cls.from_dict({}) == cls()
    assert cls.from_dict({"ports": [], "cpus": 0}) == cls()


def test_to_dict(cls: type) -> None:
    bundle = cls.parse("cpus:1.5;disk(eng,alice)[v1]:10;ports:[1-2,4-5];zones:{b,a}")
    data = bundle.to_dict()
    assert data == {
        "cpus": 1.5,
        "disk(eng,alice)[v1]": 10.0,
        "ports": [[1, 2], [4, 5]],
        "zones": ["a", "b"],
    }
    assert all(type(data[key]) is float for key in ("cpus", "disk(eng,alice)[v1]"))
    assert cls.from_dict(data) == bundle


BAD_DICTS = [
    ([1], "expected a dict, got list"),
    ({1: 2}, "invalid key 1: expected a string"),
    ({"cpus": True}, "invalid value True: " + reference.EXPECTED_VALUE + " in 'cpus'"),
    ({"cpus": None}, "invalid value None: " + reference.EXPECTED_VALUE + " in 'cpus'"),
    (
        {"ports": [[1, "2"]]},
        "invalid value [[1, '2']]: " + reference.EXPECTED_VALUE + " in 'ports'",
    ),
    (
        {"ports": [[1, 2, 3]]},
        "invalid value [[1, 2, 3]]: " + reference.EXPECTED_VALUE + " in 'ports'",
    ),
    (
        {"ports": [[True, 2]]},
        "invalid value [[True, 2]]: " + reference.EXPECTED_VALUE + " in 'ports'",
    ),
    ({"cpus": -1}, "negative quantity -1 in 'cpus'"),
    ({"cpus": -0.5}, "negative quantity -0.5 in 'cpus'"),
    ({"cpus": math.nan}, "invalid scalar nan in 'cpus'"),
    ({"cpus": math.inf}, "invalid scalar inf in 'cpus'"),
    ({"mem": 10**12 + 1}, "quantity 1000000000001 above the maximum 1000000000000 in 'mem'"),
    ({"mem": 10**30}, f"quantity {10**30} above the maximum 1000000000000 in 'mem'"),
    ({"mem": -(10**30)}, f"negative quantity {-(10**30)} in 'mem'"),
    ({"mem": 1e13}, "quantity 10000000000000.0 above the maximum 1000000000000 in 'mem'"),
    ({"mem": 1e306}, "quantity 1e+306 above the maximum 1000000000000 in 'mem'"),
    ({"cpus": "abc"}, "invalid scalar 'abc' in 'cpus:abc'"),
    ({"cpus(..)": 1}, "invalid role '..' in 'cpus(..)'"),
    ({"ports": [[-1, 5]]}, "range bound -1 out of bounds in 'ports'"),
    ({"ports": [[1, 2**64]]}, f"range bound {2**64} out of bounds in 'ports'"),
    ({"ports": [[5, 3]]}, "invalid range '5-3': begin above end in 'ports'"),
    ({"ports": [[1, 5], [5, 6]]}, "overlapping ranges 1-5 and 5-6 in 'ports'"),
    ({"zones": ["a", "a"]}, "duplicate set item 'a' in 'zones'"),
    ({"zones": ["a b"]}, "invalid set item 'a b' in 'zones'"),
    (
        {"cpus": 1, "cpus(eng)": [[1, 2]]},
        "conflicting types for 'cpus': cpus:1 is a scalar, cpus(eng):[1-2] is ranges",
    ),
    (
        {"cpus": 1, "cpus(*)": "[1-2]"},
        "conflicting types for 'cpus': cpus:1 is a scalar, cpus:[1-2] is ranges",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_DICTS)
def test_bad_dicts(cls: type, data: object, message: str) -> None:
    assert error_of(lambda: cls.from_dict(data)) == message


def test_to_json(cls: type) -> None:
    bundle = cls.parse("cpus:1.5;disk(eng,alice)[v1]:10;ports(eng):[1-2];zones:{b,a}")
    assert bundle.to_json() == [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}, "role": "*"},
        {
            "name": "disk",
            "type": "SCALAR",
            "scalar": {"value": 10.0},
            "role": "eng",
            "reservation": {"principal": "alice"},
            "disk": {"persistence": {"id": "v1"}},
        },
        {
            "name": "ports",
            "type": "RANGES",
            "ranges": {"range": [{"begin": 1, "end": 2}]},
            "role": "eng",
        },
        {"name": "zones", "type": "SET", "set": {"item": ["a", "b"]}, "role": "*"},
    ]
    text = json.dumps(bundle.to_json())
    assert cls.from_json(text) == bundle
    assert cls.from_json(bundle.to_json()) == bundle
    assert cls.from_json([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}}]) == (
        cls.parse("cpus:2")
    )
    assert cls.from_json("[]") == cls()


def scalar_json(**fields: object) -> dict[str, object]:
    return {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, **fields}


BAD_JSON = [
    ("[", "invalid JSON: Expecting value: line 1 column 2 (char 1)"),
    ("{}", "expected a list of resources, got dict"),
    (5, "expected a list of resources, got int"),
    ([5], "expected an object, got int in resource #0"),
    ([scalar_json(), scalar_json(revocable={})], "unknown field 'revocable' in resource #1"),
    ([{"type": "SCALAR"}], "missing field 'name' in resource #0"),
    ([{"name": 1}], "field 'name' must be a string in resource #0"),
    ([{"name": "cpus"}], "missing field 'type' in resource #0"),
    (
        [scalar_json(type="TEXT")],
        "unknown type 'TEXT': expected SCALAR, RANGES or SET in resource #0",
    ),
    ([scalar_json(type="RANGES")], "field 'scalar' does not match type RANGES in resource #0"),
    ([{"name": "cpus", "type": "SET"}], "missing field 'set' in resource #0"),
    ([scalar_json(role=1)], "field 'role' must be a string in resource #0"),
    ([scalar_json(role="a b")], "invalid role 'a b' in resource #0"),
    (
        [scalar_json(role="eng", reservation={})],
        "field 'reservation' must be {\"principal\": string} in resource #0",
    ),
    (
        [scalar_json(reservation={"principal": "p"})],
        "principal 'p' requires a reserved role in resource #0",
    ),
    (
        [scalar_json(role="eng", disk={"persistence": {"id": 1}})],
        'field \'disk\' must be {"persistence": {"id": string}} in resource #0',
    ),
    (
        [scalar_json(role="eng", disk={"persistence": {"id": "v"}})],
        "volume 'v' is only allowed for disk in resource #0",
    ),
    (
        [scalar_json(scalar={"value": "1"})],
        "field 'scalar' must be {\"value\": number} in resource #0",
    ),
    (
        [scalar_json(scalar={"value": 1, "x": 2})],
        "field 'scalar' must be {\"value\": number} in resource #0",
    ),
    ([scalar_json(scalar={"value": -1.5})], "negative quantity -1.5 in resource #0"),
    (
        [{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1}]}}],
        'field \'ranges\' must be {"range": [{"begin": integer, "end": integer}]} in resource #0',
    ),
    (
        [{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 3, "end": 1}]}}],
        "invalid range '3-1': begin above end in resource #0",
    ),
    (
        [{"name": "zones", "type": "SET", "set": {"item": [1]}}],
        "field 'set' must be {\"item\": [string]} in resource #0",
    ),
    (
        [{"name": "zones", "type": "SET", "set": {"item": ["a", "a"]}}],
        "duplicate set item 'a' in resource #0",
    ),
    (
        [scalar_json(), scalar_json(scalar={"value": 1e12})],
        "cannot add cpus:1000000000000 to cpus:1: total above the maximum 1000000000000",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_JSON)
def test_bad_json(cls: type, data: object, message: str) -> None:
    assert error_of(lambda: cls.from_json(data)) == message


def test_pickle(cls: type) -> None:
    for text in ["", "cpus:0.5;disk(eng,alice)[v1]:10;ports:[1-2,4-5];zones:{a,b}"]:
        bundle = cls.parse(text)
        restored = pickle.loads(pickle.dumps(bundle))
        assert type(restored) is cls
        assert restored == bundle
        assert bundle.__reduce__() == (cls.parse, (str(bundle),))


# -- the Python twin's helpers ---------------------------------------------------------


def test_reference_helpers() -> None:
    assert reference.is_ancestor_or_self("a", "a")
    assert reference.is_ancestor_or_self("a", "a/b")
    assert not reference.is_ancestor_or_self("a", "ab")
    assert not reference.is_ancestor_or_self("a/b", "a")
    assert not reference.is_ancestor_or_self("a/b", "a/c")
    reference.validate_role("*")
    reference.validate_role("a/b.c/d-e")
    with pytest.raises(ResourceError, match=re.escape("invalid role 'a/./b'")):
        reference.validate_role("a/./b")
    assert reference.format_millis(-1500) == "-1.5"
    assert reference.format_millis(1250) == "1.25"
    assert reference.parse_scalar_text("2.5") == 2500
    bundle = PyResources.parse("cpus:1;cpus(eng):0.5;mem:10;ports:[1-2]")
    assert bundle.scalar_millis("cpus") == 1500
    assert bundle.totals_millis() == [("cpus", 1500), ("mem", 10_000)]
    assert bundle.checked_add(PyResources.parse("mem:1")) == bundle + PyResources.parse("mem:1")
    assert bundle.checked_sub(PyResources.parse("mem:1")) == bundle - PyResources.parse("mem:1")
    assert PyResources.from_entries(list(bundle)) == bundle
    assert [str(entry) for entry in bundle] == ["cpus:1", "cpus(eng):0.5", "mem:10", "ports:[1-2]"]


def test_reference_from_entries_validates() -> None:
    entries = [
        reference.Resource("ports", "*", None, None, ((5, 6), (1, 4))),
        reference.Resource("ports", None, None, None, ((8, 9),)),
    ]
    assert str(PyResources.from_entries(entries)) == "ports:[1-6,8-9]"
    negative = reference.Resource("cpus", None, None, None, -5)
    assert error_of(lambda: PyResources.from_entries([negative])) == (
        "negative quantity -0.005 in 'cpus'"
    )
    bad_role = reference.Resource("ports", "a b", None, None, ())
    assert error_of(lambda: PyResources.from_entries([bad_role])) == (
        "invalid role 'a b' in 'ports(a b)'"
    )


# -- differential tests ---------------------------------------------------------------

NAMES = ["cpus", "mem", "disk", "ports", "zones"]
NATURAL_TYPE = {
    "cpus": "scalar",
    "mem": "scalar",
    "disk": "scalar",
    "ports": "ranges",
    "zones": "set",
}

scalar_texts = st.one_of(
    st.integers(0, 3000).map(reference.format_millis),
    st.integers(0, 10**8).map(lambda n: f"{n // 10**4}.{n % 10**4:04d}"),
    st.sampled_from(["999999999999.999", "1000000000000", "0", "-1", "x", ".5"]),
)
range_lists = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 8)).map(lambda p: (p[0], p[0] + p[1])),
    max_size=4,
)
range_texts = range_lists.map(lambda rs: "[" + ",".join(f"{b}-{e}" for b, e in rs) + "]")
set_texts = st.lists(st.sampled_from("abcde"), max_size=4).map(lambda xs: "{" + ",".join(xs) + "}")
VALUE_TEXTS = {"scalar": scalar_texts, "ranges": range_texts, "set": set_texts}


@st.composite
def entry_texts(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(NAMES))
    # Mostly the name's own type; sometimes another, to provoke type conflicts.
    kind = draw(st.sampled_from([NATURAL_TYPE[name]] * 6 + ["scalar", "ranges", "set"]))
    role = draw(st.sampled_from(["*", "*", "eng", "eng/ml", "ops", "a", "a/b"]))
    principal = draw(st.sampled_from([None, None, "alice", "bob"]))
    # Now and then a principal or a volume where none is allowed.
    if role == "*" and draw(st.integers(0, 19)) > 0:
        principal = None
    key = name
    if principal is not None:
        key += f"({role},{principal})"
    elif role != "*" or draw(st.booleans()):
        key += f"({role})"
    volume_allowed = name == "disk" and role != "*"
    if draw(st.integers(0, 3 if volume_allowed else 40)) == 0:
        key += draw(st.sampled_from(["[v1]", "[v2]"]))
    return f"{key}:{draw(VALUE_TEXTS[kind])}"


bundle_texts = st.lists(entry_texts(), max_size=6).map(";".join)


def outcome(action: Callable[[], Any]) -> tuple[str, Any]:
    """The result of an action, or its error message, comparable across twins."""
    try:
        result = action()
    except ResourceError as err:
        return "error", str(err)
    if isinstance(result, Resources | PyResources):
        return "bundle", str(result)
    return "value", result


def parse_both(text: str) -> tuple[tuple[str, Any], Resources | None, PyResources | None]:
    rust, python = outcome(lambda: Resources.parse(text)), outcome(lambda: PyResources.parse(text))
    assert rust == python, text
    if rust[0] == "error":
        return rust, None, None
    return rust, Resources.parse(text), PyResources.parse(text)


@settings(max_examples=300, deadline=None)
@given(bundle_texts, bundle_texts)
def test_twins_agree_on_arithmetic(left: str, right: str) -> None:
    _, rust_a, py_a = parse_both(left)
    _, rust_b, py_b = parse_both(right)
    if rust_a is None or rust_b is None:
        return
    for operation in [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: b - a,
        lambda a, b: a == b,
        lambda a, b: a != b,
        lambda a, b: a <= b,
        lambda a, b: a < b,
        lambda a, b: a >= b,
        lambda a, b: a > b,
        lambda a, b: a.contains(b),
        lambda a, b: (a + b) - b == a,
        lambda a, b: (a + b) - a,
    ]:
        assert outcome(lambda op=operation: op(rust_a, rust_b)) == outcome(
            lambda op=operation: op(py_a, py_b)
        )


@settings(max_examples=300, deadline=None)
@given(bundle_texts, st.sampled_from(["*", "eng", "eng/ml", "eng/ml/x", "a", "a/b", "ab"]))
def test_twins_agree_on_queries(text: str, role: str) -> None:
    _, rust, python = parse_both(text)
    if rust is None:
        return
    assert str(rust) == str(python)
    assert hash(rust) == hash(python)
    assert len(rust) == len(python)
    assert bool(rust) == bool(python)
    assert rust.totals() == python.totals()
    assert rust.names() == python.names()
    for name in NAMES:
        assert rust.scalar(name) == python.scalar(name)
    for query in [
        lambda r: r.unreserved(),
        lambda r: r.reserved(),
        lambda r: r.reserved(role),
        lambda r: r.allocatable_to(role),
        lambda r: r.scalars(),
    ]:
        assert str(query(rust)) == str(query(python))
    assert rust.to_dict() == python.to_dict()
    assert rust.to_json() == python.to_json()


@settings(max_examples=300, deadline=None)
@given(bundle_texts)
def test_round_trips(text: str) -> None:
    _, rust, python = parse_both(text)
    if rust is None:
        return
    for bundle in (rust, python):
        cls = type(bundle)
        assert cls.parse(str(bundle)) == bundle
        assert cls.from_dict(bundle.to_dict()) == bundle
        assert cls.from_json(bundle.to_json()) == bundle
        assert cls.from_json(json.dumps(bundle.to_json())) == bundle
        assert pickle.loads(pickle.dumps(bundle)) == bundle
    assert PyResources.from_json(rust.to_json()) == python
    assert Resources.from_dict(python.to_dict()) == rust


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="cpusmemdiskports:;,()[]{}-.0123456789*/ @ab\t", max_size=30))
def test_twins_agree_on_any_text(text: str) -> None:
    parse_both(text)


dict_values = st.one_of(
    st.integers(-5, 5),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 10, allow_nan=False),
    st.booleans(),
    st.none(),
    scalar_texts,
    range_texts,
    set_texts,
    st.lists(st.tuples(st.integers(-1, 20), st.integers(-1, 20)).map(list), max_size=3),
    st.lists(st.sampled_from(["a", "b", "c", "a b"]), max_size=3),
    st.lists(st.one_of(st.integers(0, 3), st.text("ab", max_size=2)), max_size=3),
)
dict_keys = st.sampled_from(
    [
        "cpus",
        "cpus(eng)",
        "cpus(*)",
        "ports",
        "ports(eng,p)",
        "zones",
        "disk(eng)[v]",
        "x y",
        "mem(..)",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(dict_keys, dict_values, max_size=4))
def test_twins_agree_on_dicts(data: dict[str, object]) -> None:
    assert outcome(lambda: Resources.from_dict(data)) == outcome(
        lambda: PyResources.from_dict(data)
    )


json_fields = st.sampled_from(
    ["name", "type", "scalar", "ranges", "set", "role", "reservation", "disk", "extra"]
)
json_values = st.one_of(
    st.sampled_from(["cpus", "ports", "disk", "SCALAR", "RANGES", "SET", "eng", "*", "a b"]),
    st.integers(-2, 5),
    st.floats(-1, 5),
    st.none(),
    st.just({"value": 2.5}),
    st.just({"value": "2"}),
    st.just({"range": [{"begin": 1, "end": 3}]}),
    st.just({"range": [{"begin": 3, "end": 1}]}),
    st.just({"item": ["a", "b"]}),
    st.just({"principal": "alice"}),
    st.just({"persistence": {"id": "v1"}}),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(bundle_texts, max_size=2),
    st.lists(st.tuples(st.integers(0, 3), json_fields, st.none() | json_values), max_size=3),
)
def test_twins_agree_on_json(texts: list[str], edits: list[tuple[int, str, object]]) -> None:
    """Valid JSON forms, then edited: fields dropped (None) or replaced."""
    items: list[Any] = []
    for text in texts:
        try:
            items.extend(PyResources.parse(text).to_json())
        except ResourceError:
            continue
    for index, field, value in edits:
        if not items:
            break
        item = items[index % len(items)]
        if value is None:
            item.pop(field, None)
        else:
            item[field] = value
    assert outcome(lambda: Resources.from_json(items)) == outcome(
        lambda: PyResources.from_json(items)
    )
    text = json.dumps(items)
    assert outcome(lambda: Resources.from_json(text)) == outcome(
        lambda: PyResources.from_json(text)
    )
