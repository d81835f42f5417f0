"""The live hub: LISTEN to PostgreSQL, fan positions and incidents out to SSE clients.

Web processes are stateless: each one listens on its own, so several can run
behind a load balancer. Each ingest batch's NOTIFY carries its time, the
``updated_at`` it gave the checkpoints it wrote; the rows of the batches notified
are read from ``vehicle_state`` once a second at most (one query for all clients,
none while no client is connected). Reading by the batches' own times, not "newer
than the newest seen", misses nothing when two workers commit out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from prometheus_client import Gauge

from dashboard.scope import may_see_incident
from dashboard.security import Principal
from keywatch.db import psycopg_url

log = logging.getLogger(__name__)
SSE_CLIENTS = Gauge("keywatch_sse_clients", "Connected live (SSE) clients")

POSITIONS_SQL = """
SELECT v.plate, v.vehicle_class, v.company_code, s.lat, s.lon, s.speed, s.heading, s.ign,
       s.last_ts, s.district
FROM vehicle_state s JOIN vehicles v ON v.id = s.vehicle_id
WHERE s.updated_at = ANY(%s) AND s.lat IS NOT NULL
ORDER BY s.updated_at
"""
# the live map's refresh: a vehicle reports every ~10 s, a query a second is enough
# (the table has no index on updated_at: checkpoints are updated in place, migration 0520)
POSITIONS_EVERY_S = 1.0

INCIDENT_SQL = """
SELECT id, rule, severity, status, plate, vehicle_class, company, district, officer,
       supervisor, started_at, ended_at, ST_X(geom), ST_Y(geom), details, responsible_officer
FROM incidents WHERE id = %s
"""


@dataclass(eq=False)
class Client:
    user: Principal
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1000))


class LiveHub:
    def __init__(self, database_url: str) -> None:
        self.url = psycopg_url(database_url)
        self.clients: set[Client] = set()
        self._task: asyncio.Task | None = None
        self._batches: set[datetime] = set()  # notified, not read yet
        self._notified = asyncio.Event()

    def subscribe(self, user: Principal) -> Client:
        client = Client(user)
        self.clients.add(client)
        SSE_CLIENTS.set(len(self.clients))
        return client

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)
        SSE_CLIENTS.set(len(self.clients))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except* (psycopg.OperationalError, OSError) as lost:
                log.warning("live hub lost the database (%s); reconnecting", lost.exceptions[0])
                await asyncio.sleep(1)

    async def _listen(self) -> None:
        """Notifications in one task, position reads in another: when either fails, the
        other is cancelled with it and ``_run`` reconnects both."""
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as listen, \
                await psycopg.AsyncConnection.connect(self.url, autocommit=True) as query:
            await listen.execute("LISTEN keywatch_positions")
            await listen.execute("LISTEN keywatch_outbox")
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._follow(listen, query))
                tasks.create_task(self._read_positions(query))

    async def _follow(self, listen: psycopg.AsyncConnection,
                      query: psycopg.AsyncConnection) -> None:
        async for note in listen.notifies():
            if note.channel == "keywatch_positions":
                self._notified_batch(note.payload)
            elif note.payload.isdigit():
                await self._incident(query, int(note.payload))

    def _notified_batch(self, payload: str) -> None:
        try:
            self._batches.add(datetime.fromisoformat(payload))
        except ValueError:
            log.warning("keywatch_positions notification without a batch time: %r", payload)
            return
        self._notified.set()

    async def _read_positions(self, conn: psycopg.AsyncConnection) -> None:
        """The notified batches' rows, at most every ``POSITIONS_EVERY_S``."""
        while True:
            await self._notified.wait()
            self._notified.clear()
            batches, self._batches = sorted(self._batches), set()
            if self.clients:  # nobody watching: nothing to read
                await self._positions(conn, batches)
            await asyncio.sleep(POSITIONS_EVERY_S)

    async def _positions(self, conn: psycopg.AsyncConnection, batches: list[datetime]) -> None:
        cur = await conn.execute(POSITIONS_SQL, (batches,))
        rows = await cur.fetchall()
        for client in list(self.clients):
            company = client.user.company if client.user.role == "company" else None
            items = [_position(r) for r in rows if company is None or r[2] == company]
            if items:
                _offer(client, "positions", items)

    async def _incident(self, conn: psycopg.AsyncConnection, incident_id: int) -> None:
        cur = await conn.execute(INCIDENT_SQL, (incident_id,))
        row = await cur.fetchone()
        if row is None:
            return
        incident = _incident(row)
        for client in list(self.clients):
            if _may_see_incident(client.user, incident):
                _offer(client, "incident", incident)


def _offer(client: Client, event: str, data: object) -> None:
    try:
        client.queue.put_nowait((event, data))
    except asyncio.QueueFull:
        log.warning("live client %s is too slow; dropping an update", client.user.username)


def _position(row: tuple) -> dict:
    return {"plate": row[0], "class": row[1], "company": row[2], "lat": row[3], "lon": row[4],
            "speed": row[5], "heading": row[6], "ign": row[7],
            "ts": row[8].isoformat() if row[8] else None, "district": row[9]}


def _incident(row: tuple) -> dict:
    keys = ("id", "rule", "severity", "status", "plate", "vehicle_class", "company",
            "district", "officer", "supervisor", "started_at", "ended_at", "lon", "lat",
            "details", "responsible_officer")
    out = dict(zip(keys, row, strict=True))
    for key in ("started_at", "ended_at"):
        out[key] = out[key].isoformat() if out[key] else None
    return out


def _may_see_incident(user: Principal, incident: dict) -> bool:
    return may_see_incident(
        user, company=incident["company"], district=incident["district"],
        officer=incident["officer"], supervisor=incident["supervisor"],
        responsible_officer=incident["responsible_officer"])


def sse_frame(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
