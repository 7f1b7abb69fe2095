"""A pymesos framework the runtime tests drive: run as
`python -m support.pymesos.framework MASTER [--framework-id ID]
[--failover-timeout SECONDS] [--name NAME] [--role ROLE] [--user USER]`
(PYTHONPATH=tests), it prints every callback as one JSON line and takes
commands as JSON lines on stdin:

- `{"do": "launch", "task_id": ..., "command": ...}`: launched on the next
  offer that fits (cpus 0.1, mem 16); offers it has no task for are
  declined with the current filter (`--refuse-seconds`, 5 s by default;
  changed by `{"do": "filter", "refuse_seconds": N}`);
- `{"do": "kill" | "reconcile" | "suppress" | "revive", ...}`: the driver's
  killTask, reconcileTasks (`task_ids`, [] for all), suppressOffers,
  reviveOffers;
- `{"do": "crash"}`: exits at once, as a killed scheduler process would
  (its framework is left to fail over); `{"do": "stop"}`: stops the driver,
  which tears the framework down.

pymesos acknowledges every update that carries a uuid itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

CPUS, MEM = 0.1, 16.0
_print_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()


def _scalar(offer: Any, name: str) -> float:
    return sum(r.scalar.value for r in offer.resources if r.name == name)


class Recorder(Scheduler):
    def __init__(self) -> None:
        self.pending: list[dict[str, str]] = []
        self.refuse_seconds = 5.0
        self.lock = threading.Lock()

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        emit("registered", framework_id=framework_id.value, master=dict(master_info))

    def reregistered(self, driver: Any, master_info: Any) -> None:
        emit("reregistered", framework_id=driver.framework_id)

    def disconnected(self, driver: Any) -> None:
        emit("disconnected")

    def resourceOffers(self, driver: Any, offers: list[Any]) -> None:
        emit(
            "offers", offers=[o.id.value for o in offers], agents=[o.agent_id.value for o in offers]
        )
        for offer in offers:
            with self.lock:
                fits = _scalar(offer, "cpus") >= CPUS and _scalar(offer, "mem") >= MEM
                task = self.pending.pop(0) if fits and self.pending else None
                refuse = self.refuse_seconds
            if task is None:
                driver.declineOffer(offer.id, {"refuse_seconds": refuse})
                continue
            info = Dict()
            info.task_id.value = task["task_id"]
            info.agent_id.value = offer.agent_id.value
            info.name = task["task_id"]
            info.command.value = task["command"]
            info.resources = [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": CPUS}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": MEM}},
            ]
            driver.launchTasks(offer.id, [info], {"refuse_seconds": refuse})
            emit("launched", task_id=task["task_id"], agent_id=offer.agent_id.value)

    def offerRescinded(self, driver: Any, offer_id: Any) -> None:
        emit("rescinded", offer_id=offer_id.value)

    def statusUpdate(self, driver: Any, update: Any) -> None:
        emit(
            "update",
            task_id=update.task_id.value,
            state=update.state,
            reason=update.get("reason"),
            message=update.get("message"),
            source=update.get("source"),
            uuid="uuid" in update,
            agent_id=update.get("agent_id", {}).get("value"),
        )

    def frameworkMessage(self, driver: Any, executor_id: Any, agent_id: Any, data: Any) -> None:
        emit("message", executor_id=executor_id.value, data=data)

    def slaveLost(self, driver: Any, agent_id: Any) -> None:
        emit("agent_lost", agent_id=agent_id.value)

    def error(self, driver: Any, message: str) -> None:
        emit("error", message=message)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("master")
    parser.add_argument("--framework-id")
    parser.add_argument("--failover-timeout", type=float, default=0.0)
    parser.add_argument("--name", default="pymesos-test")
    parser.add_argument("--refuse-seconds", type=float, default=5.0)
    parser.add_argument("--role", default="*")
    parser.add_argument("--user", default="")
    args = parser.parse_args()
    framework = Dict()
    framework.user = args.user
    framework.role = args.role
    framework.name = args.name
    framework.failover_timeout = args.failover_timeout
    if args.framework_id:
        framework.id.value = args.framework_id
    recorder = Recorder()
    recorder.refuse_seconds = args.refuse_seconds
    principal, secret = os.environ.get("MESOS_PRINCIPAL"), os.environ.get("MESOS_SECRET")
    if principal:
        framework.principal = principal
    driver = MesosSchedulerDriver(
        recorder, framework, args.master, use_addict=True, principal=principal, secret=secret
    )
    driver.start()
    emit("started")
    for line in sys.stdin:
        command = json.loads(line)
        match command["do"]:
            case "launch":
                with recorder.lock:
                    recorder.pending.append(command)
                driver.reviveOffers()
            case "filter":
                with recorder.lock:
                    recorder.refuse_seconds = float(command["refuse_seconds"])
            case "kill":
                driver.killTask({"value": command["task_id"]})
            case "reconcile":
                driver.reconcileTasks([{"task_id": {"value": t}} for t in command["task_ids"]])
            case "suppress":
                driver.suppressOffers()
            case "revive":
                driver.reviveOffers()
            case "crash":
                emit("crashing")
                os._exit(0)
            case "stop":
                driver.stop()
                driver.join()
                emit("stopped")
                return
        emit("done", do=command["do"])


if __name__ == "__main__":
    main()
