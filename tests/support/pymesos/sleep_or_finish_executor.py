"""A pymesos executor (pymesos 0.3.15's MesosExecutorDriver, Mesos's v1
executor HTTP API), as a Mesos user would write one; the runtime tests
launch it from `support.pymesos.executor_scheduler`.

Each task's `data` says what it does: `finish` runs a moment and ends
TASK_FINISHED, `sleep` runs until it is killed (TASK_KILLED); each update
carries the data `<state>:<task id>`. A framework message `x` is answered
with the message `pong:x`. Every callback is appended as one JSON line to
the file $EXECUTOR_LOG (when set), so a test sees what reached the
executor.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data


def record(event: str, **fields: Any) -> None:
    path = os.environ.get("EXECUTOR_LOG")
    if path:
        with open(path, "a") as log:
            log.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")


class SleepOrFinish(Executor):
    def __init__(self) -> None:
        self.killed: dict[str, threading.Event] = {}

    def registered(
        self, driver: Any, executor_info: Any, framework_info: Any, agent_info: Any
    ) -> None:
        record(
            "registered",
            executor_id=executor_info["executor_id"]["value"],
            framework_id=framework_info["id"]["value"],
            agent_id=agent_info["id"]["value"],
            sandbox=os.environ.get("MESOS_SANDBOX"),
            grace=os.environ.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"),
        )

    def reregistered(self, driver: Any, agent_info: Any) -> None:
        record("reregistered", agent_id=agent_info["id"]["value"])

    def launchTask(self, driver: Any, task: Any) -> None:
        task_id = task["task_id"]["value"]
        what = decode_data(task["data"]).decode() if task.get("data") else "finish"
        record("launch", task_id=task_id, data=what)
        self.killed[task_id] = threading.Event()
        threading.Thread(target=self.run, args=(driver, task, what), daemon=True).start()

    def launchTaskGroup(self, driver: Any, tasks: list[Any]) -> None:
        record("launch_group", task_ids=[task["task_id"]["value"] for task in tasks])
        for task in tasks:
            self.launchTask(driver, task)

    def run(self, driver: Any, task: Any, what: str) -> None:
        task_id = task["task_id"]["value"]
        self.update(driver, task, "TASK_RUNNING")
        if what == "sleep":
            self.killed[task_id].wait()
            self.update(driver, task, "TASK_KILLED")
        else:
            time.sleep(0.5)
            self.update(driver, task, "TASK_FINISHED")

    def update(self, driver: Any, task: Any, state: str) -> None:
        driver.sendStatusUpdate(
            {
                "task_id": task["task_id"],
                "agent_id": task["agent_id"],
                "state": state,
                "message": f"{state} from the executor",
                "timestamp": time.time(),
                # For its scheduler, as is (Mesos's TaskStatus.data).
                "data": encode_data(f"{state}:{task['task_id']['value']}".encode()),
            }
        )

    def killTask(self, driver: Any, task_id: Any) -> None:
        record("kill", task_id=task_id["value"])
        self.killed[task_id["value"]].set()

    def frameworkMessage(self, driver: Any, message: str) -> None:
        text = decode_data(message).decode()
        record("message", data=text)
        driver.sendFrameworkMessage(encode_data(f"pong:{text}".encode()))

    def shutdown(self, driver: Any) -> None:
        record("shutdown")


if __name__ == "__main__":
    driver = MesosExecutorDriver(SleepOrFinish())
    driver.run()
    sys.exit(0)
