"""The built-in frameworks: ordinary `pyactors.Scheduler` subclasses on the
public API (and so also examples of custom schedulers), started from the
cluster handle (`Cluster.jobs()`, ...) or with `cluster.run_framework(cls,
*args, name=...)`, and the HAProxy load balancer in front of services
(`pyactors.frameworks.haproxy`)."""

from pyactors.frameworks.batch import Batch
from pyactors.frameworks.delay_plan import BatchTask
from pyactors.frameworks.gang import Gang
from pyactors.frameworks.gang_plan import GangJob

__all__ = ["Batch", "BatchTask", "Gang", "GangJob"]
