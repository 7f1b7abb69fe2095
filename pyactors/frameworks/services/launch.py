"""A launch decision as the TaskInfo the agent runs: the app's command in
its Marathon environment, its health checks on the task's host ports, and
(for a resident app) which persistent volumes it mounts where."""

from __future__ import annotations

from pyactors.agent import volumes as persistent_volumes
from pyactors.core.operations import HealthCheck, TaskInfo
from pyactors.frameworks.services.app_definition import HealthCheck as AppHealthCheck
from pyactors.frameworks.services.model import LaunchPlan


def task_info(plan: LaunchPlan) -> TaskInfo:
    app = plan.app
    command, shell = app.command()
    labels = dict(app.labels)
    labels |= {persistent_volumes.LABEL + pid: path for path, pid in plan.volumes}
    return TaskInfo(
        plan.task_id,
        f"{app.id}",
        plan.resources,
        command=command,
        env=plan.env,
        labels=labels,
        shell=shell,
        health_check=health_check(app.healthChecks[0], plan.ports) if app.healthChecks else None,
        kill_grace_period=app.taskKillGracePeriodSeconds,
    )


def health_check(check: AppHealthCheck, ports: tuple[int, ...]) -> HealthCheck:
    """The agent's check for a Marathon one: `portIndex` names one of the
    task's host ports. (A Mesos task has one health check: the app's first.)"""
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
