"""pyactors: a Mesos-style two-level cluster resource manager on Ray.

The allocator core is Rust (`pyactors._core`); this package is its typed
Python face. The actor runtime (`start`, `Cluster`) imports Ray only when
first used.
"""

from typing import TYPE_CHECKING, Any

from pyactors._core import Resources
from pyactors.core.operations import (
    Create,
    Destroy,
    ExecutorInfo,
    HealthCheck,
    Launch,
    LaunchGroup,
    Reserve,
    TaskInfo,
    Unreserve,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.core.version import VERSION
from pyactors.errors import (
    AllocatorError,
    AuthenticationError,
    AuthorizationError,
    DuplicateError,
    InvalidArgumentError,
    PyactorsError,
    ResourceError,
    UnknownAgentError,
    UnknownFrameworkError,
    UnknownTaskError,
)

if TYPE_CHECKING:
    from pyactors.runtime.cluster import Cluster, connect, start, up
    from pyactors.runtime.supervisor import down
    from pyactors.scheduler.api import Driver, Scheduler

_RUNTIME = {
    "Cluster": "pyactors.runtime.cluster",
    "start": "pyactors.runtime.cluster",
    "Scheduler": "pyactors.scheduler.api",
    "Driver": "pyactors.scheduler.api",
    "up": "pyactors.runtime.cluster",
    "connect": "pyactors.runtime.cluster",
    "down": "pyactors.runtime.supervisor",
}


def __getattr__(name: str) -> Any:
    """The runtime names, imported on first use (they bring in Ray)."""
    if name in _RUNTIME:
        import importlib

        return getattr(importlib.import_module(_RUNTIME[name]), name)
    raise AttributeError(f"module 'pyactors' has no attribute {name!r}")


__all__ = [
    "AllocatorError",
    "AuthenticationError",
    "AuthorizationError",
    "Cluster",
    "Create",
    "Destroy",
    "Driver",
    "DuplicateError",
    "ExecutorInfo",
    "HealthCheck",
    "InvalidArgumentError",
    "Launch",
    "LaunchGroup",
    "PyactorsError",
    "Reason",
    "Reserve",
    "ResourceError",
    "Resources",
    "Scheduler",
    "Source",
    "TaskInfo",
    "TaskState",
    "TaskStatus",
    "UnknownAgentError",
    "UnknownFrameworkError",
    "UnknownTaskError",
    "Unreserve",
    "connect",
    "down",
    "start",
    "up",
]
__version__ = VERSION
