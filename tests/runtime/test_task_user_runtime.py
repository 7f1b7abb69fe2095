"""Tasks run as a user on real agent actors: `TaskInfo.user`, an agent's
`task_user` option, an unknown user. Switching needs the agent to run as
root (the tests skip, saying so, where it does not)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.http import get
from support.runtime import Launcher, sandbox_of, small_cluster, task_agent, wait_for

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import TaskInfo
from pyactors.errors import AgentStartError
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster, Framework
from pyactors.runtime.handles import shut_down
from pyactors.runtime.supervisor import spawn_agent
from pyactors.scheduler.api import Driver

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching a task's user needs agents running as root"
)

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # pytest's temporary directories are root's alone: another user could
    # not reach its sandbox under them.
    work_dir = Path(tempfile.mkdtemp(prefix="pyactors-task-user-"))
    work_dir.chmod(0o755)
    try:
        yield from small_cluster(tmp_path_factory, agents=1, work_dir=str(work_dir))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


class AsUser(Launcher):
    """Launches its tasks as `user`, on `agent` only when given."""

    def __init__(
        self, tasks: list[tuple[str, str, str]], user: str | None, agent: str | None = None
    ) -> None:
        super().__init__(tasks)
        self.user = user
        self.agent = agent

    def task_info(self, task_id: str, command: str, resources: str) -> TaskInfo:
        return TaskInfo(
            task_id, task_id, Resources.parse(resources), command=command, user=self.user
        )

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        elsewhere = [o for o in offers if self.agent is not None and o.agent_id != self.agent]
        if elsewhere:
            driver.decline([o.id for o in elsewhere], refuse_seconds=60)
        super().offers(driver, [o for o in offers if o not in elsewhere])

    def ended(self, task_id: str) -> tuple[str, str] | None:
        for seen, state, _, message in self.updates:
            if seen == task_id and state in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED"):
                return state, message
        return None


def run(
    cluster: Cluster, command: str, user: str | None, agent: str | None = None
) -> tuple[Framework, str, tuple[str, str]]:
    """Run one task as `user` to its end: (framework, task id, (state, message))."""
    task_id = f"t-{uuid.uuid4().hex[:8]}"
    framework = cluster.run_framework(
        AsUser, [(task_id, command, "cpus:0.1;mem:32")], user, agent, name=task_id
    )
    end = wait_for(
        lambda: framework.call("ended", task_id),
        what=f"{task_id} to end",
        seen=lambda: framework.call("seen"),
    )
    return framework, task_id, end


def test_a_task_runs_as_the_user_it_names(cluster: Cluster) -> None:
    framework, task_id, (state, message) = run(
        cluster, 'id -u; id -g; echo "$HOME"; touch mine', "nobody"
    )
    assert state == "TASK_FINISHED", message
    # Read over HTTP from the agent, which still reads the task's logs.
    stdout = get(cluster.url, f"/tasks/{task_id}/logs/stdout")["data"]
    assert stdout == f"{NOBODY.pw_uid}\n{NOBODY.pw_gid}\n{NOBODY.pw_dir}\n"
    agent = task_agent(cluster, framework.id, task_id)
    sandbox = sandbox_of(cluster, agent, framework.id, task_id)
    assert sandbox.stat().st_uid == NOBODY.pw_uid
    assert (sandbox / "mine").stat().st_uid == NOBODY.pw_uid
    cluster.teardown(framework)


def test_an_unknown_user_fails_the_task(cluster: Cluster) -> None:
    framework, task_id, (state, message) = run(cluster, "touch started", "no-such-user")
    agent = task_agent(cluster, framework.id, task_id)
    assert state == "TASK_FAILED"
    assert message == f"could not start: user 'no-such-user' does not exist on agent '{agent}'"
    assert not sandbox_of(cluster, agent, framework.id, task_id).exists()
    cluster.teardown(framework)


def test_an_agent_runs_tasks_naming_no_user_as_its_task_user(cluster: Cluster) -> None:
    agent_id = "agent-as-nobody"
    handle = spawn_agent(
        agent_id,
        ray_calls.current_node_id(),
        cluster.location,
        "cpus:1;mem:128",
        cluster.work_dir,
        task_user="nobody",
    )
    try:
        ray_calls.wait_started(
            [ray_calls.begin_start(handle, handle, what=agent_id, error=AgentStartError)]
        )
        framework, task_id, (state, message) = run(cluster, "id -un", None, agent_id)
        assert state == "TASK_FINISHED", message
        assert get(cluster.url, f"/tasks/{task_id}/logs/stdout")["data"] == "nobody\n"
        # The task's own user still wins over the agent's.
        framework_root, root_task, (state, message) = run(cluster, "id -un", "root", agent_id)
        assert state == "TASK_FINISHED", message
        assert get(cluster.url, f"/tasks/{root_task}/logs/stdout")["data"] == "root\n"
        cluster.teardown(framework)
        cluster.teardown(framework_root)
    finally:
        shut_down(handle)
        ray_calls.stop(handle)
