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


class UnknownTaskError(PyactorsError, LookupError):
    """The call names a task the master does not know (or not of that framework)."""


class DuplicateError(AllocatorError, ValueError):
    """The call adds an agent or framework whose id is already registered."""


class InvalidArgumentError(AllocatorError, ValueError):
    """An argument is out of range or inconsistent with the current state
    (a negative weight, a quota limit below its guarantee, recovering resources
    that were never allocated, ...)."""


class AuthenticationError(PyactorsError):
    """A missing or wrong principal or secret: the caller was not let in.
    The message never holds the secret."""


class AuthorizationError(PyactorsError):
    """An ACL denies the call; nothing was changed. `action` is the ACL's
    name (Mesos's: register_frameworks, run_tasks, ...), `principal` who
    asked (None: an unauthenticated caller); the message names both."""

    def __init__(self, message: str, action: str, principal: str | None) -> None:
        self.action = action
        self.principal = principal
        super().__init__(message)

    def __reduce__(
        self,
    ) -> tuple[type["AuthorizationError"], tuple[str, str, str | None]]:
        return AuthorizationError, (str(self), self.action, self.principal)


class NotLeaderError(PyactorsError):
    """The master asked is not the leader (a standby, or one just deposed):
    ask the leader the detector names."""


class RegistryError(PyactorsError):
    """The master's durable registry cannot carry out a read or a write; a write
    that raises stored nothing (or, after a lost connection, is of unknown
    outcome: the handle must `load()` again before writing)."""


class FencedError(RegistryError):
    """Another writer (a newer leader) has claimed the registry since this handle
    loaded it: the write was refused, and this master must stop leading."""


class SchemaVersionError(RegistryError):
    """A stored record was written by a newer schema than this pyactors reads:
    upgrade it before it leads."""


class CorruptRecordError(RegistryError, ValueError):
    """A stored record is not one any schema version wrote (bad JSON, a missing
    or ill-typed field)."""


class InvalidRecordError(RegistryError, ValueError):
    """A record, change or path given to the registry is malformed or
    contradicts itself; nothing was written."""


class UnknownRecordError(RegistryError, LookupError):
    """A change removes a record the registry does not hold; nothing was written."""


class ZooKeeperUrlError(PyactorsError, ValueError):
    """A `zk://host:port,.../path` URL that cannot be used."""


class ClusterUpError(PyactorsError):
    """A long-running cluster (`pyactors up`) cannot be started, found or
    stopped as asked: one is already up there, none is, or no Ray cluster
    runs where it was looked for. Nothing was started or stopped."""


class AppDefinitionError(InvalidArgumentError):
    """A Marathon app definition that cannot be used (an unknown field, a wrong
    type, a value out of range, fields that contradict each other); nothing
    was deployed. `problems` holds every (field path, message) found, e.g.
    ("healthChecks[0].intervalSeconds", 'expected a number, got "x"'); the
    message lists them all."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.problems))

    def __reduce__(self) -> tuple[type["AppDefinitionError"], tuple[list[tuple[str, str]]]]:
        return AppDefinitionError, (self.problems,)


class LoadBalancerError(PyactorsError):
    """HAProxy could not be started or reloaded with a new configuration;
    the message quotes what haproxy said. A failed reload leaves the
    previous configuration serving."""


class HaproxyNotFoundError(LoadBalancerError, FileNotFoundError):
    """The haproxy binary is not installed or not where the `haproxy` option
    says: install Debian's haproxy or set that option to its path."""


class LoadBalancerConfigError(LoadBalancerError, ValueError):
    """A load balancer configuration that cannot be used (a port out of
    range, two apps on one service port, a bad address, or a configuration
    `haproxy -c` rejects); nothing was changed."""


class SandboxPathError(InvalidArgumentError):
    """A sandbox file name or read that is refused: an absolute path, a ".."
    component, a symlink leading outside the sandbox, something that is not
    a regular file, or a negative offset or length."""


class UnknownFileError(PyactorsError, LookupError):
    """The sandbox holds no file by that name."""


class SandboxGoneError(PyactorsError, LookupError):
    """The task's sandbox is no longer on its agent (garbage-collected after
    its age, or never kept there)."""


class AgentUnreachableError(PyactorsError):
    """The agent a request must be forwarded to cannot be reached (lost,
    gone, or not answering in time)."""


class JobDefinitionError(InvalidArgumentError):
    """A Chronos or Metronome job definition that cannot be used (an unknown
    field, a wrong type, a bad schedule, an unknown parent, a dependency
    cycle); nothing was added. `problems` holds every (field, message)
    found, e.g. ("schedule", "expected R[n]/<start>/<period>, ..."); the
    message lists them all."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.problems))

    def __reduce__(self) -> tuple[type["JobDefinitionError"], tuple[list[tuple[str, str]]]]:
        return JobDefinitionError, (self.problems,)


class UnknownJobError(PyactorsError, LookupError):
    """The call names a job the jobs framework does not have."""


class UnknownDeploymentError(PyactorsError, LookupError):
    """No deployment of the service framework has this id (it ended, or never was)."""


class UnknownAppError(InvalidArgumentError, LookupError):
    """The call names an app the service framework does not run."""


class StartError(PyactorsError):
    """An actor of the cluster did not start, for a real reason: its
    constructor or start raised, its actor died, or Ray cannot place it.
    A slow start is never one: starting waits as long as Ray makes
    progress. The message names what did not start and why."""


class RayStartError(StartError):
    """Ray itself did not start here (its node never came up within the
    start budget, or it refused to start)."""


class MasterStartError(StartError):
    """A master actor did not start (see StartError)."""


class AgentStartError(StartError):
    """An agent actor (or a pool of emulated agents) did not start (see StartError)."""


class FrameworkStartError(StartError):
    """A framework's scheduler actor did not start or subscribe (see StartError)."""


class SupervisorStartError(StartError):
    """A long-running cluster's supervisor did not start (see StartError)."""


class NoAnswerError(PyactorsError, TimeoutError):
    """A live actor did not answer a call within the caller's budget (minutes:
    a busy machine answers late, not never; a dead actor is reported at once)."""


class NoLeaderError(PyactorsError, TimeoutError):
    """No master was elected leader within the caller's budget."""
