"""A launch decision as the TaskInfo the agent runs: the app's command in
its Marathon environment, its health checks on the task's host ports, and
(for a resident app) which persistent volumes it mounts where."""

from __future__ import annotations

from pyactors.frameworks.services.model import LaunchPlan
from pyactors.operations import TaskInfo

# Label naming where a persistent volume (by persistence id) is mounted in
# the sandbox: "pyactors.volume.<persistence id>" -> container path.
VOLUME_LABEL = "pyactors.volume."


def task_info(plan: LaunchPlan) -> TaskInfo:
    app = plan.app
    command, shell = app.command()
    labels = dict(app.labels)
    labels |= {VOLUME_LABEL + pid: path for path, pid in plan.volumes}
    return TaskInfo(
        plan.task_id,
        f"{app.id}",
        plan.resources,
        command=command,
        env=plan.env,
        labels=labels,
        shell=shell,
    )
