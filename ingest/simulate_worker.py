"""One simulator process: its share of the fleet, paced in real time, published.

Vehicle ``n`` of ``N`` reports at ``start + k·S + (n-1)/N·S`` (k = 0, 1, …), so
the load is spread evenly over each interval instead of arriving in bursts;
``ts`` is that scheduled instant even when publishing lags, so a vehicle's
fixes stay exactly ``S`` apart. Progress goes to a shared counter array
(one row of ``COUNTERS`` per process), the final tally to a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ingest.jt808.location import encode_location
from ingest.jt808.messages import DRIVER, encode_driver
from ingest.jt808.terminal import Terminal, TerminalError
from ingest.mqtt import BrokerAddress, Publisher
from ingest.simulate_fleet import Identity, identities
from ingest.simulate_map import CityMap, build_map
from ingest.simulate_trips import TripPlanner
from ingest.simulate_vehicle import Fix, Vehicle, is_night

log = logging.getLogger(__name__)

COUNTERS = ("fixes", "events", "errors", "violations")
CHUNK = 50  # vehicles published between two clock checks
WINDOW = 256  # unacknowledged QoS 1 messages per process
DRAIN_TIMEOUT_S = 30.0
LOGIN_CONCURRENCY = 100
REPLY_TIMEOUT_S = 30.0  # the gateway answers after the broker's PUBACK: slow under load


@dataclass(frozen=True, slots=True)
class Plan:
    """What every process needs (picklable: processes are spawned)."""

    vehicles: int
    interval_s: float
    duration_s: float
    protocol: str
    processes: int
    seed: int
    prefix: str
    violation_rate: float  # violations per vehicle per minute
    mqtt_url: str
    jt808_host: str
    jt808_port: int
    tz: str

    @property
    def ticks(self) -> int:
        return max(1, round(self.duration_s / self.interval_s))


class Share:
    """This process's vehicles and tallies."""

    def __init__(self, plan: Plan, index: int, counters: Any) -> None:
        self.plan, self.index, self.counters = plan, index, counters
        # a fixed offset formats ~3× faster than ZoneInfo; runs are far shorter than a
        # DST change in the zones Keywatch serves (Asia/Shanghai has none)
        self.zone = timezone(datetime.now(ZoneInfo(plan.tz)).utcoffset() or timedelta(0))
        self.city: CityMap = build_map()
        mine = [i for i in identities(plan.vehicles, plan.prefix, plan.seed)
                if (i.n - 1) % plan.processes == index]
        self.fleet = [(i, self._vehicle(i)) for i in mine]
        self.per_class: Counter[str] = Counter()
        self.tally = dict.fromkeys(COUNTERS, 0)
        self.start_at = 0.0
        self.violation_p = plan.violation_rate * plan.interval_s / 60.0

    def _vehicle(self, ident: Identity) -> Vehicle:
        rng = random.Random(f"{self.plan.seed}:{ident.n}")
        planner = TripPlanner(self.city, ident.vehicle_class, ident.home_district, rng)
        vehicle = Vehicle(ident.n, ident.vehicle_class, ident.drivers, planner, rng,
                          tacho=self.plan.protocol == "json")
        vehicle.start(self.city)
        return vehicle

    def due(self, n: int, k: int) -> float:
        plan = self.plan
        return self.start_at + (k + (n - 1) / plan.vehicles) * plan.interval_s

    def step(self, vehicle: Vehicle, local: datetime) -> tuple[Fix, list[dict]]:
        """The vehicle's fix due at ``local`` time (which decides day or night)."""
        return vehicle.step(self.plan.interval_s, self.city, self.violation_p,
                            night=is_night(local))

    def local(self, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, self.zone)

    def publish_counters(self) -> None:
        base = self.index * len(COUNTERS)
        for j, name in enumerate(COUNTERS):
            self.counters[base + j] = self.tally[name]

    def result(self) -> dict[str, Any]:
        violations: Counter[str] = Counter()
        for _, vehicle in self.fleet:
            violations.update(vehicle.violations)
        self.tally["violations"] = sum(violations.values())
        self.publish_counters()
        return {**self.tally, "per_class": dict(self.per_class),
                "violation_kinds": dict(violations)}


def run(plan: Plan, index: int, counters: Any, barrier: Any, start_at: Any, results: Any
        ) -> None:
    """Process entry point: build, wait for the common start, simulate, report."""
    share = Share(plan, index, counters)
    barrier.wait(timeout=300)  # everyone is built …
    barrier.wait(timeout=60)  # … and the parent has set the start time
    share.start_at = start_at.value
    try:
        if plan.protocol == "jt808":
            asyncio.run(_run_jt808(share))
        else:
            _run_json(share)
    finally:
        results.put((index, share.result()))


def _fix_json(share: Share, fix: Fix, ts: str, seq: int, rng: random.Random) -> str:
    lon, lat = fix.lonlat()
    item: dict[str, Any] = {"ts": ts, "lat": round(lat, 6), "lon": round(lon, 6),
                            "speed": fix.speed, "heading": fix.heading,
                            "acc": rng.choice((3, 4, 5, 6, 8)), "ign": fix.ign, "seq": seq}
    if fix.alarms:
        item["alarms"] = list(fix.alarms)
    return json.dumps(item)


def _run_json(share: Share) -> None:
    plan = share.plan
    publisher = Publisher(BrokerAddress.parse(plan.mqtt_url),
                          f"kw-sim-{index_tag(share)}-{uuid.uuid4().hex[:6]}").start()
    infos: deque[Any] = deque()
    rng = random.Random(f"acc:{plan.seed}:{share.index}")
    try:
        for k in range(plan.ticks):
            for c in range(0, len(share.fleet), CHUNK):
                chunk = share.fleet[c:c + CHUNK]
                delay = share.due(chunk[0][0].n, k) - time.time()
                if delay > 0:
                    time.sleep(delay)
                outgoing = [m for ident, vehicle in chunk
                            for m in _messages(share, ident, vehicle, k, rng)]
                _make_room(share, infos, len(outgoing))
                with publisher.batch():  # the chunk's messages go out together
                    for message in outgoing:
                        _publish(share, publisher, infos, message)
                share.publish_counters()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        for info in infos:
            with contextlib.suppress(RuntimeError, ValueError):  # counted just below
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                share.tally["errors"] += 1
    finally:
        publisher.stop()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a vehicle's step: its fix (``events`` 0) or its tacho events."""

    topic: str
    payload: str
    vehicle_class: str
    events: int = 0


def _messages(share: Share, ident: Identity, vehicle: Vehicle, k: int, rng: random.Random
              ) -> list[Outgoing]:
    local = share.local(share.due(ident.n, k))
    ts = local.isoformat(timespec="milliseconds")
    fix, events = share.step(vehicle, local)
    topic = f"kw/v1/dev/{ident.device_id}/"
    messages = [Outgoing(topic + "pos", _fix_json(share, fix, ts, k + 1, rng),
                         ident.vehicle_class)]
    if events:
        lon, lat = fix.lonlat()
        where = {"ts": ts, "lat": round(lat, 6), "lon": round(lon, 6), "speed": fix.speed}
        messages.append(Outgoing(topic + "tacho", json.dumps([{**where, **e} for e in events]),
                                 ident.vehicle_class, len(events)))
    return messages


def _publish(share: Share, publisher: Publisher, infos: deque, message: Outgoing) -> None:
    try:
        infos.append(publisher.publish(message.topic, message.payload))
    except (RuntimeError, ValueError, OSError):
        share.tally["errors"] += 1
        return
    if message.events:
        share.tally["events"] += message.events
    else:
        share.tally["fixes"] += 1
        share.per_class[message.vehicle_class] += 1


def _make_room(share: Share, infos: deque, coming: int) -> None:
    """Keep at most ``WINDOW`` messages unacknowledged, ``coming`` ones included.

    paho walks its whole table of outgoing messages on every PUBACK, so a backlog
    of queued messages makes each acknowledgement slower and the backlog longer.
    """
    while infos and infos[0].is_published():
        infos.popleft()
    while infos and len(infos) + coming > WINDOW:
        oldest = infos.popleft()
        with contextlib.suppress(RuntimeError, ValueError):  # counted just below
            oldest.wait_for_publish(DRAIN_TIMEOUT_S)
        if not oldest.is_published():
            share.tally["errors"] += 1


def index_tag(share: Share) -> str:
    return f"{share.plan.prefix}{share.index}"


async def _run_jt808(share: Share) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = len(share.fleet) + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    gate = asyncio.Semaphore(LOGIN_CONCURRENCY)
    await asyncio.gather(*(_terminal(share, ident, vehicle, gate)
                           for ident, vehicle in share.fleet))


async def _terminal(share: Share, ident: Identity, vehicle: Vehicle, gate: asyncio.Semaphore
                    ) -> None:
    plan = share.plan
    edition = 2019 if ident.n % 2 else 2013
    terminal = Terminal(plan.jt808_port, phone=ident.device_id, edition=edition,
                        host=plan.jt808_host)
    try:
        async with gate:
            await terminal.connect()
            await terminal.login(plate=ident.plate, terminal_id=f"SIM{ident.n:05d}",
                                 timeout=REPLY_TIMEOUT_S)
        for k in range(plan.ticks):
            await asyncio.sleep(max(0.0, share.due(ident.n, k) - time.time()))
            when = share.local(share.due(ident.n, k))
            fix, events = share.step(vehicle, when)
            for event in events:  # only driver identity exists in JT/T 808
                if event["event"] in ("driver_login", "driver_logout"):
                    body = encode_driver(edition=edition, time=when,
                                         inserted=event["event"] == "driver_login",
                                         certificate=event["driver"], id_number=event["driver"])
                    await _report(share, terminal, body, DRIVER, "events")
            lon, lat = fix.lonlat()
            status = ["acc", "located"] if fix.ign else ["located"]
            body = encode_location(lat=lat, lon=lon, time=when, speed=fix.speed,
                                   heading=int(fix.heading), alarms=fix.alarms, status=status)
            if await _report(share, terminal, body, 0x0200, "fixes"):
                share.per_class[ident.vehicle_class] += 1
            share.publish_counters()
    except (TerminalError, OSError, TimeoutError) as exc:
        log.warning("simulated terminal %s stopped: %r", ident.device_id, exc)
        share.tally["errors"] += 1
    finally:
        await terminal.close()


async def _report(share: Share, terminal: Terminal, body: bytes, msg_id: int, what: str
                  ) -> bool:
    if await terminal.report(body, msg_id, REPLY_TIMEOUT_S) == 0:
        share.tally[what] += 1
        return True
    share.tally["errors"] += 1
    return False
