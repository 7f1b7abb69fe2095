"""The simulated cluster's toy frameworks and their tasks.

Plain objects answering rounds of offers, named for what they simulate
(the real built-in frameworks are `pyactors.frameworks`):

- `SimulatedBatch`: an endless queue, as many tasks as each offer holds;
- `SimulatedService`: keeps `target` long-running tasks, and wants no
  offers while all of them run;
- `SimulatedGangs`: gangs of `size` tasks that start in one round of offers
  or not at all.

A task's resources are cut out of an offer (`pack`); what is not used goes
back with a filter (`settle`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

from pyactors.core.allocator import Offer

REFUSE_SECONDS = 5.0  # Mesos's default filter for declined offers


class Bundle(Protocol):
    """What the simulation needs of a resource bundle; both `pyactors.Resources`
    and the reference `PyResources` have it."""

    def __add__(self, other: Self, /) -> Self: ...
    def __sub__(self, other: Self, /) -> Self: ...
    def __le__(self, other: Self, /) -> bool: ...
    def __bool__(self) -> bool: ...
    def scalar(self, name: str) -> float: ...
    def to_dict(self) -> Mapping[str, object]: ...


Parse = Callable[[str], Bundle]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task's needs and how long it runs (whole seconds, inclusive range)."""

    cpus: float
    mem: int
    ports: int
    min_seconds: int
    max_seconds: int

    def text(self, port: int | None = None) -> str:
        text = f"cpus:{self.cpus:g};mem:{self.mem}"
        return text if port is None else f"{text};ports:[{port}-{port}]"


@dataclass(frozen=True, slots=True)
class Task:
    framework_id: str
    agent_id: str
    role: str
    resources: Bundle
    ends_at: int


@dataclass(slots=True)
class Recover:
    """Resources handed back: the unused part of an offer, or an offer declined."""

    agent_id: str
    role: str
    resources: Bundle
    refuse_seconds: float


@dataclass(slots=True)
class Answer:
    """A framework's reply to one round of offers."""

    launches: list[Task] = field(default_factory=list)
    recovers: list[Recover] = field(default_factory=list)
    declined: int = 0  # offers handed back whole


@dataclass
class SimulatedFramework:
    """A framework with its counters; subclasses decide what to launch."""

    name: str
    role: str
    weight: float
    spec: TaskSpec
    seed: int
    launched: int = 0
    finished: int = 0
    running: int = 0
    declined: int = 0
    rng: random.Random = field(init=False, repr=False)

    kind: ClassVar[str] = "framework"
    hungry: ClassVar[bool] = True  # always has work, so competes for every spare cpu

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:{self.name}")

    def wants_offers(self) -> bool:
        return True

    def duration(self) -> int:
        return self.rng.randint(self.spec.min_seconds, self.spec.max_seconds)

    def answer(self, offers: Sequence[Offer], now: int, parse: Parse) -> Answer:
        raise NotImplementedError

    def fill(self, offers: Sequence[Offer], now: int, parse: Parse, wanted: float) -> Answer:
        """Launch up to `wanted` tasks, as many as each offer holds in turn."""
        answer = Answer()
        for offer in offers:
            bundles, rest = pack(offer.resources, self.spec, parse, wanted)
            wanted -= len(bundles)
            answer.launches += [self.task(offer, b, now + self.duration()) for b in bundles]
            settle(answer, offer, rest, bool(bundles))
        return answer

    def task(self, offer: Offer, resources: Bundle, ends_at: int) -> Task:
        return Task(self.name, offer.agent_id, offer.role, resources, ends_at)


@dataclass
class SimulatedBatch(SimulatedFramework):
    """Launches as many tasks as each offer holds (an endless queue)."""

    kind: ClassVar[str] = "batch"

    def answer(self, offers: Sequence[Offer], now: int, parse: Parse) -> Answer:
        return self.fill(offers, now, parse, math.inf)


@dataclass
class SimulatedService(SimulatedFramework):
    """Keeps `target` long-running tasks; suppressed while all of them run."""

    target: int = 8
    kind: ClassVar[str] = "service"
    hungry: ClassVar[bool] = False

    def wants_offers(self) -> bool:
        return self.running < self.target

    def answer(self, offers: Sequence[Offer], now: int, parse: Parse) -> Answer:
        return self.fill(offers, now, parse, self.target - self.running)


@dataclass
class SimulatedGangs(SimulatedFramework):
    """Launches gangs of `size` tasks, all in one round or none."""

    size: int = 4
    kind: ClassVar[str] = "gang"

    def answer(self, offers: Sequence[Offer], now: int, parse: Parse) -> Answer:
        answer = Answer()
        slots = sum(len(pack(o.resources, self.spec, parse, math.inf)[0]) for o in offers)
        gangs = slots // self.size
        wanted = gangs * self.size
        ends = [now + self.duration() for _ in range(gangs)]  # a gang ends together
        for offer in offers:
            bundles, rest = pack(offer.resources, self.spec, parse, wanted - len(answer.launches))
            for bundle in bundles:
                gang = len(answer.launches) // self.size
                answer.launches.append(self.task(offer, bundle, ends[gang]))
            settle(answer, offer, rest, bool(bundles))
        return answer


def pack(
    offered: Bundle, spec: TaskSpec, parse: Parse, limit: float
) -> tuple[list[Bundle], Bundle]:
    """Cut up to `limit` tasks of `spec` out of `offered`, lowest ports first;
    returns the tasks' bundles and what is left."""
    need = parse(spec.text())
    bundles: list[Bundle] = []
    rest = offered
    while len(bundles) < limit and need <= rest:
        task = need
        if spec.ports:
            port = first_port(rest)
            if port is None:
                break
            task = parse(spec.text(port))
        bundles.append(task)
        rest = rest - task
    return bundles, rest


def first_port(resources: Bundle) -> int | None:
    ranges = resources.to_dict().get("ports")
    if not isinstance(ranges, list) or not ranges:
        return None
    return int(ranges[0][0])


def settle(answer: Answer, offer: Offer, rest: Bundle, launched: bool) -> None:
    """Hand back what was not used, with a filter either way."""
    if not launched:
        answer.declined += 1
    if rest:
        answer.recovers.append(Recover(offer.agent_id, offer.role, rest, REFUSE_SECONDS))


def default_frameworks(seed: int) -> list[SimulatedFramework]:
    """The run's frameworks: `pi`, `web` and `gang` (see `pyactors.tools.simulate`)."""
    return [
        SimulatedBatch("pi", "science", 1.0, TaskSpec(1, 1024, 0, 2, 10), seed),
        SimulatedService("web", "web", 2.0, TaskSpec(2, 512, 1, 30, 90), seed, target=8),
        SimulatedGangs("gang", "ml", 1.0, TaskSpec(2, 2048, 0, 6, 16), seed, size=4),
    ]
