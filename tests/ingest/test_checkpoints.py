"""Checkpoints: cached between batches, written only over the version read.

The pipeline keeps the checkpoints it committed in memory and reads just their
versions per batch. These tests run two pipelines (two workers) on one
database, with the real PostGIS, and check that neither ever works on, or
writes over, a checkpoint the other has changed.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from ingest.messages import InboundMessage
from keywatch.db import make_sessionmaker, transaction
from keywatch.wiring import build_pipeline
from tests.city import OUTSIDE, make_city
from tests.helpers import fix, now_local, scalar


@pytest.fixture
def city(clean_db, engine):
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session)
    return engine


def _message(items: list[dict]) -> InboundMessage:
    return InboundMessage(topic="kw/v1/dev/t-0001/pos",
                          payload=json.dumps(items, default=str).encode(),
                          received_at=datetime.now(UTC))


def _fixes(start: datetime, first: int, count: int) -> list[dict]:
    """A muck truck (limit 40 km/h) at 60 km/h, one fix every 10 s."""
    return [fix(start + timedelta(seconds=10 * k), *OUTSIDE, speed=60.0, seq=k)
            for k in range(first, first + count)]


def _state(engine) -> tuple[int, int, dict]:
    row = scalar(engine, "SELECT json_build_array(fixes_total, version, rules) "
                 "FROM vehicle_state")
    return row[0], row[1], row[2]


def test_cached_checkpoint_is_used_and_another_writer_is_noticed(city, settings):
    engine = city
    a, b = build_pipeline(settings), build_pipeline(settings)
    start = now_local(settings, minutes_ago=10)
    try:
        a.process([_message(_fixes(start, 0, 2))], datetime.now(UTC))
        assert len(a.states) == 1 and _state(engine)[:2] == (2, 1)
        # worker B takes the vehicle over for a batch (a rebalance) ...
        b.process([_message(_fixes(start, 2, 2))], datetime.now(UTC))
        assert _state(engine)[:2] == (4, 2)
        # ... so A's cached copy (version 1) is stale and must not be used
        a.process([_message(_fixes(start, 4, 2))], datetime.now(UTC))
        total, version, rules = _state(engine)
        assert (total, version) == (6, 3)
        # the speeding episode ran across all three batches, whichever worker
        # had them: one open episode since the first fix, 50 s long
        speeding = rules["rules"]["speeding"]
        assert speeding["open"] is True
        assert rules["last"]["ts"] - speeding["since"] == 50
        assert scalar(engine, "SELECT count(*) FROM incidents WHERE rule = 'speeding'") == 1
    finally:
        a.close()
        b.close()


def test_a_checkpoint_changed_mid_batch_makes_the_batch_redo(city, settings):
    """B commits while A is between reading and writing the checkpoint: A's
    write finds a newer version, rolls back and redoes its batch on B's state."""
    engine = city
    a, b = build_pipeline(settings), build_pipeline(settings)
    start = now_local(settings, minutes_ago=10)
    calls = {"n": 0}
    process = a.engine.process_many

    def interleaved(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:  # only in A's first attempt
            t = threading.Thread(target=b.process,
                                 args=([_message(_fixes(start, 2, 2))], datetime.now(UTC)))
            t.start()
            t.join(30)
        return process(*args, **kwargs)

    try:
        a.process([_message(_fixes(start, 0, 2))], datetime.now(UTC))  # cached at version 1
        a.engine.process_many = interleaved  # type: ignore[method-assign]
        a.process([_message(_fixes(start, 4, 2))], datetime.now(UTC))
        assert calls["n"] == 2  # the rules ran again, on fresh state
        total, version, rules = _state(engine)
        assert (total, version) == (6, 3)
        assert rules["last"]["ts"] - rules["rules"]["speeding"]["since"] == 50
        assert scalar(engine, "SELECT count(*) FROM fixes") == 6
        assert scalar(engine, "SELECT count(*) FROM incidents WHERE rule = 'speeding'") == 1
    finally:
        a.close()
        b.close()
