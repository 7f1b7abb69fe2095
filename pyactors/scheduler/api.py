"""The scheduler API: subclass `Scheduler`, and pyactors runs it as an actor.

Callbacks follow Mesos's scheduler API; each receives the `Driver`, through
which the scheduler sends its calls. Status updates are acknowledged after
`update` returns unless the scheduler sets `auto_acknowledge = False`.

The driver batches: every call a scheduler makes during one callback goes to
the master in one message when the callback returns (a scheduler that
accepts 50 offers sends one message, not 50). Calls made outside a callback
(from a method the cluster handle invokes) are sent at once.

The framework actor follows the leading master (`pyactors.ha.leader`): on every
change it subscribes again with its framework id (the scheduler's
`subscribed` runs again) and reconciles the tasks it last saw live or
launched and has not heard of since, naming their agents, so that a new
leader answers for tasks on agents that never come back and for launches
lost with the master they went to. Calls made while no leader is known are
lost, as Mesos's are: offers die with their master, and unacknowledged
updates are resent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, assert_never

from ray.actor import ActorHandle

from pyactors.core.offer import InverseOfferInfo, OfferInfo
from pyactors.core.operations import Launch, LaunchGroup, Operation, valid_grace_period
from pyactors.core.protocol import (
    Accept,
    Acknowledge,
    AgentLost,
    AnswerInverseOffers,
    Call,
    Decline,
    ErrorEvent,
    ForwardUpdates,
    FrameworkEvent,
    FrameworkMessages,
    Heartbeat,
    Kill,
    Message,
    Reconcile,
    Request,
    Rescind,
    RescindInverseOffers,
    Revive,
    SendInverseOffers,
    SendOffers,
    Shutdown,
    Suppress,
    Teardown,
    UpdateFramework,
)
from pyactors.core.tasks import Reason, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError
from pyactors.ha.leader import LeaderFollower, MasterLocation
from pyactors.runtime.handles import FrameworkRef, MasterRef
from pyactors.runtime.wire import Wire, unpack

log = logging.getLogger(__name__)

# How many delivered updates a framework actor remembers to drop duplicates
# (an agent resends an update whose acknowledgement is still on its way).
_REMEMBERED_UPDATES = 100_000


_T = TypeVar("_T")

# A batch of one framework's calls as it leaves the driver.
CallSink = Callable[[str, list[Call]], None]


def _remember(memory: OrderedDict[str, _T], task_id: str, value: _T) -> None:
    """Keep a task's latest uuid (or state), forgetting the oldest tasks
    past the bound."""
    memory[task_id] = value
    memory.move_to_end(task_id)
    if len(memory) > _REMEMBERED_UPDATES:
        memory.popitem(last=False)


class Driver:
    """What a scheduler can ask of the master: Mesos's v1 scheduler calls,
    each sent as its `pyactors.core.protocol` message.

    Batches go to the master in one `calls_batch` message each, sent as
    `host` (the actor the framework subscribed with: the master hears only
    its current one), or to `sink` when given (a pool of frameworks sends all
    of theirs together)."""

    def __init__(
        self,
        master: MasterRef,
        framework_id: str,
        host: FrameworkRef,
        sink: CallSink | None = None,
    ) -> None:
        self.master = master
        self.framework_id = framework_id
        self.host = host
        self._sink = sink or self._to_master
        self._outbox: list[Call] = []
        self._depth = 0
        # task id -> uuid of the last update the scheduler acknowledged.
        self._acknowledged: OrderedDict[str, str] = OrderedDict()
        # Told of the offers each accept or decline gives back and the
        # accept's operations (the framework actor keeps the tasks
        # launched, to reconcile them).
        self.on_offers_used: Callable[[list[str], list[Operation]], None] | None = None

    def accept(
        self, offer_ids: Sequence[str], operations: Sequence[Operation], refuse_seconds: float = 5.0
    ) -> None:
        """Use offers (all from one agent) for the operations, in order; what
        they leave unused is declined with `refuse_seconds`."""
        offers, launched = list(offer_ids), list(operations)
        if self.on_offers_used is not None:
            self.on_offers_used(offers, launched)
        self._call(Accept(offers, launched, refuse_seconds))

    def decline(self, offer_ids: Sequence[str], refuse_seconds: float = 5.0) -> None:
        """Give offers back; they are not offered to this framework again for
        `refuse_seconds` (0: no filter)."""
        offers = list(offer_ids)
        if self.on_offers_used is not None:
            self.on_offers_used(offers, [])
        self._call(Decline(offers, refuse_seconds))

    def accept_inverse_offers(
        self, inverse_offer_ids: Sequence[str], refuse_seconds: float | None = None
    ) -> None:
        """Agree to give back what the inverse offers ask for by their
        unavailability (the operator sees ACCEPT in the maintenance status);
        no inverse offer for those agents for `refuse_seconds` (None:
        Mesos's 5 s)."""
        self._call(AnswerInverseOffers(list(inverse_offer_ids), True, refuse_seconds))

    def decline_inverse_offers(
        self, inverse_offer_ids: Sequence[str], refuse_seconds: float | None = None
    ) -> None:
        """Say the maintenance would hurt (DECLINE in the maintenance status);
        asked again after `refuse_seconds` (None: Mesos's 5 s)."""
        self._call(AnswerInverseOffers(list(inverse_offer_ids), False, refuse_seconds))

    def acknowledge(self, status: TaskStatus) -> None:
        """Let the agent forget an update (only needed with
        `auto_acknowledge = False`)."""
        self.acknowledge_all([status])

    def acknowledge_all(self, statuses: Sequence[TaskStatus]) -> None:
        """Acknowledge updates in one call (the master and the agents then
        take them as one batch, not one message each)."""
        acknowledgements = []
        for status in statuses:
            if status.uuid is not None:
                _remember(self._acknowledged, status.task_id, status.uuid)
                acknowledgements.append((status.task_id, status.uuid))
        if acknowledgements:
            self._call(Acknowledge(acknowledgements))

    def acknowledged(self, status: TaskStatus) -> bool:
        """Whether this update was acknowledged (its task's latest)."""
        return status.uuid is not None and self._acknowledged.get(status.task_id) == status.uuid

    def kill(self, task_id: str, grace_period: float | None = None) -> None:
        """Kill a task: SIGTERM, then SIGKILL after `grace_period` seconds
        (Mesos's KillPolicy; None: the task's own kill policy, else the
        agent's default). InvalidArgumentError for a negative or infinite
        period (nothing is sent)."""
        if grace_period is not None and not valid_grace_period(grace_period):
            raise InvalidArgumentError(
                f"kill of {task_id!r}: grace_period must be a number of seconds >= 0, "
                f"got {grace_period!r}"
            )
        self._call(Kill(task_id, grace_period))

    def reconcile(
        self, task_ids: Sequence[str] = (), agent_ids: Mapping[str, str] | None = None
    ) -> None:
        """The latest state of these tasks (of all the framework's when none
        are named) comes back as updates with REASON_RECONCILIATION.
        `agent_ids` (task id -> agent id) says where a task was last seen:
        a master that does not know the task answers from that agent."""
        self._call(Reconcile(list(task_ids), dict(agent_ids or {})))

    def revive(self, roles: Sequence[str] | None = None) -> None:
        """Offers again in these roles (all when None), filters cleared."""
        self._call(Revive(None if roles is None else list(roles)))

    def suppress(self, roles: Sequence[str] | None = None) -> None:
        """No offers in these roles (all when None) until revived."""
        self._call(Suppress(None if roles is None else list(roles)))

    def request(self, roles: Sequence[str] | None = None) -> None:
        """Ask for resources now. Like Mesos's allocator, which takes requests
        only as a hint, it clears the framework's filters in these roles."""
        self._call(Request(None if roles is None else list(roles)))

    def update_framework(
        self,
        roles: Sequence[str] | None = None,
        capabilities: Sequence[str] | None = None,
        failover_timeout: float | None = None,
        name: str | None = None,
    ) -> None:
        """Change the framework's info; a role that still holds resources
        cannot be dropped (an error event says so and nothing changes)."""
        self._call(
            UpdateFramework(
                None if roles is None else list(roles),
                None if capabilities is None else list(capabilities),
                failover_timeout,
                name,
            )
        )

    def message(self, agent_id: str, executor_id: str, data: bytes) -> None:
        """Send `data` (at most 1 MiB) to a running task: its executor id is
        its task id. The task reads it with `pyactors.agent.task_messages.receive()`
        (or from `$MESOS_SANDBOX/inbox/`). Best effort, like Mesos's."""
        self._call(Message(agent_id, executor_id, data))

    def shutdown(self, agent_id: str, executor_id: str) -> None:
        """End an executor and its tasks; every task is its own executor
        (its id is the task id), so this kills that task."""
        self._call(Shutdown(agent_id, executor_id))

    def teardown(self) -> None:
        """End the framework: its tasks are killed, its resources freed, its
        id retired."""
        self._call(Teardown())

    def flush(self) -> None:
        """Send the calls made so far (done for you after each callback)."""
        if self._outbox:
            batch, self._outbox = self._outbox, []
            self._sink(self.framework_id, batch)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold calls until the outermost batch ends, then send them in one
        message."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.flush()

    def _to_master(self, framework_id: str, batch: list[Call]) -> None:
        self.master.calls_batch(self.host, [(framework_id, batch)])

    def _call(self, call: Call) -> None:
        self._outbox.append(call)
        if self._depth == 0:
            self.flush()


class Scheduler:
    """Override the callbacks you need; the defaults decline and ignore."""

    auto_acknowledge = True
    # Seconds between calls of `tick` once subscribed (None: never).
    tick_interval: float | None = None
    # Where the scheduler's own web UI or API answers, given to the master
    # with each subscription (Mesos's FrameworkInfo.webui_url).
    webui_url: str | None = None

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        pass

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        driver.decline([o.id for o in offers])

    def rescind(self, driver: Driver, offer_id: str) -> None:
        pass

    def inverse_offers(self, driver: Driver, inverse_offers: list[InverseOfferInfo]) -> None:
        """Agents this framework holds resources on are scheduled for
        maintenance: answer with `driver.accept_inverse_offers` or
        `decline_inverse_offers` (unanswered, the operator sees no answer)."""

    def inverse_offer_rescinded(self, driver: Driver, inverse_offer_id: str) -> None:
        """The maintenance it asked about changed or ended."""

    def update(self, driver: Driver, status: TaskStatus) -> None:
        pass

    def message(self, driver: Driver, agent_id: str, executor_id: str, data: bytes) -> None:
        pass

    def failure(
        self, driver: Driver, agent_id: str, executor_id: str | None, status: int | None
    ) -> None:
        """An agent was lost (executor_id and status None), as Mesos's
        FAILURE event; its tasks' updates come separately."""

    def error(self, driver: Driver, message: str) -> None:
        pass

    def stopping(self) -> None:
        """The framework actor is being stopped (the cluster shut down,
        `pyactors down`, a teardown): release what the scheduler holds
        outside the actor, such as processes it started or sessions."""

    def tick(self, driver: Driver) -> None:
        """Called every `tick_interval` seconds: for schedulers that act on
        time with no event to wake them (a job falling due, held offers
        to let go)."""


class FrameworkActor:
    """Runs a user's Scheduler: subscribes, turns events into callbacks and
    sends each callback's calls as one batch."""

    def __init__(
        self,
        scheduler_cls: type[Scheduler],
        args: tuple[Any, ...],
        location: MasterLocation,
        name: str,
        roles: list[str],
        failover_timeout: float,
        capabilities: list[str],
        framework_id: str | None = None,
        sink: CallSink | None = None,
        principal: str | None = None,
        secret: str | None = None,
        user: str | None = None,
    ) -> None:
        self._refused: Exception | None = None
        try:
            self.scheduler = scheduler_cls(*args)
        except Exception as error:
            # Raised by `start`: an actor whose creation fails tells its
            # caller only that it died, not why (a bad argument).
            self._refused = error
        self.sink = sink
        self.follower = LeaderFollower(location, self._follow)
        self.name = name
        self.roles = roles
        self.failover_timeout = failover_timeout
        self.capabilities = capabilities
        self.framework_id = framework_id
        # Kept to subscribe again with each new leader.
        self.principal = principal
        self._secret = secret
        self.user = user
        self.driver: Driver | None = None
        # This actor, as the master sends to it (set by `start`).
        self.ref: FrameworkRef | None = None
        self._ticker: asyncio.Task[None] | None = None
        # task id -> uuid of the last update delivered to the scheduler.
        self._delivered: OrderedDict[str, str] = OrderedDict()
        # Tasks last seen live, or launched and not heard of since (as
        # TASK_STAGING): task id -> (agent id, state), reconciled with a
        # new leader.
        self._live: dict[str, tuple[str, TaskState]] = {}
        # offer id -> its agent, for the offers outstanding.
        self._offer_agents: dict[str, str] = {}
        # Tasks this actor reconciled with a new leader, until answered.
        self._reconciling: set[str] = set()
        # task id -> the terminal state the scheduler has seen it reach, and
        # that update's uuid (None: a reconciliation answer, whose update
        # the agent may still send).
        self._ended: OrderedDict[str, tuple[TaskState, str | None]] = OrderedDict()

    async def start(self, handle: ActorHandle[Any]) -> str:
        """Subscribe (with the leader); returns the framework id."""
        if self._refused is not None:
            raise self._refused
        self.ref = FrameworkRef(handle)
        await self.follower.start()
        if self.scheduler.tick_interval is not None:
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick_every(self.scheduler.tick_interval)
            )
        return self._driver().framework_id

    async def _tick_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            driver = self._driver()
            try:
                with driver.batch():
                    self.scheduler.tick(driver)
            except Exception:
                # One bad tick must not stop the timer for good.
                log.exception("the scheduler's tick failed")

    async def _follow(self, handle: ActorHandle[Any]) -> None:
        if self.ref is None:
            raise RuntimeError(f"framework {self.name!r} subscribes before it started")
        master = MasterRef(handle)
        framework_id = await master.subscribe(
            self.ref,
            self.name,
            self.roles,
            self.framework_id,
            self.capabilities,
            self.failover_timeout,
            self.principal,
            self._secret,
            self.user,
            self.scheduler.webui_url,
        )
        self.framework_id = framework_id
        resubscribed = self.driver is not None
        if self.driver is None:
            self.driver = Driver(master, framework_id, self.ref, self.sink)
            self.driver.on_offers_used = self._offers_used
        self.driver.master = master
        # Offers die with the master that made them.
        self._offer_agents.clear()
        with self.driver.batch():
            self.scheduler.subscribed(self.driver, framework_id, {"master": "pyactors"})
            if resubscribed and self._live:
                agents = {task_id: agent_id for task_id, (agent_id, _) in self._live.items()}
                self._reconciling = set(agents)
                self.driver.reconcile(list(agents), agents)

    async def deliver_events(self, events: Wire[list[FrameworkEvent]]) -> None:
        """What the master sends, in order."""
        for event in unpack(events):
            self.receive(event)

    def receive(self, event: FrameworkEvent) -> None:
        """One event from the master (a pool of frameworks hands each its
        own without a coroutine per event)."""
        match event:
            case SendOffers(_, offers):
                self._offers(offers)
            case Rescind(_, offer_ids):
                self._rescind(offer_ids)
            case SendInverseOffers(_, inverse_offers):
                driver = self._driver()
                with driver.batch():
                    self.scheduler.inverse_offers(driver, inverse_offers)
            case RescindInverseOffers(_, inverse_offer_ids):
                driver = self._driver()
                with driver.batch():
                    for inverse_offer_id in inverse_offer_ids:
                        self.scheduler.inverse_offer_rescinded(driver, inverse_offer_id)
            case ForwardUpdates(_, statuses):
                self._updates(statuses)
            case ErrorEvent(_, message):
                self._error(message)
            case AgentLost(_, agent_id):
                self._agent_lost(agent_id)
            case FrameworkMessages(_, messages):
                self._messages(messages)
            case Heartbeat():
                # Delivered at all: the master sees this actor lives.
                pass
            case _:
                assert_never(event)

    def _offers(self, offers: list[OfferInfo]) -> None:
        self._offer_agents.update((offer.id, offer.agent_id) for offer in offers)
        driver = self._driver()
        with driver.batch():
            self.scheduler.offers(driver, offers)

    def _rescind(self, offer_ids: list[str]) -> None:
        for offer_id in offer_ids:
            self._offer_agents.pop(offer_id, None)
        driver = self._driver()
        with driver.batch():
            for offer_id in offer_ids:
                self.scheduler.rescind(driver, offer_id)

    def _updates(self, statuses: list[TaskStatus]) -> None:
        """Deliver each update once, then acknowledge the batch in one call.

        A resent duplicate (same uuid) is not delivered again; it is
        acknowledged again only if the scheduler acknowledged it (itself, or
        by `auto_acknowledge`), since the agent sends a task's next update
        only once the previous one is acknowledged. Reconciliation answers
        carry no uuid: each is delivered, even one that repeats the task's
        last state, as Mesos's are; only the answers to the reconciliation
        this actor makes for a new leader that repeat what the scheduler
        knows are dropped.

        A task's terminal state reaches the scheduler once. Across a master
        failover the new leader may answer this actor's reconciliation with
        a terminal state whose update (with its uuid) the agent has not yet
        had acknowledged; the scheduler gets the answer, and the update,
        when the agent resends it, is not delivered again but acknowledged
        here: the scheduler has nothing to acknowledge it with.

        The batch's acknowledgements go as one call after its callbacks
        (those a callback raised before are still sent)."""
        driver = self._driver()
        auto_acknowledge = self.scheduler.auto_acknowledge
        delivered, ended = self._delivered, self._ended
        acknowledging: list[TaskStatus] = []
        with driver.batch():
            try:
                for status in statuses:
                    task_id, uuid = status.task_id, status.uuid
                    if uuid is None:
                        if not self._answers_own_reconciliation(status):
                            self._deliver(driver, status)
                        continue
                    duplicate = delivered.get(task_id) == uuid
                    # The agent's update of a terminal state a
                    # reconciliation answer already gave the scheduler.
                    answered = ended.get(task_id) == (status.state, None)
                    if not (duplicate or answered):
                        self._deliver(driver, status)
                    if auto_acknowledge or answered or (duplicate and driver.acknowledged(status)):
                        acknowledging.append(status)
            finally:
                driver.acknowledge_all(acknowledging)

    def _deliver(self, driver: Driver, status: TaskStatus) -> None:
        self.scheduler.update(driver, status)
        if status.uuid is not None:
            _remember(self._delivered, status.task_id, status.uuid)
        if status.state.is_terminal:
            self._live.pop(status.task_id, None)
            _remember(self._ended, status.task_id, (status.state, status.uuid))
            return
        # Live again: a task id launched anew after it ended.
        self._ended.pop(status.task_id, None)
        if status.agent_id is not None:
            self._live[status.task_id] = (status.agent_id, status.state)

    def _offers_used(self, offer_ids: list[str], operations: list[Operation]) -> None:
        """The tasks launched are live (staging) until heard of: a launch
        can die with the master it went to, or be dropped by one that was
        losing its leadership, and then only a reconciliation with the next
        leader tells (TASK_GONE once their agent is back without them)."""
        offer_agents = self._offer_agents
        agents = {offer_agents.pop(o) for o in offer_ids if o in offer_agents}
        if len(agents) != 1 or not operations:
            return  # a decline, or offers not given to this actor (refused)
        (agent_id,) = agents
        for operation in operations:
            if isinstance(operation, Launch | LaunchGroup):
                for task in operation.tasks:
                    self._live.setdefault(task.task_id, (agent_id, TaskState.TASK_STAGING))

    def _answers_own_reconciliation(self, status: TaskStatus) -> bool:
        """Whether the update answers this actor's reconciliation with a new
        leader and repeats the task's last state, or the terminal state it
        has seen (nothing the scheduler asked or needs to hear)."""
        if status.reason is not Reason.REASON_RECONCILIATION or status.uuid is not None:
            return False
        if status.task_id not in self._reconciling:
            return False
        self._reconciling.discard(status.task_id)
        ended = self._ended.get(status.task_id)
        if ended is not None and ended[0] is status.state:
            return True
        live = self._live.get(status.task_id)
        return live is not None and live[1] is status.state

    def _error(self, message: str) -> None:
        driver = self._driver()
        with driver.batch():
            self.scheduler.error(driver, message)

    def _messages(self, messages: list[tuple[str, str, bytes]]) -> None:
        """Messages tasks sent: (agent id, executor id = task id, data)."""
        driver = self._driver()
        with driver.batch():
            for agent_id, executor_id, data in messages:
                self.scheduler.message(driver, agent_id, executor_id, data)

    def _agent_lost(self, agent_id: str) -> None:
        driver = self._driver()
        with driver.batch():
            self.scheduler.failure(driver, agent_id, None, None)

    async def heartbeat(self) -> None:
        """Answers, to show this actor lives (the cluster handle asks)."""

    async def subscribed_as(self) -> str:
        """The framework id it subscribed with (for a handle found by name)."""
        return self._driver().framework_id

    async def shutdown(self) -> None:
        """Let the scheduler release what it holds and close the ZooKeeper
        session now (before the actor is stopped)."""
        if self._ticker is not None:
            self._ticker.cancel()
        try:
            self.scheduler.stopping()
        except Exception:
            # The session below must be closed whatever the scheduler did.
            log.exception("the scheduler's stopping failed")
        self.follower.stop()

    async def call(self, method: str, *args: Any) -> Any:
        """Run a method of the user's scheduler inside the actor (for
        inspection and control from the cluster handle); driver calls it
        makes are sent when it returns."""
        with self._driver().batch():
            return getattr(self.scheduler, method)(*args)

    def _driver(self) -> Driver:
        if self.driver is None:
            raise RuntimeError("the framework has not subscribed yet")
        return self.driver
