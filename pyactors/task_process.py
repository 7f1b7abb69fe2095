"""The documented import path of a Python task's result reader
(`pyactors.agent.task_process`)."""

from pyactors.agent.task_process import read_result

__all__ = ["read_result"]
