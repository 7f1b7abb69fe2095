"""What the service framework's state machine tests build: offers to the
services framework and app definitions."""

from __future__ import annotations

import itertools
from typing import Any

from pyactors import Resources
from pyactors.core.offer import OfferInfo


class Offers:
    """Offers to the services framework, each with an id of its own, of
    `resources` unless a call names others; the agent is its own hostname."""

    def __init__(self, resources: str) -> None:
        self.resources = resources
        self._serial = itertools.count(1)

    def __call__(
        self, agent: str = "a1", resources: str | None = None, **attributes: str
    ) -> OfferInfo:
        bundle = Resources.parse(resources or self.resources)
        offer_id = f"o{next(self._serial)}"
        return OfferInfo(offer_id, "fw", agent, "services", bundle, agent, dict(attributes))


def app(instances: int, **fields: Any) -> dict[str, Any]:
    """Marathon's JSON of the app /web (`fields` added or replaced)."""
    return {"id": "/web", "cmd": "serve", "cpus": 0.5, "mem": 64, "instances": instances} | fields
