"""What keeps the master's tail latency flat at scale: a burst of offers
leaves in chunks, and its pauses (loop stalls, collections) are measured."""

from __future__ import annotations

import asyncio
import gc
import time

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.protocol import Effect, Rescind, SendOffers
from pyactors.master.outbox import in_chunks
from pyactors.master.pauses import Pauses

SLOT = "cpus:1;mem:256"


def offers(framework_id: str, count: int) -> SendOffers:
    return SendOffers(
        framework_id,
        [
            OfferInfo(f"{framework_id}-o{i}", framework_id, f"a{i}", "*", Resources.parse(SLOT))
            for i in range(count)
        ],
    )


def test_a_burst_of_offers_leaves_in_chunks_in_order() -> None:
    effects: list[Effect] = [
        Rescind("f0", ["old"]),
        offers("f1", 3),
        offers("f2", 2),
        offers("f3", 4),
        Rescind("f1", ["older"]),
    ]
    chunks = list(in_chunks(effects, offers=5))
    assert [[type(e).__name__ for e in chunk] for chunk in chunks] == [
        ["Rescind", "SendOffers", "SendOffers"],
        ["SendOffers", "Rescind"],
    ]
    assert [e for chunk in chunks for e in chunk] == effects


def test_a_cycle_under_the_chunk_size_is_one_message() -> None:
    effects: list[Effect] = [offers("f1", 3), offers("f2", 2)]
    assert list(in_chunks(effects, offers=128)) == [effects]
    assert list(in_chunks([], offers=128)) == []


def test_collections_are_timed_per_generation_and_maxima_reset_on_take() -> None:
    pauses = Pauses()
    pauses.install()
    try:
        gc.collect(0)
        gc.collect(2)
    finally:
        pauses.uninstall()
    first = pauses.take()
    assert first["gc0_collections"] >= 1 and first["gc2_collections"] >= 1
    assert first["gc2_max_seconds"] > 0
    assert 0 < first["gc2_max_seconds"] <= first["gc2_seconds"]
    gc.collect(2)  # uninstalled: not counted
    second = pauses.take()
    assert second["gc2_collections"] == first["gc2_collections"]
    assert second["gc2_max_seconds"] == 0


def test_the_loop_probe_sees_a_handler_that_blocks_the_loop() -> None:
    pauses = Pauses()

    async def run() -> None:
        watch = asyncio.get_running_loop().create_task(pauses.watch_loop(interval=0.01))
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # a handler holding the loop
        await asyncio.sleep(0.05)
        watch.cancel()

    asyncio.run(run())
    pauses.handled("cycle", 0.003)
    pauses.handled("cycle", 0.001)
    figures = pauses.take()
    assert figures["loop_lag_max_seconds"] >= 0.15
    assert figures["cycle_max_seconds"] == 0.003
    assert "cycle_max_seconds" not in pauses.take()
