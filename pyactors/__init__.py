"""pyactors: a Mesos-style two-level cluster resource manager on Ray.

The allocator core is Rust (`pyactors._core`); this package is its typed
Python face.
"""

from pyactors._core import Resources
from pyactors.errors import (
    AllocatorError,
    DuplicateError,
    InvalidArgumentError,
    PyactorsError,
    ResourceError,
    UnknownAgentError,
    UnknownFrameworkError,
)

__all__ = [
    "AllocatorError",
    "DuplicateError",
    "InvalidArgumentError",
    "PyactorsError",
    "ResourceError",
    "Resources",
    "UnknownAgentError",
    "UnknownFrameworkError",
]
__version__ = "0.1.0"
