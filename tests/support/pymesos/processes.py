"""pymesos framework processes for the runtime tests: each is
`support.pymesos.framework` in its own process, as a Mesos user's would be;
a test reads what it prints and tells it what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pyactors.runtime.cluster import Cluster
from support.http import get
from support.runtime import wait_for

TESTS = Path(__file__).resolve().parents[2]


class Process:
    """A framework process: what it printed (JSON lines), and its stdin."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=TESTS,
            env={**os.environ, "PYTHONPATH": str(TESTS), **(env or {})},
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            try:
                self.lines.append(json.loads(line))
            except json.JSONDecodeError:
                self.lines.append({"event": "output", "text": line})

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.lines) if e.get("event") == kind]

    def tell(self, **command: Any) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(json.dumps(command) + "\n")
        self.popen.stdin.flush()

    def updates(self, task_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events("update") if e["task_id"] == task_id]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=30)


def framework(
    processes: list[Process], master: str, *options: str, env: dict[str, str] | None = None
) -> Process:
    argv = [sys.executable, "-m", "support.pymesos.framework", master, *options]
    process = Process(argv, env)
    processes.append(process)
    return process


def address(cluster: Cluster) -> str:
    return cluster.url.removeprefix("http://")


def registered(process: Process) -> str:
    events = wait_for(lambda: process.events("registered"), what="the framework to register")
    framework_id: str = events[0]["framework_id"]
    return framework_id


def state_of(
    cluster: Cluster, framework_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any] | None:
    frameworks = get(cluster.url, "/master/frameworks", headers=headers)["frameworks"]
    return next((f for f in frameworks if f["id"] == framework_id), None)
