"""What a framework asks for when it accepts offers: tasks and operations.

Mesos's v1 scheduler API names: an accept carries offer ids and a list of
operations (LAUNCH, LAUNCH_GROUP, RESERVE, UNRESERVE, CREATE, DESTROY)
applied in order to the offered resources.

A task runs either a command (Mesos's CommandInfo: with `shell` a string for
`/bin/sh -c`, without it an argv exec'd directly) or a Python callable with
its arguments, which the agent ships to the task's process with cloudpickle,
or is given to a custom executor (Mesos's ExecutorInfo), which the agent
starts once per framework and executor id and which runs it.
Validation here never unpickles or runs anything: whether a callable can be
pickled is known only when the agent launches it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors._core import Resources
from pyactors.errors import InvalidArgumentError

# Task ids name sandbox directories and appear in URLs: no separators, no
# "..", nothing a shell or a path would reinterpret.
_TASK_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")


HEALTH_CHECK_PROTOCOLS = ("HTTP", "TCP", "COMMAND")


@dataclass(frozen=True)
class HealthCheck:
    """Mesos's HealthCheck, run by the agent on the task's host.

    HTTP GETs `http://127.0.0.1:{port}{path}` (status 200-399 is healthy,
    as Marathon counts it), TCP connects to the port, COMMAND runs `command`
    with `/bin/sh -c` in the task's sandbox with the task's environment
    (exit 0 is healthy). The first check is `delay_seconds` after the task
    runs, then one every `interval_seconds`; a check that takes longer than
    `timeout_seconds` failed. Failures within `grace_period_seconds` of the
    start do not count until the first success; after
    `max_consecutive_failures` failures in a row the agent kills the task
    (0: never, as in Marathon)."""

    protocol: str
    port: int | None = None
    path: str = "/"
    command: str | None = None
    grace_period_seconds: float = 300.0
    interval_seconds: float = 60.0
    timeout_seconds: float = 20.0
    max_consecutive_failures: int = 3
    delay_seconds: float = 0.0

    def problems(self) -> list[str]:
        """What makes the check unusable, each as a sentence naming the field."""
        if self.protocol not in HEALTH_CHECK_PROTOCOLS:
            return [
                f"health check protocol {self.protocol!r} is not one of "
                + ", ".join(HEALTH_CHECK_PROTOCOLS)
            ]
        found = []
        if self.protocol == "COMMAND":
            if not isinstance(self.command, str) or not self.command.strip():
                found.append("a COMMAND health check needs a command (a shell string)")
        elif isinstance(self.port, bool) or not isinstance(self.port, int):
            found.append(f"a {self.protocol} health check needs a port, got {self.port!r}")
        elif not 1 <= self.port <= 65535:
            found.append(f"health check port {self.port} is not in 1-65535")
        if self.protocol == "HTTP" and (
            not isinstance(self.path, str)
            or not self.path.startswith("/")
            or any(c.isspace() or not c.isprintable() for c in self.path)
        ):
            found.append(f"health check path {self.path!r} must start with '/' and have no spaces")
        for name in ("grace_period_seconds", "delay_seconds"):
            found += _number_problems(name, getattr(self, name), zero_ok=True)
        for name in ("interval_seconds", "timeout_seconds"):
            found += _number_problems(name, getattr(self, name), zero_ok=False)
        failures = self.max_consecutive_failures
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
            found.append(
                f"health check max_consecutive_failures must be an integer >= 0, got {failures!r}"
            )
        return found


def _number_problems(name: str, value: object, zero_ok: bool) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return [f"health check {name} must be a number, got {value!r}"]
    if value < 0 or (value == 0 and not zero_ok) or value == float("inf"):
        bound = ">= 0" if zero_ok else "> 0"
        return [f"health check {name} must be finite and {bound}, got {value!r}"]
    return []


def valid_grace_period(seconds: object) -> bool:
    """Whether `seconds` can be a kill's grace period: finite and >= 0."""
    return (
        not isinstance(seconds, bool)
        and isinstance(seconds, int | float)
        and 0 <= seconds < float("inf")
    )


USER_RULE = "an OS user name of 1-64 printable characters without spaces, ':' or '/'"


def valid_user(user: object) -> bool:
    """Whether `user` can name an OS user (whether it exists is the agent's
    to find out)."""
    return (
        isinstance(user, str)
        and 0 < len(user) <= 64
        and user.isprintable()
        and not any(c.isspace() or c in ":/" for c in user)
    )


def check_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id) or ".." in task_id:
        raise InvalidArgumentError(
            f"invalid task id {task_id!r}: use 1-200 characters of [A-Za-z0-9_.-], "
            "not starting with '.' or '-', without '..'"
        )
    return task_id


def command_argv(command: str | Sequence[str] | None, shell: bool) -> list[str]:
    """A command's argv as it will be exec'd (for a valid command)."""
    if shell:
        return ["/bin/sh", "-c", str(command)]
    if isinstance(command, str):
        return shlex.split(command)
    return list(command or ())


def command_problems(command: str | Sequence[str], shell: bool) -> list[str]:
    if shell:
        if isinstance(command, str):
            return []
        return ["a shell command is one string (give an argv with shell=False)"]
    try:
        argv = command_argv(command, shell)
    except (ValueError, TypeError) as error:
        return [f"cannot split command {command!r}: {error}"]
    if not argv or not all(isinstance(word, str) for word in argv):
        return [f"command {command!r} is not a non-empty argv of strings"]
    return []


class _Program:
    """What a task and a custom executor share: resources given as text
    parsed on construction, the command's argv, the environment's check.
    (Its annotations are for the type checker: each dataclass declares the
    fields itself.)"""

    resources: Resources
    command: str | Sequence[str] | None
    shell: bool
    env: dict[str, str]

    def __post_init__(self) -> None:
        if isinstance(self.resources, str):
            object.__setattr__(self, "resources", Resources.parse(self.resources))

    def argv(self) -> list[str]:
        """The command's argv as it will be exec'd (for a valid command)."""
        return command_argv(self.command, self.shell)

    def _env_problems(self) -> list[str]:
        return [
            f"invalid environment variable {key!r}={value!r}"
            for key, value in self.env.items()
            if not isinstance(key, str) or not isinstance(value, str) or "=" in key or not key
        ]


@dataclass(frozen=True)
class ExecutorInfo(_Program):
    """A custom executor (Mesos's ExecutorInfo): the program the agent starts
    once per (framework, `executor_id`) to run the tasks that name it, over
    the v1 executor HTTP API. `command` and `shell` as a task's; `resources`
    are the executor's own, beside its tasks'; `data` is handed to it as is."""

    executor_id: str
    command: str | Sequence[str]
    resources: Resources = field(default_factory=Resources)
    name: str = ""
    shell: bool = True
    env: dict[str, str] = field(default_factory=dict)
    uris: tuple[str, ...] = ()
    data: bytes = b""

    def problems(self) -> list[str]:
        found = []
        try:
            check_task_id(self.executor_id)
        except InvalidArgumentError as error:
            found.append(f"executor: {error}".replace("task id", "executor id"))
        found += [f"executor: {p}" for p in command_problems(self.command, self.shell)]
        found += [f"executor: {p}" for p in self._env_problems()]
        if not isinstance(self.data, bytes):
            found.append(f"executor: data must be bytes, not {type(self.data).__name__}")
        return found


@dataclass(frozen=True)
class TaskInfo(_Program):
    """A task: a command or a Python callable, with the resources it may use.

    `command` with `shell=True` (the default) is a string run by `/bin/sh -c`;
    with `shell=False` it is the argv (a sequence, or a string split like a
    shell would split it), exec'd without a shell. `function` is called with
    `args` and `kwargs` inside the agent's allocation and reports the same
    states; its return value stays in the sandbox. `user` is the OS user
    it runs as (None: its framework's user, else the agent's `task_user`)."""

    task_id: str
    name: str
    resources: Resources
    command: str | Sequence[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    uris: tuple[str, ...] = ()
    function: Any = None
    labels: dict[str, str] = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    shell: bool = True
    health_check: HealthCheck | None = None
    user: str | None = None
    # Mesos's KillPolicy: seconds between SIGTERM and SIGKILL when the task
    # is killed (None: the agent's default); a kill may name its own.
    kill_grace_period: float | None = None
    # Run by this custom executor instead of a command or a function; `data`
    # reaches the executor with the task (Mesos's TaskInfo.data).
    executor: ExecutorInfo | None = None
    data: bytes = b""

    def problems(self) -> list[str]:
        """What makes the task impossible to launch, whatever the offer."""
        found = []
        try:
            check_task_id(self.task_id)
        except InvalidArgumentError as error:
            found.append(str(error))
        runs = [self.command, self.function, self.executor]
        if sum(run is not None for run in runs) != 1:
            found.append("a task needs exactly one of command, function or executor")
        if self.command is not None:
            found += command_problems(self.command, self.shell)
        if self.executor is not None:
            if isinstance(self.executor, ExecutorInfo):
                found += self.executor.problems()
            else:
                found.append(f"executor must be an ExecutorInfo, not {self.executor!r}")
        if not isinstance(self.data, bytes):
            found.append(f"data must be bytes, not {type(self.data).__name__}")
        if self.function is not None and not callable(self.function):
            found.append(f"function {self.function!r} is not callable")
        if self.function is None and (self.args or self.kwargs):
            found.append("args and kwargs are for a function task")
        if not isinstance(self.args, tuple | list):
            found.append(f"args must be a tuple or list, not {type(self.args).__name__}")
        if not isinstance(self.kwargs, dict) or not all(isinstance(k, str) for k in self.kwargs):
            found.append("kwargs must be a dict with string keys")
        if not self.resources:
            found.append("a task needs resources (at least some cpus or mem)")
        found += self._env_problems()
        if self.user is not None and not valid_user(self.user):
            found.append(f"invalid user {self.user!r}: {USER_RULE}")
        if self.health_check is not None:
            if isinstance(self.health_check, HealthCheck):
                found += self.health_check.problems()
            else:
                found.append(f"health_check must be a HealthCheck, not {self.health_check!r}")
        if self.kill_grace_period is not None and not valid_grace_period(self.kill_grace_period):
            found.append(f"kill_grace_period must be seconds >= 0, got {self.kill_grace_period!r}")
        return found


@dataclass(frozen=True)
class Launch:
    """LAUNCH: start each task independently."""

    tasks: list[TaskInfo]


@dataclass(frozen=True)
class LaunchGroup:
    """LAUNCH_GROUP: start all the tasks on one agent, or none of them."""

    tasks: list[TaskInfo]


@dataclass(frozen=True)
class Reserve:
    """RESERVE: make offered unreserved resources reserved, as `resources`
    says (e.g. "cpus(eng,alice):2"); the role must be the offer's."""

    resources: Resources

    def conversion(self) -> tuple[Resources, Resources]:
        """(what the offer gives up, what it gets instead)."""
        return _rewrite(self.resources, unreserve=True), self.resources


@dataclass(frozen=True)
class Unreserve:
    """UNRESERVE: give reserved resources (`resources`, as offered) back to
    the unreserved pool."""

    resources: Resources

    def conversion(self) -> tuple[Resources, Resources]:
        return self.resources, _rewrite(self.resources, unreserve=True)


@dataclass(frozen=True)
class Create:
    """CREATE: persistent volumes (`volumes`, reserved disk with a volume id,
    e.g. "disk(eng,alice)[data]:1024") out of reserved disk."""

    volumes: Resources

    def conversion(self) -> tuple[Resources, Resources]:
        return _rewrite(self.volumes, unvolume=True), self.volumes


@dataclass(frozen=True)
class Destroy:
    """DESTROY: persistent volumes back to plain reserved disk."""

    volumes: Resources

    def conversion(self) -> tuple[Resources, Resources]:
        return self.volumes, _rewrite(self.volumes, unvolume=True)


def reservation_roles(resources: Resources) -> list[str]:
    """The roles `resources` are reserved for (what the reservation and
    volume ACLs are checked against)."""
    roles = {item.get("role") for item in resources.to_json()}
    return sorted(role for role in roles if isinstance(role, str) and role != "*")


def unreserved_form(resources: Resources) -> Resources:
    """The same quantities, unreserved and without volume ids: what dynamic
    reservations and volumes were made from."""
    items = []
    for item in resources.to_json():
        item = {k: v for k, v in item.items() if k not in ("role", "reservation", "disk")}
        items.append(item)
    return Resources.from_json(items)


def _rewrite(resources: Resources, unreserve: bool = False, unvolume: bool = False) -> Resources:
    """The same resources without their reservation or volume id."""
    items = []
    for item in resources.to_json():
        item = dict(item)
        if unreserve:
            if "disk" in item:
                raise InvalidArgumentError(
                    f"a persistent volume cannot be reserved or unreserved: destroy it first "
                    f"({resources})"
                )
            item.pop("role", None)
            item.pop("reservation", None)
        if unvolume:
            if "disk" not in item:
                raise InvalidArgumentError(f"not a persistent volume: {resources}")
            item.pop("disk")
        items.append(item)
    return Resources.from_json(items)


Conversion = Reserve | Unreserve | Create | Destroy
Operation = Launch | LaunchGroup | Reserve | Unreserve | Create | Destroy
