"""The built-in frameworks: ordinary `pyactors.Scheduler` subclasses on the
public API (and so also examples of custom schedulers), started from the
cluster handle (`Cluster.jobs()`, ...) or with `cluster.run_framework(cls,
*args, name=...)`, and the HAProxy load balancer in front of services
(`pyactors.frameworks.services.haproxy`)."""

from pyactors.frameworks.batch.delay_plan import BatchTask
from pyactors.frameworks.batch.scheduler import Batch
from pyactors.frameworks.gang.plan import GangJob
from pyactors.frameworks.gang.scheduler import Gang

__all__ = ["Batch", "BatchTask", "Gang", "GangJob"]
