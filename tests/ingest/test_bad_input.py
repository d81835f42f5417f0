"""Issue 4's bad input through the real pipeline and database: each becomes a dead
letter with its reason (or a flagged fix), the rest of the batch goes in."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import text

from ingest.decode import Limits, decode_batch
from ingest.messages import InboundMessage
from keywatch.db import make_sessionmaker, transaction
from keywatch.wiring import build_pipeline
from tests.city import OUTSIDE, make_city

NOW = datetime.now(UTC)


def _msg(topic: str, payload: bytes) -> InboundMessage:
    return InboundMessage(topic, payload, NOW)


def _fix(seconds_ago: float, **extra) -> dict:  # type: ignore[no-untyped-def]
    ts = (NOW - timedelta(seconds=seconds_ago)).isoformat()
    return {"ts": ts, "lat": OUTSIDE[0], "lon": OUTSIDE[1], **extra}


@pytest.fixture
def pipeline(clean_db, engine, settings):  # type: ignore[no-untyped-def]
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices={"t-0001": "freight"})
    return build_pipeline(settings, engine)


def _reasons(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(text("SELECT reason FROM dead_letters ORDER BY id")).scalars().all()


def test_every_bad_message_is_a_dead_letter_with_its_reason(pipeline, engine):
    big = b'{"ts": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    huge_array = json.dumps([_fix(60, seq=i) for i in range(100_000)]).encode()
    many = json.dumps([{"ts": 1, "lat": 0, "lon": 0}] * 10_001).encode()  # < 1 MB
    messages = [
        _msg("kw/v1/dev/t-0001/pos", b"\x00\xff\xfe binary garbage"),
        _msg("kw/v1/dev/t-0001/jt808", json.dumps(_fix(60)).encode()),
        _msg("kw/v1/dev/t-0001/pos", big),
        _msg("kw/v1/dev/t-0001/pos", huge_array),
        _msg("kw/v1/dev/t-0001/pos", many),
        _msg("kw/v1/dev/t-0001/pos", json.dumps(_fix(-3600)).encode()),  # an hour ahead
        _msg("kw/v1/dev/t-0001/pos", json.dumps(_fix(30 * 86400)).encode()),  # 30 days old
        _msg("kw/v1/dev/bad topic/pos", json.dumps(_fix(60)).encode()),
        _msg("kw/v1/dev/t-0001/tacho", json.dumps({"ts": NOW.isoformat(),
                                                     "event": "teleport"}).encode()),
        _msg("kw/v1/dev/t-0001/pos", json.dumps(_fix(10, seq=1)).encode()),  # a good one
    ]
    started = time.perf_counter()
    batch = pipeline.process(messages, NOW)
    assert time.perf_counter() - started < 30
    assert batch.stored == 1
    assert _reasons(engine) == ["bad_json", "bad_jt808", "oversized", "oversized",
                                "too_many_items",
                                "future_ts", "too_old", "bad_topic", "bad_field"]


@pytest.mark.parametrize(("body", "reason"), [
    (b'"lat": NaN', "out_of_range"),  # the stdlib's JSON takes NaN; the validator refuses it
    (b'"lat": Infinity', "out_of_range"),
    (b'"lat": 1e400', "out_of_range"),  # a double's infinity
    (b'"lat": 36.1, "seq": 9223372036854775808', "out_of_range"),  # above bigint
    (b'"lat": 36.1, "seq": 123456789012345678901234567890', None),  # see below
    (b'"lat": 36.1, "seq": 9223372036854775807', ""),  # the largest accepted
    (b'"lat": 36.1, "speed": 35, "heading": 360, "alt": -1000, "acc": 0', ""),
    (b'"lat": true', "bad_field"),
    (b'"lat": "36.1"', "bad_field"),
])
def test_numbers_at_the_edges_of_json_and_of_the_columns(body: bytes, reason: str | None):
    """Each value is judged the same whichever JSON parser read it (orjson first, the
    stdlib for what orjson refuses), and nothing the fixes table cannot hold is accepted."""
    ts = (NOW - timedelta(seconds=60)).isoformat().encode()
    payload = b'{"ts": "' + ts + b'", "lon": 120.3, ' + body + b"}"
    limits = Limits(max_payload_bytes=1 << 20, max_items=10, max_age_s=86400, max_future_s=300)
    decoded = decode_batch([_msg("kw/v1/dev/t-0001/pos", payload)], limits, NOW)
    got = [r.reason for r in decoded.rejections]
    if reason is None:  # beyond 64 bits: a float to orjson, an int to the stdlib; refused
        assert got in (["bad_field"], ["out_of_range"]) and not decoded.fixes
    elif reason:
        assert got == [reason] and not decoded.fixes
    else:
        assert got == [] and len(decoded.fixes) == 1


def test_duplicates_in_a_batch_and_across_batches_are_stored_once(pipeline, engine):
    """``store.insert_fixes``: a batch's own repeats count once; what an earlier batch
    stored is known; only what is new reaches the rules (``Batch.fixes``)."""
    def pos(fix: dict) -> InboundMessage:
        return _msg("kw/v1/dev/t-0001/pos", json.dumps(fix).encode())

    a, b, c = _fix(90, seq=1), _fix(80, seq=2), _fix(70, seq=3)
    no_seq = _fix(60)  # stored with seq -1: the same time twice without seq is one fix
    first = pipeline.process([pos(a), pos(b), pos(a), pos(no_seq), pos(no_seq)], NOW)
    assert (first.stored, first.duplicates) == (3, 2)
    second = pipeline.process([pos(b), pos(c), pos(a), pos(c), pos(no_seq)], NOW)
    assert (second.stored, second.duplicates) == (1, 4)
    assert [f.seq for group in second.fixes.values() for f in group] == [3]
    with engine.connect() as conn:
        seqs = conn.execute(text("SELECT seq FROM fixes ORDER BY ts")).scalars().all()
    assert seqs == [1, 2, 3, -1]


def test_impossible_jump_is_stored_flagged_and_not_movement(pipeline, engine):
    fixes = [_fix(120, seq=1, speed=40.0),
             {**_fix(110, seq=2, speed=40.0), "lat": OUTSIDE[0] + 1.0},  # 111 km in 10 s
             _fix(100, seq=3, speed=40.0)]
    pipeline.process([_msg("kw/v1/dev/t-0001/pos", json.dumps(fixes).encode())], NOW)
    with engine.connect() as conn:
        flags = dict(conn.execute(text("SELECT seq, flags FROM fixes")).all())
        last_lat = conn.execute(text("SELECT lat FROM vehicle_state")).scalar_one()
    assert flags == {1: None, 2: ["jump"], 3: None}
    assert last_lat == pytest.approx(OUTSIDE[0])  # the jump never became the position


def test_late_fix_is_stored_and_flagged(pipeline, engine):
    pipeline.process([_msg("kw/v1/dev/t-0001/pos",
                           json.dumps(_fix(30, seq=5)).encode())], NOW)
    pipeline.process([_msg("kw/v1/dev/t-0001/pos",
                           json.dumps(_fix(90, seq=4)).encode())], NOW)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT seq, flags FROM fixes")).all())
        last_seq = conn.execute(text("SELECT last_seq FROM vehicle_state")).scalar_one()
    assert rows == {5: None, 4: ["late"]}
    assert last_seq == 5  # the latest position stays the newest fix


LIMITS = Limits(max_payload_bytes=1_048_576, max_items=10_000, max_age_s=7 * 86400,
                max_future_s=300)


@hsettings(max_examples=300, deadline=timedelta(milliseconds=500),
           suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(
    st.binary(max_size=2048),
    st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                 lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(), c, max_size=5),
                 max_leaves=30).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"ts": st.one_of(st.integers(), st.text(), st.floats()),
                           "lat": st.floats(), "lon": st.floats(),
                           "speed": st.one_of(st.none(), st.floats(), st.text())},
                          optional={"seq": st.integers(), "alarms": st.lists(st.text())})
    .map(lambda v: json.dumps(v).encode()),
), kind=st.sampled_from(["pos", "tacho", "jt808"]))
def test_decoder_never_raises(payload: bytes, kind: str) -> None:
    """Whatever arrives, decode+validate returns fixes or rejections, never an exception."""
    out = decode_batch([_msg(f"kw/v1/dev/t-0001/{kind}", payload)], LIMITS, NOW)
    assert len(out.fixes) + len(out.tacho) + len(out.rejections) >= 1 or payload in (b"[]",)
    for rejection in out.rejections:
        assert rejection.reason != "internal_error", rejection.detail


def test_a_batch_bigger_than_one_statements_parameters_is_stored(pipeline, engine):
    """PostgreSQL takes at most 65,535 parameters per statement: a full batch (the
    simulator logs 20,000 drivers in at start) must not be written as one statement."""
    events = [{"ts": (NOW - timedelta(seconds=9_000 - i)).isoformat(), "event": "cover_open"
               if i % 2 else "cover_close"} for i in range(9_000)]
    batch = pipeline.process([_msg("kw/v1/dev/t-0001/tacho", json.dumps(events).encode())],
                             NOW)
    assert batch.rejections == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tacho_events")).scalar_one() == 9_000
    again = pipeline.process([_msg("kw/v1/dev/t-0001/tacho", json.dumps(events).encode())],
                             NOW)  # redelivered: nothing new
    assert sum(len(v) for v in again.tacho.values()) == 0


def test_a_statement_too_big_to_send_is_not_an_outage(engine):
    """libpq refuses > 65,535 parameters with an OperationalError; the worker must not
    take that for a lost database (it would retry the same batch forever) but split
    the batch like any other error that is about the work, not the server."""
    import psycopg

    from keywatch.errors import database_unavailable

    with engine.connect() as conn:
        try:
            conn.exec_driver_sql("SELECT " + ", ".join(["%s"] * 70_000),
                                 tuple(range(70_000)))
        except Exception as exc:  # noqa: BLE001 - the one under test
            refused = exc
        else:
            raise AssertionError("libpq sent 70,000 parameters")
    assert not database_unavailable(refused)
    with pytest.raises(psycopg.OperationalError) as lost:
        psycopg.connect("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2)
    assert database_unavailable(lost.value)
