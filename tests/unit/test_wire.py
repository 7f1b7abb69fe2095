"""The hot messages' wire form (pyactors.runtime.wire): every kind the
handles pack comes back equal; what runs a user's code goes unpacked, as
Ray pickles it; a Ray handle or reference, or anything unpicklable, inside
a packed message is a WireError at the sender naming the message."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ray import ObjectRef
from ray.actor import ActorHandle

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo, Unavailability
from pyactors.core.operations import HealthCheck, Launch, LaunchGroup, TaskInfo
from pyactors.core.protocol import (
    Accept,
    Acknowledge,
    AcknowledgeToAgent,
    AgentLost,
    AgentMessage,
    Call,
    CallBatch,
    Decline,
    DestroyVolumes,
    ErrorEvent,
    ForwardUpdates,
    FrameworkEvent,
    FrameworkMessages,
    Heartbeat,
    Kill,
    KillTasks,
    LaunchTasks,
    MessageToTask,
    Reconcile,
    Rescind,
    ResendUpdates,
    Revive,
    SendOffers,
    ShutdownFramework,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.runtime import wire

ids = st.text("abcdefghij-0123456789", min_size=1, max_size=12)
texts = st.text(max_size=20)
seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False)
shapes = st.sampled_from(["cpus:1;mem:128", "cpus:0.5", "cpus(eng):2;disk:10;ports:[31000-31010]"])
resources = shapes.map(Resources.parse)

statuses = st.builds(
    TaskStatus,
    ids,
    st.sampled_from(TaskState),
    st.sampled_from(Source),
    seconds,
    agent_id=st.none() | ids,
    reason=st.none() | st.sampled_from(Reason),
    message=texts,
    healthy=st.none() | st.booleans(),
    uuid=st.none() | ids,
)
tasks = st.builds(
    TaskInfo,
    ids,
    texts,
    resources,
    command=st.just("sleep 1") | st.just(["echo", "x"]),
    env=st.dictionaries(ids, texts, max_size=2),
    labels=st.dictionaries(ids, texts, max_size=2),
    health_check=st.none() | st.just(HealthCheck("TCP", port=80)),
    kill_grace_period=st.none() | seconds,
    data=st.binary(max_size=8),
)
offers = st.builds(
    OfferInfo,
    ids,
    ids,
    ids,
    ids,
    resources,
    hostname=texts,
    attributes=st.dictionaries(ids, texts, max_size=2),
    created_at=seconds,
    unavailability=st.none() | st.builds(Unavailability, seconds, st.none() | seconds),
)
pairs = st.lists(st.tuples(ids, ids), max_size=4)
agent_messages: st.SearchStrategy[AgentMessage] = st.one_of(
    st.builds(LaunchTasks, ids, ids, st.lists(tasks, max_size=3), st.just([]), ids),
    st.builds(KillTasks, ids, ids, st.lists(ids, max_size=3), st.none() | seconds),
    st.builds(DestroyVolumes, ids, st.lists(ids, max_size=3)),
    st.builds(AcknowledgeToAgent, ids, pairs),
    st.builds(ResendUpdates, ids, st.lists(ids, max_size=3)),
    st.builds(MessageToTask, ids, ids, st.binary(max_size=8)),
    st.builds(ShutdownFramework, ids, ids),
)
framework_events: st.SearchStrategy[FrameworkEvent] = st.one_of(
    st.builds(SendOffers, ids, st.lists(offers, max_size=3)),
    st.builds(Rescind, ids, st.lists(ids, max_size=3)),
    st.builds(ForwardUpdates, ids, st.lists(statuses, max_size=3)),
    st.builds(FrameworkMessages, ids, st.lists(st.tuples(ids, ids, st.binary(max_size=8)))),
    st.builds(AgentLost, ids, ids),
    st.builds(ErrorEvent, ids, texts),
    st.builds(Heartbeat, ids),
)
calls: st.SearchStrategy[Call] = st.one_of(
    st.builds(
        Accept,
        st.lists(ids, min_size=1, max_size=2),
        st.lists(st.builds(Launch, st.lists(tasks, max_size=2)), max_size=2),
        seconds,
    ),
    st.builds(Decline, st.lists(ids, max_size=3), seconds),
    st.builds(Acknowledge, pairs),
    st.builds(Kill, ids, st.none() | seconds),
    st.builds(Reconcile, st.lists(ids, max_size=2), st.dictionaries(ids, ids, max_size=2)),
    st.builds(Revive, st.none() | st.lists(ids, max_size=2)),
)


def sent_and_received(packed: Any) -> Any:
    """What the receiver gets: Ray hands it packed bytes as plain bytes."""
    return wire.unpack(bytes(packed) if isinstance(packed, bytes) else packed)


@settings(max_examples=60, deadline=None)
@given(st.lists(agent_messages, max_size=6))
def test_messages_for_agents_come_back_equal(messages: list[AgentMessage]) -> None:
    packed = wire.agent_messages("deliver", messages)
    assert isinstance(packed, wire.Packed)
    assert sent_and_received(packed) == messages


@settings(max_examples=60, deadline=None)
@given(st.lists(framework_events, max_size=6))
def test_events_for_frameworks_come_back_equal(events: list[FrameworkEvent]) -> None:
    assert sent_and_received(wire.pack("deliver_events", events)) == events


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ids, st.lists(calls, max_size=4)), max_size=4))
def test_schedulers_calls_come_back_equal(batches: list[CallBatch]) -> None:
    packed = wire.call_batches("calls_batch", batches)
    assert isinstance(packed, wire.Packed)
    assert sent_and_received(packed) == batches


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ids, st.lists(statuses, max_size=4)), max_size=4))
def test_status_update_batches_come_back_equal(
    batches: list[tuple[str, list[TaskStatus]]],
) -> None:
    received = sent_and_received(wire.pack("status_update_batches", batches))
    assert received == batches
    # The states are the enum's members, not copies of them.
    for (_, sent), (_, got) in zip(batches, received, strict=True):
        for before, after in zip(sent, got, strict=True):
            assert after.state is before.state and after.reason is before.reason


def add(a: int, b: int) -> int:
    return a + b


def function_task() -> TaskInfo:
    return TaskInfo("f", "f", Resources.parse("cpus:1"), function=add, args=(1, 2))


def test_a_launch_running_a_users_function_goes_as_it_is() -> None:
    """Ray pickles it with cloudpickle, which ships the function by value
    and counts the Ray handles its arguments may hold."""
    launch = LaunchTasks("a", "fw", [], [[function_task()]], "r")
    messages: list[AgentMessage] = [AcknowledgeToAgent("a", []), launch]
    assert wire.agent_messages("deliver", messages) is messages
    accept = Accept(["o"], [LaunchGroup([function_task()])], 5.0)
    batches: list[CallBatch] = [("fw", [Kill("t"), accept])]
    assert wire.call_batches("calls_batch", batches) is batches
    assert wire.unpack(batches) is batches


def test_a_ray_reference_inside_a_packed_message_is_refused_naming_it() -> None:
    event = ErrorEvent("fw", ObjectRef.nil())  # type: ignore[arg-type]
    with pytest.raises(wire.WireError, match=r"^deliver_events: a Ray ObjectRef"):
        wire.pack("deliver_events", [event])


def test_an_actor_handle_inside_a_packed_message_is_refused_naming_it() -> None:
    handle = ActorHandle.__new__(ActorHandle)
    # A weak handle's finalizer has nothing to release (this one names no actor).
    handle.__dict__["_ray_weak_ref"] = True
    with pytest.raises(wire.WireError, match=r"^status_update_batches: a Ray ActorHandle"):
        wire.pack("status_update_batches", [("agent", [handle])])


def test_anything_unpicklable_is_refused_naming_the_message() -> None:
    event = ErrorEvent("fw", lambda: None)  # type: ignore[arg-type]
    with pytest.raises(wire.WireError, match=r"^deliver_events: cannot be packed"):
        wire.pack("deliver_events", [event])


def test_packed_bytes_are_the_stdlib_picklers() -> None:
    """Whatever loads pickles loads them (a receiver needs no cloudpickle)."""
    status = TaskStatus("t", TaskState.TASK_RUNNING, Source.SOURCE_AGENT, 1.0, uuid="u")
    assert pickle.loads(wire.pack("status_update_batches", [("a", [status])])) == [("a", [status])]
