"""The hot messages' wire form: pickled once by the stdlib's C pickler.

Ray pickles every argument of a call with cloudpickle, whose Python-level
`reducer_override` runs once per object: at thousands of launches a second
that was a third of the master's time (issue 18's flame graph). Batches of
protocol values (`pyactors.core.protocol`) hold no code, so the C pickler
(protocol 5) serves them as well, at about half the cost; Ray passes the
`bytes` it makes through untouched, and the receiving actor loads them.

`Packed[T]` is those bytes, typed with what they hold, so that `pack` at
the sender and `unpack` at the receiver keep the value's type (Ray hands
the receiver plain `bytes`). A batch that carries a user's code (a task
running a Python function, with its arguments) goes as it is, pickled by
Ray as before: cloudpickle ships a function by value and takes Ray's
handles inside it into account, which the C pickler does not. `Wire[T]` is
either form; `unpack` takes both.

Ray's actor handles and object references never go inside packed bytes
(pickled out of band, Ray would not count the reference the receiver
holds): they travel as Ray arguments of their own, and one inside a
packed payload is a `WireError` at the sender, naming the message.
"""

from __future__ import annotations

import copyreg
import enum
import io
import pickle
from collections.abc import Iterable
from typing import Any, Generic, NoReturn, TypeAlias, TypeVar

from ray import ObjectRef
from ray.actor import ActorHandle

from pyactors.core.operations import Launch, LaunchGroup, TaskInfo
from pyactors.core.protocol import Accept, AgentMessage, CallBatch, LaunchTasks
from pyactors.core.tasks import Reason, Source, TaskState
from pyactors.errors import PyactorsError

T = TypeVar("T")


class Packed(bytes, Generic[T]):
    """A `T` pickled by `pack`."""

    __slots__ = ()


Wire: TypeAlias = Packed[T] | T


class WireError(PyactorsError, TypeError):
    """A message cannot be packed (it holds a Ray handle or reference, or
    something that cannot be pickled); nothing was sent."""


def _refuse(value: object) -> NoReturn:
    raise _Refused(type(value).__name__)


class _Refused(Exception):
    pass


def _by_name(member: enum.Enum) -> str:
    # A string names a global: loading it is a getattr, not the enum's
    # Python-level lookup by value that its own reduce calls.
    return f"{type(member).__qualname__}.{member.name}"


class _Pickler(pickle.Pickler):
    dispatch_table: dict[type, Any] = {  # noqa: RUF012 (read by the C pickler, never changed)
        **copyreg.dispatch_table,
        ActorHandle: _refuse,
        ObjectRef: _refuse,
        TaskState: _by_name,
        Source: _by_name,
        Reason: _by_name,
    }


def pack(message: str, value: T) -> Packed[T]:
    """`value` as bytes for `unpack`; `message` names it in a WireError."""
    out = io.BytesIO()
    try:
        _Pickler(out, protocol=5).dump(value)
    except _Refused as refused:
        raise WireError(
            f"{message}: a Ray {refused} cannot travel inside a packed message; "
            "pass it as an argument of the call"
        ) from None
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise WireError(f"{message}: cannot be packed: {error}") from None
    return Packed(out.getbuffer())


def unpack(value: Wire[T]) -> T:
    """What `pack` packed, or the value itself if it came unpacked."""
    if isinstance(value, bytes):
        loaded: T = pickle.loads(value)
        return loaded
    return value


def _runs_code(tasks: Iterable[TaskInfo]) -> bool:
    return any(task.function is not None or task.args or task.kwargs for task in tasks)


def agent_messages(message: str, messages: list[AgentMessage]) -> Wire[list[AgentMessage]]:
    """Messages for agents, packed unless a launch runs a user's function."""
    for each in messages:
        if isinstance(each, LaunchTasks) and (
            _runs_code(each.tasks) or any(_runs_code(group) for group in each.groups)
        ):
            return messages
    return pack(message, messages)


def call_batches(message: str, batches: list[CallBatch]) -> Wire[list[CallBatch]]:
    """Schedulers' calls, packed unless one launches a user's function."""
    for _, calls in batches:
        for call in calls:
            if isinstance(call, Accept) and any(
                isinstance(operation, Launch | LaunchGroup) and _runs_code(operation.tasks)
                for operation in call.operations
            ):
                return batches
    return pack(message, batches)
