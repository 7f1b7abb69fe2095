"""Resource bundles in plain Python: the executable specification of the Rust
`Resources` (`rust/resources/`).

A bundle is a canonical, sorted tuple of entries, one per key (name, role,
principal, volume). Every constructor canonicalises, so equality, hashing and
printing only ever see one representation of a bundle.

`PyResources` and the Rust `pyactors._core.Resources` must agree on every
result and every error message; `tests/unit/test_resources.py` checks that
they do.

The package, by concern:

* `values`: scalars (integer millis), ranges and sets, their text syntax and
  arithmetic; the bounds are production's (`pyactors.core.scalars`);
* `entries`: an entry's key (name, role, principal, volume), role names;
* `python_forms`: entries read from the dict form and Mesos's JSON form;
* `bundle`: `PyResources` itself.
"""

from pyactors._reference.resources.bundle import PyResources
from pyactors._reference.resources.entries import (
    Key,
    Resource,
    is_ancestor_or_self,
    validate_role,
)
from pyactors._reference.resources.python_forms import EXPECTED_VALUE
from pyactors._reference.resources.values import (
    Value,
    format_millis,
    parse_scalar_text,
    parse_value_text,
    ranges_from_pairs,
    scalar_from_units,
    set_from_items,
)
from pyactors.core.scalars import MAX_MILLIS, scalar_from_float

__all__ = [
    "EXPECTED_VALUE",
    "MAX_MILLIS",
    "Key",
    "PyResources",
    "Resource",
    "Value",
    "format_millis",
    "is_ancestor_or_self",
    "parse_scalar_text",
    "parse_value_text",
    "ranges_from_pairs",
    "scalar_from_float",
    "scalar_from_units",
    "set_from_items",
    "validate_role",
]
