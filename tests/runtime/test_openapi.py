"""The HTTP API against its OpenAPI description: every route is described,
and schemathesis calls every operation of a real master with generated
input, checking each answer (no 5xx, documented status codes, content types
and bodies that match their schemas)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import checks
from support.runtime import small_cluster

from pyactors.api import openapi
from pyactors.api.http import make_app
from pyactors.master.records import MasterConfig
from pyactors.runtime.cluster import Cluster
from pyactors.security.credentials import Credentials

pytestmark = pytest.mark.timeout(600)


class _Unserved:
    """Enough of a master for the router to be built."""

    metrics: Any = None

    def leading_state(self) -> None:
        return None


def test_every_route_is_described() -> None:
    app = make_app(_Unserved())  # type: ignore[arg-type]
    described = openapi.document()["paths"]
    routes = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    missing = sorted(r for r in routes if r[1] not in described.get(r[0], {}))
    assert missing == []
    extra = sorted(
        (path, method)
        for path, operations in described.items()
        for method in operations
        if (path, method) not in routes
    )
    assert extra == []


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster whose master has credentials."""
    config = MasterConfig(credentials=Credentials.load({"ops": "ops-secret"}))
    yield from small_cluster(tmp_path_factory, config=config)


def test_the_api_keeps_its_contract(cluster: Cluster) -> None:
    _keeps_its_contract(cluster.url, {})


def test_the_api_keeps_its_contract_with_credentials(secured: Cluster) -> None:
    """Every operation called with the credentials; schemathesis also calls
    each without them and with wrong ones, expecting a 401."""
    authorization = "Basic " + base64.b64encode(b"ops:ops-secret").decode()
    _keeps_its_contract(secured.url, {"Authorization": authorization})


def _keeps_its_contract(url: str, headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(url + "/openapi.json", headers=headers)
    schema.config.update(base_url=url)
    operations = [result.ok() for result in schema.get_all_operations()]
    described = openapi.document()["paths"]
    # Schemathesis leaves out the path it loaded the document from.
    assert {o.label for o in operations} | {"GET /openapi.json"} == {
        f"{method.upper()} {path}" for path, methods in described.items() for method in methods
    }
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            derandomize=True,
            database=None,
        )
        def keeps_it(case: Any) -> None:
            # A refusal of schema-valid input is the contract for what a
            # schema cannot say (an unknown role, an over-reservation): a
            # 400 with the error body, which the other checks validate.
            case.call_and_validate(
                headers=headers, excluded_checks=[checks.positive_data_acceptance]
            )

        keeps_it()
