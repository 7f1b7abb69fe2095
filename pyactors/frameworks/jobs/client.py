"""What `Cluster.jobs()` returns: the jobs framework's client, and how the
framework is started on a cluster (`Jobs.start`). Each operation is one
call to the framework's actor (`Framework.call`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyactors.errors import PyactorsError
from pyactors.frameworks.jobs.scheduler import JobScheduler
from pyactors.runtime import ray_calls

if TYPE_CHECKING:
    from pyactors.runtime.cluster import Cluster, Framework


class Jobs:
    """The jobs framework from the driver: each call runs in its actor."""

    def __init__(self, framework: Framework) -> None:
        self.framework = framework

    @classmethod
    def start(cls, cluster: Cluster) -> Jobs:
        """The jobs framework of `cluster` (see `Cluster.jobs()`): on a
        long-running cluster the one it runs, whichever process started it;
        else one started now, which on a long-running cluster belongs to the
        cluster. With ZooKeeper, its jobs and their history are kept there."""
        framework = cluster.builtin_framework("jobs") or cluster.run_framework(
            JobScheduler,
            cluster.location.zk,
            cluster.location.session_timeout,
            name="jobs",
            actor_name="jobs",
        )
        return cls(framework)

    def add(self, definition: Mapping[str, Any] | str) -> str:
        """Add (or replace) a job from a Chronos/Metronome definition (a dict or
        JSON text); returns its name. JobDefinitionError names every bad field
        (and a dependency cycle); nothing is added then."""
        plain = dict(definition) if isinstance(definition, Mapping) else definition
        return str(self._call("add", plain))

    def run(self, name: str) -> str:
        """Run a job now; returns the run's id."""
        return str(self._call("run", name))

    def remove(self, name: str) -> None:
        """Remove a job (its running task is killed); refused while it is
        another job's parent."""
        self._call("remove", name)

    def history(self, name: str) -> list[dict[str, Any]]:
        """The job's runs, oldest first: id, trigger, scheduled, started,
        finished (epoch seconds), state, attempts, task_id, message."""
        runs: list[dict[str, Any]] = self._call("history", name)
        return runs

    def job(self, name: str) -> dict[str, Any]:
        """The job's definition, its next scheduled run and its active runs."""
        described: dict[str, Any] = self._call("job", name)
        return described

    def jobs(self) -> list[dict[str, Any]]:
        described: list[dict[str, Any]] = self._call("jobs")
        return described

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return self.framework.call(method, *args)
        except ray_calls.RayTaskError as error:
            # The scheduler's own error, not Ray's wrapper around it.
            if isinstance(error.cause, PyactorsError):
                raise error.cause from None
            raise
