"""The documented import path of a task's messages to and from its
scheduler (`pyactors.agent.task_messages`), used by code inside tasks."""

from pyactors.agent.task_messages import receive, send

__all__ = ["receive", "send"]
