"""What `Cluster.jobs()` returns: the jobs framework's client, and how the
framework is started on a cluster (`Jobs.start`). Each operation is one
call to the framework's actor (`Framework.call`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyactors.errors import PyactorsError, UnknownFrameworkError
from pyactors.frameworks.jobs.scheduler import FAILOVER_TIMEOUT, JobScheduler
from pyactors.frameworks.jobs.store import open_store
from pyactors.runtime import ray_calls
from pyactors.security.credentials import Credentials

if TYPE_CHECKING:
    from pyactors.runtime.cluster import Cluster, Framework


class Jobs:
    """The jobs framework from the driver: each call runs in its actor."""

    def __init__(self, framework: Framework) -> None:
        self.framework = framework

    @classmethod
    def start(
        cls,
        cluster: Cluster,
        history_limit: int = 100,
        previous: Jobs | None = None,
        chronos_host: str = "127.0.0.1",
        chronos_port: int = 0,
        credentials: Credentials | None = None,
    ) -> Jobs:
        """The jobs framework of `cluster` (see `Cluster.jobs()`): on a
        long-running cluster the one it runs, whichever process started it;
        else one started now, which on a long-running cluster belongs to the
        cluster. `previous`, the client an earlier start returned, is
        returned again while its framework's actor answers; if the actor
        died, a new one takes the framework over (its running runs with it).
        Its jobs, their runs (`history_limit` per job) and the framework id
        are kept in ZooKeeper with `zk`, else in the cluster's work dir.
        It answers Chronos's and Metronome's REST APIs at `chronos_host`:
        `chronos_port` (0: a free port), authenticating callers with
        `credentials` when given."""
        running = cluster.builtin_framework("jobs")
        if running is not None:
            return cls(running)
        if previous is not None and cluster.still_running(previous.framework):
            return previous
        location = cluster.location
        store = open_store(location.zk, cluster.work_dir, location.session_timeout)
        try:
            framework_id = store.framework_id()
        finally:
            store.close()
        arguments = (
            location.zk,
            location.session_timeout,
            cluster.work_dir,
            history_limit,
            chronos_host,
            chronos_port,
            credentials,
        )
        options: dict[str, Any] = {
            "name": "jobs",
            "actor_name": "jobs",
            "failover_timeout": FAILOVER_TIMEOUT,
        }
        try:
            framework = cluster.run_framework(
                JobScheduler, *arguments, framework_id=framework_id, **options
            )
        except UnknownFrameworkError:
            # Torn down meanwhile (its failover timeout passed): register
            # anew; its runs in flight, gone, are launched again.
            framework = cluster.run_framework(JobScheduler, *arguments, **options)
        return cls(framework)

    @property
    def framework_id(self) -> str:
        return self.framework.id

    @property
    def chronos_url(self) -> str:
        """Where the framework answers Chronos's (`/v1/scheduler/...`) and
        Metronome's (`/v1/jobs`) REST APIs."""
        return str(self.framework.call("chronos_url"))

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
        finished (epoch seconds), state, attempts, task_id, message,
        agent_id (of the latest attempt), relaunches (attempts the master
        never saw, not counted as retries) and cause (the parent run that
        started a dependent one)."""
        runs: list[dict[str, Any]] = self._call("history", name)
        return runs

    def job(self, name: str) -> dict[str, Any]:
        """The job's definition, its next scheduled run and its active runs."""
        described: dict[str, Any] = self._call("job", name)
        return described

    def jobs(self) -> list[dict[str, Any]]:
        described: list[dict[str, Any]] = self._call("jobs")
        return described

    def ledger(self) -> dict[str, list[dict[str, Any]]]:
        """Every job's runs as the framework's ledger holds them (job -> its
        runs, oldest first; see `history`). `store.read_ledger` reads the
        stored ledger without the framework."""
        runs: dict[str, list[dict[str, Any]]] = self._call("ledger")
        return runs

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return self.framework.call(method, *args)
        except ray_calls.RayTaskError as error:
            # The scheduler's own error, not Ray's wrapper around it.
            if isinstance(error.cause, PyactorsError):
                raise error.cause from None
            raise
