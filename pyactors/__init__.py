"""pyactors: a Mesos-style two-level cluster resource manager on Ray.

The allocator core is Rust (`pyactors._core`); this package is its typed
Python face. The actor runtime (`start`, `Cluster`) imports Ray only when
first used.
"""

from typing import TYPE_CHECKING, Any

from pyactors._core import Resources
from pyactors.errors import (
    AllocatorError,
    DuplicateError,
    InvalidArgumentError,
    PyactorsError,
    ResourceError,
    UnknownAgentError,
    UnknownFrameworkError,
    UnknownTaskError,
)
from pyactors.operations import (
    Create,
    Destroy,
    HealthCheck,
    Launch,
    LaunchGroup,
    Reserve,
    TaskInfo,
    Unreserve,
)
from pyactors.tasks import Reason, Source, TaskState, TaskStatus

if TYPE_CHECKING:
    from pyactors.cluster import Cluster, connect, start, up
    from pyactors.scheduler import Driver, Scheduler
    from pyactors.supervisor import down

_RUNTIME = {
    "Cluster": "pyactors.cluster",
    "start": "pyactors.cluster",
    "Scheduler": "pyactors.scheduler",
    "Driver": "pyactors.scheduler",
    "up": "pyactors.cluster",
    "connect": "pyactors.cluster",
    "down": "pyactors.supervisor",
}


def __getattr__(name: str) -> Any:
    """The runtime names, imported on first use (they bring in Ray)."""
    if name in _RUNTIME:
        import importlib

        return getattr(importlib.import_module(_RUNTIME[name]), name)
    raise AttributeError(f"module 'pyactors' has no attribute {name!r}")


__all__ = [
    "AllocatorError",
    "Cluster",
    "Create",
    "Destroy",
    "Driver",
    "DuplicateError",
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
__version__ = "0.1.0"
