"""Typed exceptions shared by the Rust core and the pure-Python twin.

The Rust extension raises these very classes (it looks them up here at the
boundary), so `except pyactors.UnknownAgentError` works the same whichever
allocator implementation produced the error.
"""


class PyactorsError(Exception):
    """Base class of every error pyactors raises on purpose."""


class ResourceError(PyactorsError, ValueError):
    """Malformed resource text, an impossible quantity, or arithmetic that would
    go negative (subtracting what is not contained)."""


class AllocatorError(PyactorsError):
    """A call to the allocator that cannot be carried out; nothing was changed."""


class UnknownAgentError(AllocatorError, LookupError):
    """The call names an agent the allocator does not know."""


class UnknownFrameworkError(AllocatorError, LookupError):
    """The call names a framework the allocator does not know."""


class DuplicateError(AllocatorError, ValueError):
    """The call adds an agent or framework whose id is already registered."""


class InvalidArgumentError(AllocatorError, ValueError):
    """An argument is out of range or inconsistent with the current state
    (a negative weight, a quota limit below its guarantee, recovering resources
    that were never allocated, ...)."""
