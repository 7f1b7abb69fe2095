"""A launch decision as the TaskInfo the agent runs: the app's command in
its Marathon environment, the health check its agent runs on the task's
host ports, its kill grace period, and (for a resident app) which
persistent volumes it mounts where."""

from __future__ import annotations

from pyactors.agent import volumes as persistent_volumes
from pyactors.core.operations import HealthCheck, TaskInfo
from pyactors.frameworks.services.app_definition import HealthCheck as AppHealthCheck
from pyactors.frameworks.services.health import agent_check
from pyactors.frameworks.services.model import LaunchPlan


def task_info(plan: LaunchPlan) -> TaskInfo:
    app = plan.app
    command, shell = app.command()
    labels = dict(app.labels)
    labels |= {persistent_volumes.LABEL + pid: path for path, pid in plan.volumes}
    # The agent runs one check (Mesos's task has one); the framework the rest.
    index = agent_check(app)
    return TaskInfo(
        plan.task_id,
        f"{app.id}",
        plan.resources,
        command=command,
        env=plan.env,
        labels=labels,
        shell=shell,
        health_check=None if index is None else health_check(app.healthChecks[index], plan.ports),
        kill_grace_period=app.taskKillGracePeriodSeconds,
    )


def health_check(check: AppHealthCheck, ports: tuple[int, ...]) -> HealthCheck:
    """The agent's check for a Marathon one: `portIndex` names one of the
    task's host ports."""
    port = ports[check.portIndex] if check.portIndex is not None else check.port
    return HealthCheck(
        protocol=check.protocol,
        port=None if check.protocol == "COMMAND" else port,
        path=check.http_path,
        command=check.command,
        grace_period_seconds=check.gracePeriodSeconds,
        interval_seconds=check.intervalSeconds,
        timeout_seconds=check.timeoutSeconds,
        max_consecutive_failures=check.maxConsecutiveFailures,
        delay_seconds=check.delaySeconds,
    )
