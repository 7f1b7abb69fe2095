"""A pymesos scheduler whose tasks run on a custom executor
(`support.pymesos.sleep_or_finish_executor`): run as `python -m
support.pymesos.executor_scheduler MASTER EXECUTOR_LOG` (PYTHONPATH=tests).

On the first offer that fits it launches two tasks for one executor:
`finish` (data "finish") and `sleep` (data "sleep"). It prints every
callback as one JSON line and takes commands as JSON lines on stdin:
`{"do": "message", "data": ...}` (a framework message to the executor),
`{"do": "kill", "task_id": ...}`, `{"do": "stop"}` (tears it down).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import threading
from typing import Any

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler, decode_data, encode_data

EXECUTOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sleep_or_finish_executor.py")
_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    with _lock:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()


def scalar(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


class TwoTasks(Scheduler):
    def __init__(self, executor_log: str) -> None:
        self.launched = False
        self.agent_id: str | None = None
        self.executor = Dict()
        self.executor.executor_id.value = "SleepOrFinish"
        self.executor.name = "SleepOrFinish"
        self.executor.command.value = f"{sys.executable} {EXECUTOR}"
        self.executor.command.environment.variables = [
            {"name": "EXECUTOR_LOG", "value": executor_log},
            {"name": "PYTHONPATH", "value": os.environ.get("PYTHONPATH", "")},
        ]
        self.executor.resources = [scalar("cpus", 0.1), scalar("mem", 32)]

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        emit("registered", framework_id=framework_id.value)

    def resourceOffers(self, driver: Any, offers: list[Any]) -> None:
        for offer in offers:
            cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus")
            mem = sum(r.scalar.value for r in offer.resources if r.name == "mem")
            if self.launched or cpus < 0.3 or mem < 64:
                driver.declineOffer(offer.id, {"refuse_seconds": 60})
                continue
            self.launched = True
            self.agent_id = offer.agent_id.value
            tasks = []
            for name in ("finish", "sleep"):
                task = Dict()
                task.task_id.value = name
                task.agent_id.value = offer.agent_id.value
                task.name = name
                task.executor = self.executor
                task.data = encode_data(name.encode())
                task.resources = [scalar("cpus", 0.1), scalar("mem", 16)]
                tasks.append(task)
            driver.launchTasks(offer.id, tasks, {"refuse_seconds": 60})
            emit("launched", agent_id=self.agent_id)

    def statusUpdate(self, driver: Any, update: Any) -> None:
        emit(
            "update",
            task_id=update.task_id.value,
            state=update.state,
            source=update.get("source"),
            message=update.get("message", ""),
            reason=update.get("reason"),
            data=decode_data(update["data"]).decode() if update.get("data") else None,
        )

    def frameworkMessage(self, driver: Any, executor_id: Any, agent_id: Any, data: str) -> None:
        emit(
            "message",
            executor_id=executor_id.value,
            agent_id=agent_id.value,
            data=decode_data(data).decode(),
        )

    def error(self, driver: Any, message: str) -> None:
        emit("error", message=message)


def main(master: str, executor_log: str) -> None:
    framework = Dict()
    framework.user = getpass.getuser()
    framework.name = "ExecutorFramework"
    framework.checkpoint = True
    scheduler = TwoTasks(executor_log)
    driver = MesosSchedulerDriver(scheduler, framework, master, use_addict=True)
    driver.start()
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "message":
            driver.sendFrameworkMessage(
                {"value": "SleepOrFinish"},
                {"value": scheduler.agent_id},
                encode_data(command["data"].encode()),
            )
        elif command["do"] == "kill":
            driver.killTask({"value": command["task_id"]})
        elif command["do"] == "stop":
            break
    driver.stop()
    driver.join()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
