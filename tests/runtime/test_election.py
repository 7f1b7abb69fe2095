"""Leader election and detection against a real ZooKeeper server."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from support import zookeeper as zk
from support.runtime import wait_for

from pyactors.errors import ZooKeeperUrlError
from pyactors.ha.election import LeaderContender, LeaderDetector, ZooKeeperUrl, parse_zk_url


class Timeline:
    """Every callback of every contender and detector, in the order they ran."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[float, str, Any]] = []

    def record(self, who: str, what: Any) -> None:
        with self.lock:
            self.events.append((time.monotonic(), who, what))

    def of(self, who: str) -> list[Any]:
        with self.lock:
            return [what for _, name, what in self.events if name == who]

    def at(self, who: str, what: Any) -> float:
        with self.lock:
            return next(t for t, name, w in self.events if (name, w) == (who, what))

    def never_two_leaders(self) -> None:
        leaders: set[str] = set()
        with self.lock:
            for _, who, what in self.events:
                if what == "elected":
                    leaders.add(who)
                    assert len(leaders) == 1, f"two leaders at once: {self.events}"
                elif what == "deposed":
                    leaders.discard(who)


class Masters:
    """Contenders, each with its own ZooKeeper session, on one election path."""

    def __init__(self, hosts: str) -> None:
        self.hosts = hosts
        self.path = f"/election-{uuid.uuid4().hex}"
        self.timeline = Timeline()
        self.clients: dict[str, KazooClient] = {}
        self.contenders: dict[str, LeaderContender] = {}
        self._stack = contextlib.ExitStack()

    def client(self) -> KazooClient:
        client: KazooClient = self._stack.enter_context(zk.client(self.hosts))
        return client

    def contend(self, name: str) -> LeaderContender:
        client = self.client()
        info = {"id": name, "actor": f"pyactors-master-{name}", "version": "0.1.0", "start": 1.0}
        contender = LeaderContender(
            client,
            self.path,
            info,
            on_elected=lambda: self.timeline.record(name, "elected"),
            on_deposed=lambda: self.timeline.record(name, "deposed"),
        )
        self._stack.callback(contender.stop, timeout=2)
        contender.start()
        self.clients[name], self.contenders[name] = client, contender
        return contender

    def detect(self) -> LeaderDetector:
        def changed(info: dict[str, Any] | None) -> None:
            self.timeline.record("detector", info and info["id"])

        detector = LeaderDetector(self.client(), self.path, changed)
        self._stack.callback(detector.stop)
        detector.start()
        return detector

    def leaders(self) -> list[str]:
        return [name for name, c in self.contenders.items() if c.is_leader]

    def wait_for_leader(self, among: set[str] | None = None) -> str:
        def one() -> bool:
            leaders = self.leaders()
            return len(leaders) == 1 and (among is None or leaders[0] in among)

        wait_for(one, what=f"one leader among {among or 'all'}", seen=self.leaders, every=0.01)
        return self.leaders()[0]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def masters(zookeeper: Any) -> Iterator[Masters]:
    group = Masters(zookeeper.hosts)
    try:
        yield group
    finally:
        group.close()


def test_three_contenders_elect_exactly_one_leader_with_its_info(masters: Masters) -> None:
    for name in ("m0", "m1", "m2"):
        masters.contend(name)
    detector = masters.detect()
    assert masters.wait_for_leader() == "m0"  # the first to join leads
    time.sleep(0.3)  # no second leader turns up
    assert masters.leaders() == ["m0"]
    assert detector.current() == {
        "id": "m0",
        "actor": "pyactors-master-m0",
        "version": "0.1.0",
        "start": 1.0,
    }
    assert masters.timeline.of("m0") == ["elected"]
    assert masters.timeline.of("m1") == masters.timeline.of("m2") == []


def test_when_the_leaders_session_closes_another_is_elected(masters: Masters) -> None:
    for name in ("m0", "m1", "m2"):
        masters.contend(name)
    assert masters.wait_for_leader() == "m0"

    started = time.monotonic()
    masters.clients["m0"].stop()
    assert not masters.contenders["m0"].is_leader
    new = masters.wait_for_leader(among={"m1", "m2"})
    failover = time.monotonic() - started
    print(f"election failover after the leader's session closed: {failover * 1000:.0f} ms")
    assert new == "m1"
    wait_for(
        lambda: masters.timeline.of("m0") == ["elected", "deposed"],
        what="m0 deposed",
        seen=lambda: masters.timeline.of("m0"),
    )


def test_a_detector_sees_every_leader_change(masters: Masters) -> None:
    masters.detect()
    assert masters.timeline.of("detector") == []
    for name in ("m0", "m1", "m2"):
        masters.contend(name)
    expected: list[str | None] = ["m0"]
    wait_for(
        lambda: masters.timeline.of("detector") == expected,
        what="m0 detected",
        seen=lambda: masters.timeline.of("detector"),
    )
    for leader, successor in (("m0", "m1"), ("m1", "m2"), ("m2", None)):
        masters.clients[leader].stop()
        expected.append(successor)
        wait_for(
            lambda: masters.timeline.of("detector") == expected,
            what=f"{successor} detected",
            seen=lambda: masters.timeline.of("detector"),
        )


def test_an_expired_leader_is_deposed_at_once_and_rejoins_as_a_standby(
    masters: Masters, zookeeper: Any
) -> None:
    old = masters.contend("m0")
    masters.contend("m1")
    assert masters.wait_for_leader() == "m0"
    first_candidate = old.candidate

    zk.expire_session(masters.clients["m0"], zookeeper.hosts)
    # Deposed when its connection dropped, before the expiry was even reported.
    assert not old.is_leader
    assert masters.wait_for_leader(among={"m1"}) == "m1"
    wait_for(lambda: "deposed" in masters.timeline.of("m0"), what="m0 deposed")
    # The server closed the session at once here, so which of the deposition
    # and the election comes first is a race; a real expiry gives the old
    # leader a third of the session timeout to notice first.
    margin = masters.timeline.at("m1", "elected") - masters.timeline.at("m0", "deposed")
    print(f"the expired leader was deposed {margin * 1000:.1f} ms before another was elected")

    # Back with a new session, as a new candidate behind the leader.
    wait_for(lambda: old.candidate not in (None, first_candidate), what="m0 rejoined")
    time.sleep(0.3)
    assert masters.leaders() == ["m1"]
    assert masters.timeline.of("m0") == ["elected", "deposed"]

    # And it is a working standby: it leads once the leader goes.
    masters.clients["m1"].stop()
    assert masters.wait_for_leader() == "m0"


def test_a_leader_whose_connection_drops_is_deposed_and_rejoins(
    masters: Masters, zookeeper: Any
) -> None:
    leader = masters.contend("m0")
    masters.contend("m1")
    assert masters.wait_for_leader() == "m0"
    first_candidate = leader.candidate

    zookeeper.stop()
    try:
        # Fenced as soon as the connection drops; the session itself lives on.
        wait_for(lambda: not leader.is_leader, what="m0 deposed", every=0.01)
        assert masters.leaders() == []
    finally:
        zookeeper.start()

    masters.wait_for_leader()
    wait_for(lambda: leader.candidate not in (None, first_candidate), what="m0 rejoined")
    assert masters.timeline.of("m0")[:2] == ["elected", "deposed"]
    masters.timeline.never_two_leaders()


def test_a_stopped_leader_hands_over(masters: Masters) -> None:
    leader = masters.contend("m0")
    masters.contend("m1")
    assert masters.wait_for_leader() == "m0"
    leader.stop()
    assert not leader.is_leader
    assert masters.wait_for_leader() == "m1"
    assert masters.timeline.of("m0") == ["elected", "deposed"]


@pytest.mark.parametrize(
    ("url", "hosts", "path"),
    [
        ("zk://h1:2181,h2:2182/mesos", ("h1:2181", "h2:2182"), "/mesos"),
        ("zk://10.0.0.1/pyactors/master", ("10.0.0.1:2181",), "/pyactors/master"),
        ("zk://[::1]:2181/a", ("[::1]:2181",), "/a"),
    ],
)
def test_zk_urls_parse(url: str, hosts: tuple[str, ...], path: str) -> None:
    parsed = parse_zk_url(url)
    assert parsed == ZooKeeperUrl(hosts, path)
    assert parsed.connect_string == ",".join(hosts)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://h1:2181/mesos", "starts with zk://"),
        ("h1:2181/mesos", "starts with zk://"),
        ("zk://h1:2181", "bad path"),
        ("zk://h1:2181/", "bad path"),
        ("zk://h1:2181/a//b", "bad path"),
        ("zk://h1:2181/a/", "bad path"),
        ("zk://h1:2181/a/../b", "bad path"),
        ("zk://h1:2181/a b", "bad path"),
        ("zk:///mesos", "bad host ''"),
        ("zk://h1:2181,/mesos", "bad host ''"),
        ("zk://h1:port/mesos", "bad host 'h1:port'"),
        ("zk://h1:99999/mesos", "bad port 99999"),
        ("zk://h1:0/mesos", "bad port 0"),
        ("zk://user@h1:2181/mesos", "bad credentials"),
    ],
)
def test_bad_zk_urls_are_refused_with_the_reason(url: str, complaint: str) -> None:
    with pytest.raises(ZooKeeperUrlError, match=complaint):
        parse_zk_url(url)
