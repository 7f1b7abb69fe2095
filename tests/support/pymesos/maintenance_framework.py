"""A pymesos framework that answers inverse offers, for the maintenance
runtime test: run as `python -m support.pymesos.maintenance_framework
MASTER` (PYTHONPATH=tests), it launches one long task, accepts every
inverse offer it gets (printing it as a JSON line, as `framework` prints
every callback) and stops the driver on `{"do": "stop"}`."""

from __future__ import annotations

import json
import sys
from typing import Any

from addict import Dict
from pymesos import MesosSchedulerDriver

from support.pymesos.framework import Recorder, emit


class Maintained(Recorder):
    def inverseOffers(self, driver: Any, offers: list[Any]) -> None:
        emit(
            "inverse_offers",
            agents=[o.agent_id.value for o in offers],
            starts=[o.unavailability.start.nanoseconds for o in offers],
        )
        driver.acceptInverseOffers([o.id for o in offers], {"refuse_seconds": 3600})

    def inverseOfferRescinded(self, driver: Any, offer_id: Any) -> None:
        emit("inverse_offer_rescinded", offer_id=offer_id.value)


def main() -> None:
    framework = Dict()
    framework.user = ""
    framework.name = "pymesos-maintained"
    framework.role = "*"
    scheduler = Maintained()
    scheduler.pending.append({"task_id": "pymesos-task", "command": "sleep 600"})
    driver = MesosSchedulerDriver(scheduler, framework, sys.argv[1], use_addict=True)
    driver.start()
    emit("started")
    for line in sys.stdin:
        if json.loads(line)["do"] == "stop":
            driver.stop()
            driver.join()
            emit("stopped")
            return


if __name__ == "__main__":
    main()
