"""The live hub (dashboard.live) against the real database: positions reach the SSE
clients by the batch times the ingest NOTIFY carries, each client only its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from dashboard.live import POSITIONS_EVERY_S, LiveHub
from dashboard.security import Principal

UPSERT = text("""
INSERT INTO vehicle_state (vehicle_id, rules, lat, lon, speed, last_ts, fixes_total,
                           seq_gaps, updated_at)
SELECT id, '{}', :lat, :lon, 30, :at, 1, 0, :at FROM vehicles WHERE plate = :plate
ON CONFLICT (vehicle_id) DO UPDATE
SET lat = excluded.lat, lon = excluded.lon, last_ts = excluded.last_ts,
    updated_at = excluded.updated_at
""")
SUPERVISOR = Principal(1, "sup", "supervisor", None, None, frozenset({"370202"}))
MUCK_COMPANY = Principal(2, "muck", "company", "QD-MUCK-01", None, frozenset())


def commit_batch(engine, at: datetime, plates: list[str]) -> None:  # type: ignore[no-untyped-def]
    """What an ingest batch does: checkpoints stamped with its time, then its NOTIFY."""
    with engine.begin() as conn:
        for n, plate in enumerate(plates):
            conn.execute(UPSERT, {"plate": plate, "lat": 36.06 + n * 1e-3, "lon": 120.38,
                                  "at": at})
        conn.execute(text("SELECT pg_notify('keywatch_positions', :p)"), {"p": at.isoformat()})


async def received(queue: asyncio.Queue, wait_s: float) -> list[str]:
    """Plates in the positions events that arrive within ``wait_s``."""
    plates: list[str] = []
    deadline = asyncio.get_running_loop().time() + wait_s
    while (left := deadline - asyncio.get_running_loop().time()) > 0 or not queue.empty():
        try:
            event, data = await asyncio.wait_for(queue.get(), max(left, 0.001))
        except TimeoutError:
            break
        if event == "positions":
            plates += [item["plate"] for item in data]
    return plates


def test_batches_committed_out_of_order_all_reach_the_map(city, settings):
    engine = city
    t0 = datetime.now(UTC)

    async def scenario() -> tuple[list[str], list[str]]:
        hub = LiveHub(settings.database_url)
        await hub.start()
        try:
            everyone, company = hub.subscribe(SUPERVISOR), hub.subscribe(MUCK_COMPANY)
            for attempt in range(50):  # until the hub listens
                commit_batch(engine, t0 + timedelta(microseconds=attempt), ["鲁B00001"])
                if await received(everyone.queue, 0.2):
                    break
            else:
                raise AssertionError("the hub never delivered a position")
            await received(everyone.queue, 2 * POSITIONS_EVERY_S)  # the probe's last reads
            await received(company.queue, 0.1)
            # two workers: the later batch commits first, the earlier one after it
            commit_batch(engine, t0 + timedelta(seconds=2), ["鲁B00002"])
            commit_batch(engine, t0 + timedelta(seconds=1), ["鲁B00003"])
            wait = 3 * POSITIONS_EVERY_S
            return await received(everyone.queue, wait), await received(company.queue, 0.1)
        finally:
            await hub.stop()

    seen, company_seen = asyncio.run(scenario())
    assert sorted(seen) == ["鲁B00002", "鲁B00003"]
    assert company_seen == ["鲁B00003"]  # 鲁B00002 is another company's


def test_no_clients_no_reads_and_no_backlog(city, settings):
    """Batches notified while nobody watches are not read, nor sent to the next client."""
    engine = city
    t0 = datetime.now(UTC)

    async def scenario() -> list[str]:
        hub = LiveHub(settings.database_url)
        await hub.start()
        try:
            probe = hub.subscribe(SUPERVISOR)
            for attempt in range(50):
                commit_batch(engine, t0 + timedelta(microseconds=attempt), ["鲁B00001"])
                if await received(probe.queue, 0.2):
                    break
            hub.unsubscribe(probe)
            await asyncio.sleep(2 * POSITIONS_EVERY_S)
            commit_batch(engine, t0 + timedelta(seconds=1), ["鲁B00002"])  # nobody watching
            await asyncio.sleep(2 * POSITIONS_EVERY_S)
            late = hub.subscribe(SUPERVISOR)
            commit_batch(engine, t0 + timedelta(seconds=2), ["鲁B00003"])
            return await received(late.queue, 3 * POSITIONS_EVERY_S)
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) == ["鲁B00003"]


def test_hub_reconnects_when_its_reading_connection_is_killed(city, settings):
    """The connection that reads positions terminated by the server (the one that
    listens is fine): the hub reconnects, and positions flow again."""
    engine = city
    t0 = datetime.now(UTC)

    async def delivered(client, at: datetime, plate: str) -> bool:
        for attempt in range(50):
            commit_batch(engine, at + timedelta(microseconds=attempt), [plate])
            if plate in await received(client.queue, 0.2):
                return True
        return False

    async def scenario() -> tuple[bool, int, bool]:
        hub = LiveHub(settings.database_url)
        await hub.start()
        try:
            client = hub.subscribe(SUPERVISOR)
            first = await delivered(client, t0, "鲁B00001")
            await asyncio.sleep(2 * POSITIONS_EVERY_S)  # the reader has queried by now
            with engine.begin() as conn:
                killed = conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND query LIKE '%FROM vehicle_state s JOIN vehicles%'")).scalar_one()
            again = await delivered(client, t0 + timedelta(seconds=5), "鲁B00002")
            return first, killed, again
        finally:
            await asyncio.wait_for(hub.stop(), 10)  # a hub that swallowed its cancel hangs

    first, killed, again = asyncio.run(scenario())
    assert first and killed >= 1  # ours, and any other hub on this database (live_server)
    assert again
