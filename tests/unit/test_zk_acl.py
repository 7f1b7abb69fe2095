"""ZooKeeper digest credentials in zk:// URLs and the ACLs of the znodes
pyactors creates, against a real ZooKeeper server (no Ray): other clients
cannot rewrite (or, but for the election, read) what pyactors keeps."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import OPEN_ACL_UNSAFE, Permissions, make_digest_acl
from support import zookeeper as zk
from support.runtime import PATIENCE, wait_for

from pyactors.errors import RegistryError, ZooKeeperUrlError
from pyactors.frameworks.jobs.store import ZooKeeperJobStore
from pyactors.frameworks.services.store import ZooKeeperStore
from pyactors.ha.election import (
    LeaderContender,
    LeaderDetector,
    parse_zk_url,
    redact_zk_url,
)
from pyactors.ha.leader import ELECTION, JOBS, REGISTRY, MasterLocation, close_client, zk_client
from pyactors.master.registry import ZooKeeperRegistry
from pyactors.master.registry_records import AgentEntry

pytestmark = pytest.mark.timeout(120)

USER = "pyactors"
SECRET = "s3cr3t-Pa55"


# ------------------------------------------------------------ URLs


def test_credentials_are_parsed_and_never_shown() -> None:
    url = parse_zk_url(f"zk://{USER}:{SECRET}@h1:2181,h2/pyactors")
    assert (url.hosts, url.path, url.user, url.password) == (
        ("h1:2181", "h2:2181"),
        "/pyactors",
        USER,
        SECRET,
    )
    assert url.auth_data == [("digest", f"{USER}:{SECRET}")]
    assert url.acl == [make_digest_acl(USER, SECRET, all=True)]
    assert SECRET not in repr(url) and SECRET not in str(url)
    location = MasterLocation(zk=f"zk://{USER}:{SECRET}@h1/pyactors")
    assert SECRET not in repr(location)
    assert f"zk://{USER}:******@h1/pyactors" in repr(location)


def test_escaped_characters_in_credentials() -> None:
    url = parse_zk_url("zk://me:a%3Ab%40c%2Fd@h1/p")
    assert url.auth_data == [("digest", "me:a:b@c/d")]


def test_a_url_without_credentials_changes_nothing() -> None:
    url = parse_zk_url("zk://h1/p")
    assert (url.user, url.password, url.auth_data, url.acl) == (None, None, [], None)


@pytest.mark.parametrize(
    "url",
    [
        f"zk://{USER}@h1/p",
        f"zk://:{SECRET}@h1/p",
        f"zk://{USER}:@h1/p",
        f"zk://{USER}:{SECRET}@h1:99999/p",
        f"zk://{USER}:{SECRET}@h1:port/p",
        f"zk://{USER}:{SECRET}@h1",
        f"zk://{USER}:{SECRET}/x@h1/p",
        f"http://{USER}:{SECRET}@h1/p",
    ],
)
def test_a_bad_url_is_refused_without_showing_its_password(url: str) -> None:
    with pytest.raises(ZooKeeperUrlError) as refused:
        parse_zk_url(url)
    assert SECRET not in str(refused.value)
    assert SECRET.split("/")[0] not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        f"zk://{USER}:{SECRET}@h1/p",
        f"zk://{USER}:{SECRET}@@h1/p",
        f"zk://{USER}:{SECRET}/more@h1/p",
        f"zk://{SECRET}@h1/p",
        f"zk://we:ird:{SECRET}@h1/p",
    ],
)
def test_redaction_hides_every_password(url: str) -> None:
    assert SECRET not in redact_zk_url(url)
    assert "******@" in redact_zk_url(url)


# ------------------------------------------------------------ znodes


@pytest.fixture
def url(zookeeper: Any) -> str:
    return f"zk://{USER}:{SECRET}@{zookeeper.hosts}/secure-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def clients() -> Iterator[list[KazooClient]]:
    """Clients a test opened through `zk_client`, closed after it."""
    opened: list[KazooClient] = []
    yield opened
    for client in opened:
        close_client(client)


@pytest.fixture
def stranger(zookeeper: Any) -> Iterator[KazooClient]:
    """A client without credentials."""
    with zk.client(zookeeper.hosts) as client:
        yield client


@pytest.fixture
def impostor(zookeeper: Any) -> Iterator[KazooClient]:
    """A client with the user's name and a wrong password."""
    client = KazooClient(hosts=zookeeper.hosts, auth_data=[("digest", f"{USER}:wrong")])
    client.start(timeout=PATIENCE)
    yield client
    client.stop()
    client.close()


def opened(clients: list[KazooClient], url: str) -> KazooClient:
    client = zk_client(url, 10.0)
    clients.append(client)
    return client


def refused(*calls: Any) -> None:
    for call in calls:
        with pytest.raises(NoAuthError):
            call()


def test_the_election_is_readable_by_all_and_changed_by_none_else(
    url: str, clients: list[KazooClient], stranger: KazooClient, impostor: KazooClient
) -> None:
    election = parse_zk_url(url).path + ELECTION
    info = {"id": "m0", "actor": "pyactors-master-m0", "version": "0", "start": 1.0}
    contender = LeaderContender(opened(clients, url), election, info)
    contender.start()
    try:
        wait_for(lambda: contender.is_leader, what="m0 to lead")
        candidate = f"{election}/{contender.candidate}"
        # Found without credentials, as Mesos's masters are.
        detector = LeaderDetector(stranger, election)
        detector.start()
        assert detector.current() == info
        detector.stop()
        for other in (stranger, impostor):
            refused(
                lambda c=other: c.set(candidate, b'{"id": "evil", "actor": "evil"}'),
                lambda c=other: c.delete(candidate),
                lambda c=other: c.create(f"{election}/candidate_0", b"{}", ephemeral=True),
                lambda c=other: c.set_acls(candidate, OPEN_ACL_UNSAFE),
            )
        assert contender.is_leader
        acl = stranger.get_acls(candidate)[0]
        assert {(a.id.scheme, a.perms) for a in acl} == {
            ("digest", Permissions.ALL),
            ("world", Permissions.READ),
        }
        # The holder of the credentials can.
        peer = opened(clients, url)
        peer.set(candidate, peer.get(candidate)[0])
    finally:
        contender.stop(timeout=10)


def test_the_registry_is_the_credentials_holders_alone(
    url: str, clients: list[KazooClient], stranger: KazooClient, impostor: KazooClient
) -> None:
    path = parse_zk_url(url).path + REGISTRY
    owner = opened(clients, url)
    registry = ZooKeeperRegistry(owner, path)
    registry.load()
    registry.put(AgentEntry("agent-1", "host-1", "cpus:1", {}))
    record = f"{path}/agent/agent-1"
    for other in (stranger, impostor):
        refused(
            lambda c=other: c.get(path),
            lambda c=other: c.get(record),
            lambda c=other: c.get_children(f"{path}/agent"),
            lambda c=other: c.set(path, b"{}"),
            lambda c=other: c.set(record, b"{}"),
            lambda c=other: c.delete(record),
            lambda c=other: c.create(f"{path}/agent/evil", b"{}"),
        )
    # Even the ACL is hidden from others (ZooKeeper asks READ for it).
    refused(lambda: stranger.get_acls(record))
    acl, _ = owner.get_acls(record)
    assert acl == [make_digest_acl(USER, SECRET, all=True)]
    # Another master with the credentials reads it, and fences the first.
    successor = ZooKeeperRegistry(opened(clients, url), path)
    assert list(successor.load().agents) == ["agent-1"]
    successor.remove_agent("agent-1")
    assert successor.load().agents == {}


def test_the_jobs_and_services_stores_carry_the_acl(url: str, stranger: KazooClient) -> None:
    root = parse_zk_url(url).path
    jobs = ZooKeeperJobStore(url, 10.0)
    services = ZooKeeperStore(url)
    try:
        jobs.claim()
        jobs.commit("framework-1", {"nightly": ({"name": "nightly"}, {"1": {"id": "nightly-1"}})})
        services.save({"apps": []})
        assert jobs.load().records == [{"name": "nightly"}]
        for znode in (
            f"{root}{JOBS}",
            f"{root}{JOBS}/nightly",
            f"{root}{JOBS}/nightly/1",
            services.path,
        ):
            acl, _ = jobs.client.get_acls(znode)
            assert acl == [make_digest_acl(USER, SECRET, all=True)], znode
            refused(lambda z=znode: stranger.set(z, b"{}"), lambda z=znode: stranger.get(z))
    finally:
        jobs.close()
        services.close()


def test_without_credentials_znodes_stay_open(zookeeper: Any, clients: list[KazooClient]) -> None:
    url = f"zk://{zookeeper.hosts}/open-{uuid.uuid4().hex[:8]}"
    path = parse_zk_url(url).path + REGISTRY
    client = opened(clients, url)
    ZooKeeperRegistry(client, path).load()
    assert client.get_acls(path)[0] == OPEN_ACL_UNSAFE


def test_a_wrong_password_is_refused_the_registry(url: str, clients: list[KazooClient]) -> None:
    path = parse_zk_url(url).path + REGISTRY
    ZooKeeperRegistry(opened(clients, url), path).load()
    wrong = url.replace(SECRET, "wrong")
    client = opened(clients, wrong)
    with pytest.raises(RegistryError, match="NoAuth") as failed:
        ZooKeeperRegistry(client, path).load()
    assert SECRET not in str(failed.value) and "wrong" not in str(failed.value)


def test_kazoo_debug_logs_do_not_show_the_password(
    url: str, clients: list[KazooClient], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="pyactors.ha.kazoo"):
        opened(clients, url).ensure_path(parse_zk_url(url).path)
    assert "scheme='digest'" in caplog.text  # the authentication was logged...
    assert SECRET not in caplog.text  # ...without its password


def test_znodes_made_before_credentials_are_adopted(
    zookeeper: Any, clients: list[KazooClient], stranger: KazooClient
) -> None:
    root = f"/adopted-{uuid.uuid4().hex[:8]}"
    registry, election = root + REGISTRY, root + ELECTION
    # A cluster without credentials left a registry and an election node.
    before = ZooKeeperRegistry(opened(clients, f"zk://{zookeeper.hosts}{root}"), registry)
    before.load()
    before.put(AgentEntry("agent-1", "host-1", "cpus:1", {}))
    stranger.ensure_path(election)
    record = f"{registry}/agent/agent-1"
    assert stranger.get_acls(record)[0] == OPEN_ACL_UNSAFE
    url = f"zk://{USER}:{SECRET}@{zookeeper.hosts}{root}"
    assert list(ZooKeeperRegistry(opened(clients, url), registry).load().agents) == ["agent-1"]
    contender = LeaderContender(opened(clients, url), election, {"id": "m0"})
    contender.start()
    try:
        refused(
            lambda: stranger.set(record, b"{}"),
            lambda: stranger.delete(record),
            lambda: stranger.create(f"{registry}/agent/evil", b"{}"),
            lambda: stranger.create(f"{election}/candidate_0", b"{}"),
            lambda: stranger.create(f"{root}/evil", b"{}"),
        )
        # The election stays readable by all.
        assert stranger.get_children(election) == [contender.candidate]
    finally:
        contender.stop(timeout=10)
