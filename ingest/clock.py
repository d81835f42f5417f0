"""Clock-driven rules (signal_lost, fatigue while data stops, …) on a timer.

The worker calls ``tick_silent_vehicles`` with an explicit ``now`` every few
seconds, so replaying at 100× gives the same incidents as real time. Only
vehicles that went quiet are ticked, each under its checkpoint's row lock
(SKIP LOCKED: a vehicle another tick holds is ticked next time); an ingest batch
that read the checkpoint before the tick wrote it is redone on the ticked state
(``store.save_states`` checks the version it read).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import text

from alerts.incidents import apply_events
from alerts.outbox import Pending, pending
from ingest import store
from ingest.pipeline import Pipeline
from ingest.world import World
from registry.lookup import vehicles_for_devices

QUIET_AFTER = timedelta(seconds=60)
TICK_WINDOW = timedelta(hours=26)  # a vehicle silent for longer has nothing left to raise

_CANDIDATES = """
SELECT s.vehicle_id, v.device_id FROM vehicle_state s JOIN vehicles v ON v.id = s.vehicle_id
WHERE s.last_ts BETWEEN :oldest AND :quiet AND v.status = 'active' AND v.device_id IS NOT NULL
{only}
ORDER BY s.vehicle_id
FOR UPDATE OF s SKIP LOCKED
LIMIT :limit
"""
_ALL = text(_CANDIDATES.format(only=""))
_ONLY = text(_CANDIDATES.format(only="AND v.device_id = ANY(:devices)"))


def tick_silent_vehicles(pipeline: Pipeline, now: datetime, limit: int = 20000,
                         devices: Sequence[str] | None = None) -> int:
    """Run every rule's ``tick`` for quiet vehicles (of ``devices`` only, when given: a
    worker ticks the vehicles of its own slots, on their clock); returns incidents opened."""
    opened = 0
    with pipeline.factory() as session, session.begin():
        world = pipeline.world.refresh(session)
        params = {"oldest": now - TICK_WINDOW, "quiet": now - QUIET_AFTER, "limit": limit}
        if devices is not None:
            params["devices"] = list(devices)
        rows = session.execute(_ALL if devices is None else _ONLY, params).all()
        if not rows:
            return 0
        records = vehicles_for_devices(session, [device for _, device in rows])
        states = store.lock_states(session, [vehicle_id for vehicle_id, _ in rows])
        with pending(session) as queue:
            opened += _tick_each(pipeline, world, records, states, now, queue)
        store.save_states(session, states.values())
    return opened


def _tick_each(pipeline: Pipeline, world: World, records: dict, states: dict, now: datetime,
               queue: Pending) -> int:
    opened = 0
    for record in records.values():
        state = states[record.vehicle_id]
        before = json.dumps(state.rules, sort_keys=True)
        rules_state, events = pipeline.engine.tick(
            dict(state.rules or {}), now, pipeline.context_for(record, world))
        if json.dumps(rules_state, sort_keys=True) != before:
            state.rules, state.dirty = rules_state, True
        if events:
            opened += len(apply_events(queue.session, vehicle=record, events=events,
                                       district=state.district, router=world.router,
                                       now=now, queue=queue))
    return opened
