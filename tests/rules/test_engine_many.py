"""``RuleEngine.process_many`` (a whole ingest batch prepared together) must give
every vehicle exactly what ``process`` gives it alone: the same events and the
same state, however its fixes arrive (shuffled, repeated, late, none at all)."""

from __future__ import annotations

import json
import random
from datetime import datetime

from rules.engine import RuleEngine
from rules.types import Fix, TachoEvent
from tests.rules.sample_city import city, enrich, manifest, read_track

CHUNK = 7  # rows per vehicle per batch


def _vehicles() -> dict[tuple[str, str], list]:
    """Every sample track's rows, enriched once, by (file, device)."""
    out = {}
    for entry in {e["file"]: e for e in manifest()}.values():
        tracks = read_track(entry["file"], datetime.fromisoformat(entry["start"]))
        for device, rows in tracks.items():
            fixes = enrich([r for r in rows if isinstance(r, Fix)], None)
            tacho = [r for r in rows if isinstance(r, TachoEvent)]
            out[(entry["file"], device)] = [*fixes, *tacho]
    return out


def _mess_up(rows: list, rng: random.Random, previous: list) -> list:
    """What brokers and terminals do to a batch: shuffle it, repeat a fix, and
    resend one from the previous batch (now late)."""
    rows = list(rows)
    rng.shuffle(rows)
    fixes = [r for r in rows if isinstance(r, Fix)]
    if fixes and rng.random() < 0.5:
        rows.append(rng.choice(fixes))
    old = [r for r in previous if isinstance(r, Fix)]
    if old and rng.random() < 0.5:
        rows.append(rng.choice(old))
    return rows


def _split(rows: list) -> tuple[list[Fix], list[TachoEvent]]:
    return ([r for r in rows if isinstance(r, Fix)],
            sorted((r for r in rows if isinstance(r, TachoEvent)), key=lambda e: e.ts))


def _key(events) -> list:
    return [(e.rule, e.action, e.key, e.ts, e.severity, json.dumps(e.details, sort_keys=True,
                                                                     default=str))
            for e in events]


def test_process_many_equals_process_per_vehicle():
    engine, rng = RuleEngine(), random.Random(7)
    vehicles = _vehicles()
    assert len(vehicles) >= 20
    contexts = {k: city().context(k[1]) for k in vehicles}
    alone = {k: {} for k in vehicles}
    together = {k: {} for k in vehicles}
    events_alone: dict = {k: [] for k in vehicles}
    events_together: dict = {k: [] for k in vehicles}
    longest = max(len(rows) for rows in vehicles.values())
    for s in range(0, longest, CHUNK):
        batch = {}
        for k, rows in vehicles.items():
            chunk = rows[s:s + CHUNK]
            if chunk or rng.random() < 0.2:  # some vehicles come with nothing new
                batch[k] = _mess_up(chunk, rng, rows[max(0, s - CHUNK):s])
        for k, rows in batch.items():
            fixes, tacho = _split(rows)
            alone[k], ev = engine.process(alone[k], fixes, tacho, contexts[k])
            events_alone[k] += ev
        keys = list(batch)
        rng.shuffle(keys)  # the order of vehicles in a batch does not matter
        results = engine.process_many([(together[k], *_split(batch[k]), contexts[k])
                                       for k in keys])
        for k, (state, ev) in zip(keys, results, strict=True):
            together[k] = state
            events_together[k] += ev
    fired = 0
    for k in vehicles:
        assert _key(events_together[k]) == _key(events_alone[k]), k
        assert json.dumps(together[k], sort_keys=True) == json.dumps(alone[k], sort_keys=True), k
        fired += len(events_alone[k])
    assert fired > 20  # the tracks do raise incidents: the comparison means something
