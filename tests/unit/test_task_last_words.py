"""A task's message that reaches the master after its terminal update (the
task wrote it and exited; the agent noticed the exit first) still reaches
its scheduler."""

from __future__ import annotations

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import FrameworkMessages, SendOffers
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.master.state import MasterConfig, MasterState


def _offer(master: MasterState, now: float) -> OfferInfo:
    (batch,) = [e for e in master.allocate(now=now) if isinstance(e, SendOffers)]
    return batch.offers[0]


def test_a_finished_tasks_last_message_reaches_its_scheduler() -> None:
    master = MasterState(MasterConfig())
    master.register_agent("agent-0", "h", Resources.parse("cpus:1;mem:64"), {}, now=0)
    fw, _ = master.subscribe("echo", ["r"], now=0)
    offer = _offer(master, now=1)
    task = TaskInfo("t", "t", Resources.parse("cpus:1;mem:64"), command="true")
    master.accept(fw, [offer.id], [Launch([task])], 0, now=1)
    done = TaskStatus("t", TaskState.TASK_FINISHED, Source.SOURCE_AGENT, 2, agent_id="agent-0")
    master.status_updates("agent-0", [done])
    master.acknowledge(fw, [("t", done.uuid or "")])
    assert "t" not in master.tasks
    assert master.messages_from_tasks("agent-0", [("t", b"bye")]) == [
        FrameworkMessages(fw, [("agent-0", "t", b"bye")])
    ]
