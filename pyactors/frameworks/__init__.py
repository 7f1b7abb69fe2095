"""Frameworks that ship with pyactors, built on the public `Scheduler` API
(and so also examples of custom schedulers). Run one with
`cluster.run_framework(cls, *args, name=...)`."""

from pyactors.frameworks.batch import Batch
from pyactors.frameworks.delay_plan import BatchTask
from pyactors.frameworks.gang import Gang
from pyactors.frameworks.gang_plan import GangJob

__all__ = ["Batch", "BatchTask", "Gang", "GangJob"]
