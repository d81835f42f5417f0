"""The ingest pipeline, as one ordered list of stages (STYLE.md §1).

    decode → resolve → enrich → store (dedupe) → rules → record

All of a batch's writes — fixes, tachograph events, dead letters, rule state,
incidents, outbox rows — happen in ONE transaction; the caller acknowledges
the messages only after it commits. A crash before the commit means the
broker redelivers and everything is recomputed; after it, nothing is lost.
Dedupe is the ``store`` stage: the database's idempotency key decides what is
new, and only new fixes reach the rules.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from alerts.incidents import apply_events
from alerts.outbox import pending
from ingest import enrich, store
from ingest.decode import Limits, decode_batch
from ingest.messages import Decoded, InboundMessage, Rejection
from ingest.world import World, WorldView
from registry.lookup import DeviceCache, VehicleRecord
from rules.engine import RuleContext, RuleEngine, VehicleInfo
from rules.params import RuleParams
from rules.types import Fix, RuleEvent, TachoEvent

log = logging.getLogger(__name__)
POSITIONS_CHANNEL = "keywatch_positions"


@dataclass
class Batch:
    """Everything one batch carries from stage to stage."""

    session: Session
    now: datetime
    world: World
    messages: Sequence[InboundMessage]
    decoded: Decoded = field(default_factory=Decoded)
    vehicles: dict[str, VehicleRecord] = field(default_factory=dict)
    states: dict[int, store.Checkpoint] = field(default_factory=dict)
    fixes: dict[int, list[Fix]] = field(default_factory=lambda: defaultdict(list))
    tacho: dict[int, list[TachoEvent]] = field(default_factory=lambda: defaultdict(list))
    events: dict[int, list[RuleEvent]] = field(default_factory=dict)
    stored: int = 0
    duplicates: int = 0
    incidents_opened: list[int] = field(default_factory=list)

    @property
    def rejections(self) -> list[Rejection]:
        return self.decoded.rejections


Stage = Callable[["Pipeline", Batch], None]


def decode(pipeline: Pipeline, batch: Batch) -> None:
    batch.decoded = decode_batch(batch.messages, pipeline.limits, batch.now)


def resolve(pipeline: Pipeline, batch: Batch) -> None:
    """Bind each fix to the vehicle its terminal speaks for; unknown → dead letter."""
    decoded = batch.decoded
    device_ids = {f.device_id for f in decoded.fixes} | {e.device_id for e in decoded.tacho}
    batch.vehicles = pipeline.devices.resolve(batch.session, device_ids)
    unknown = device_ids - batch.vehicles.keys()
    if unknown:
        _reject_unknown(batch, unknown)
    batch.states = store.load_states(batch.session,
                                     [v.vehicle_id for v in batch.vehicles.values()],
                                     pipeline.states)


def _reject_unknown(batch: Batch, unknown: set[str]) -> None:
    import json

    decoded = batch.decoded
    for item in [*decoded.fixes, *decoded.tacho]:
        if item.device_id in unknown:
            body = {k: getattr(item, k) for k in ("ts", "lat", "lon") if hasattr(item, k)}
            decoded.rejections.append(Rejection(
                reason="unknown_device",
                detail=f"device {item.device_id!r} is not bound to an active vehicle",
                payload=json.dumps(body, default=str).encode(),
                topic=f"kw/v1/dev/{item.device_id}/"
                      + ("pos" if isinstance(item, Fix) else "tacho"),
                device_id=item.device_id,
            ))
    decoded.fixes = [f for f in decoded.fixes if f.device_id not in unknown]
    decoded.tacho = [e for e in decoded.tacho if e.device_id not in unknown]


def enrich_fixes(pipeline: Pipeline, batch: Batch) -> None:
    vehicle_ids = [batch.vehicles[f.device_id].vehicle_id for f in batch.decoded.fixes]
    by_vehicle: dict[int, list[Fix]] = defaultdict(list)
    for fix in enrich.annotate(batch.decoded.fixes, vehicle_ids, batch.world):
        by_vehicle[fix.vehicle_id].append(fix)  # type: ignore[index]
    for vehicle_id, group in by_vehicle.items():
        state = batch.states[vehicle_id]
        last = (state.last_ts, state.lat, state.lon) if state.last_ts else None
        batch.fixes[vehicle_id] = enrich.flag_motion(group, last)  # type: ignore[arg-type]
    for event in batch.decoded.tacho:
        vehicle_id = batch.vehicles[event.device_id].vehicle_id
        batch.tacho[vehicle_id].append(replace(event, vehicle_id=vehicle_id))


def store_new(pipeline: Pipeline, batch: Batch) -> None:
    """Insert once; keep only what is new for the rules (redeliveries change nothing)."""
    all_fixes = [f for group in batch.fixes.values() for f in group]
    new = store.insert_fixes(batch.session, all_fixes)
    batch.stored, batch.duplicates = len(new), len(all_fixes) - len(new)
    batch.fixes = defaultdict(list)
    for fix in new:
        batch.fixes[fix.vehicle_id].append(fix)  # type: ignore[index]
    new_tacho = store.insert_tacho(batch.session, [e for g in batch.tacho.values() for e in g])
    batch.tacho = defaultdict(list)
    for event in new_tacho:
        batch.tacho[event.vehicle_id].append(event)  # type: ignore[index]
    store.insert_dead_letters(batch.session, batch.rejections, batch.now)


def run_rules(pipeline: Pipeline, batch: Batch) -> None:
    records = {v.vehicle_id: v for v in batch.vehicles.values()}
    vehicle_ids = sorted(batch.fixes.keys() | batch.tacho.keys())
    results = pipeline.engine.process_many([
        (batch.states[vehicle_id].rules, batch.fixes.get(vehicle_id, []),
         batch.tacho.get(vehicle_id, []), pipeline.context_for(records[vehicle_id], batch.world))
        for vehicle_id in vehicle_ids])
    for vehicle_id, (rules_state, events) in zip(vehicle_ids, results, strict=True):
        state = batch.states[vehicle_id]
        state.rules, state.dirty = rules_state, True
        batch.events[vehicle_id] = events


def record(pipeline: Pipeline, batch: Batch) -> None:
    """Incidents and outbox rows, then the checkpoint of each vehicle."""
    records = {v.vehicle_id: v for v in batch.vehicles.values()}
    with pending(batch.session) as queue:  # the batch's outbox writes, sent together
        for vehicle_id, events in batch.events.items():
            if events:
                fixes = batch.fixes.get(vehicle_id)
                district = fixes[-1].district if fixes else None
                batch.incidents_opened += apply_events(
                    batch.session, vehicle=records[vehicle_id], events=events,
                    district=district, router=batch.world.router, now=batch.now, queue=queue)
    for vehicle_id, fixes in batch.fixes.items():
        _checkpoint(batch.states[vehicle_id], fixes, batch.now)
    store.save_states(batch.session, batch.states.values())
    if batch.fixes:
        batch.session.execute(text("SELECT pg_notify(:c, :p)"),
                              {"c": POSITIONS_CHANNEL, "p": batch.now.isoformat()})


def _checkpoint(state: store.Checkpoint, fixes: list[Fix], now: datetime) -> None:
    newest = max(fixes, key=lambda f: f.ts)
    state.fixes_total = (state.fixes_total or 0) + len(fixes)
    state.updated_at, state.dirty = now, True
    if state.last_ts is None or newest.ts >= state.last_ts:
        plausible = [f for f in fixes if "jump" not in f.flags] or [newest]
        latest = max(plausible, key=lambda f: f.ts)
        state.last_ts, state.last_seq = latest.ts, latest.seq
        state.lat, state.lon, state.speed = latest.lat, latest.lon, latest.speed
        state.heading, state.ign, state.district = latest.heading, latest.ign, latest.district


STAGES: tuple[Stage, ...] = (decode, resolve, enrich_fixes, store_new, run_rules, record)


class Pipeline:
    def __init__(self, *, factory: sessionmaker[Session], limits: Limits, world: WorldView,
                 params: RuleParams, tz: object, engine: RuleEngine | None = None) -> None:
        self.factory = factory
        self.limits = limits
        self.world = world
        self.params = params
        self.tz = tz
        self.engine = engine or RuleEngine()
        self.devices = DeviceCache()
        self._contexts: dict[int, tuple[VehicleRecord, RuleContext]] = {}
        self.states = store.StateCache()

    def context_for(self, vehicle: VehicleRecord, world: World) -> RuleContext:
        """The vehicle's rule context, reused while its registry record and the
        fence index stay the same (building one per vehicle per batch showed up
        in profiles of batches with one fix per vehicle)."""
        cached = self._contexts.get(vehicle.vehicle_id)
        if cached is not None and cached[0] == vehicle and cached[1].index is world.fences:
            return cached[1]
        info = VehicleInfo(
            vehicle_id=vehicle.vehicle_id, plate=vehicle.plate,
            vehicle_class=vehicle.vehicle_class, company=vehicle.company,
            home_district=vehicle.home_district, granted=vehicle.granted,
        )
        ctx = RuleContext(vehicle=info, index=world.fences, params=self.params,
                          tz=self.tz)  # type: ignore[arg-type]
        self._contexts[vehicle.vehicle_id] = (vehicle, ctx)
        return ctx

    def close(self) -> None:
        self.factory.kw["bind"].dispose()

    def dead_letter(self, message: InboundMessage, detail: str) -> Batch:
        """Store one message that made the pipeline fail, as a dead letter."""
        with self.factory() as session, session.begin():
            batch = Batch(session=session, now=message.received_at, messages=[message],
                          world=self.world.refresh(session))
            batch.rejections.append(Rejection(
                reason="internal_error", detail=detail[:2000], payload=message.payload,
                topic=message.topic, source=message.source))
            store.insert_dead_letters(session, batch.rejections, batch.now)
        return batch

    def process(self, messages: Sequence[InboundMessage], now: datetime) -> Batch:
        """Run every stage in one transaction; raise (and roll back) on database errors.

        If another writer changed one of the batch's checkpoints meanwhile (a
        second worker during a rebalance, the clock), the transaction is rolled
        back and the batch redone on fresh state."""
        attempt = 0
        while True:
            try:
                return self._process_once(messages, now)
            except store.StaleState as exc:
                # Not the data's fault (never a dead letter): only another writer
                # committing between our read and write, so redo until we win.
                attempt += 1
                log.log(logging.WARNING if attempt % 10 == 0 else logging.INFO,
                        "batch redone on fresh state (attempt %d): %s", attempt, exc)
                time.sleep(min(0.01 * attempt, 1.0))

    def _process_once(self, messages: Sequence[InboundMessage], now: datetime) -> Batch:
        batch: Batch | None = None
        try:
            with self.factory() as session, session.begin():
                batch = Batch(session=session, now=now, messages=messages,
                              world=self.world.refresh(session))
                for stage in STAGES:
                    stage(self, batch)
        except BaseException:
            if batch is not None:
                self.states.forget(batch.states)
            raise
        self.states.committed(batch.states.values())
        return batch
