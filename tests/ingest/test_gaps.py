"""The per-device sequence-gap detector (ingest.gaps) on real PostgreSQL rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from ingest.gaps import (
    GapScanner,
    devices_with_gaps,
    devices_with_gaps_paced,
    find_gaps,
    parse_when,
)
from keywatch.cli import main
from keywatch.db import make_sessionmaker, transaction
from tests.city import make_city

T0 = datetime(2026, 8, 1, 6, 0, tzinfo=UTC)
DEVICES = {"g-hole": "freight", "g-full": "freight", "g-boot": "freight", "g-wrap": "freight"}


def _store(engine, rows: list[tuple[str, int, int]], extras: dict | None = None) -> None:  # type: ignore[no-untyped-def]
    """(device, seconds after T0, seq) rows straight into ``fixes``."""
    with engine.begin() as conn:
        conn.execute(text("SELECT keywatch_ensure_fix_partition(DATE '2026-08-01')"))
        conn.execute(text(
            "INSERT INTO fixes (device_id, ts, seq, vehicle_id, geom, extras) "
            "SELECT v.device_id, :ts, :seq, v.id, ST_SetSRID(ST_MakePoint(120.36, 36.06), 4326), "
            "CAST(:extras AS jsonb) FROM vehicles v WHERE v.device_id = :d"),
            [{"d": d, "ts": T0 + timedelta(seconds=s), "seq": seq,
              "extras": json.dumps(extras) if extras else None} for d, s, seq in rows])


@pytest.fixture
def fleet(clean_db):  # type: ignore[no-untyped-def]
    with transaction(make_sessionmaker(clean_db)) as session:
        make_city(session, devices=DEVICES)
    hole = [("g-hole", 10 * n, n) for n in range(10) if n not in (3, 4, 7)]
    full = [("g-full", 10 * n, n) for n in range(10)]
    boot = [("g-boot", 10 * n, seq) for n, seq in enumerate([5, 6, 7, 0, 1, 2])]
    wrap = [("g-wrap", 10 * n, seq) for n, seq in enumerate([65533, 65534, 1, 2])]
    no_seq = [("g-full", 10 * n + 5, -1) for n in range(3)]  # fixes without seq
    _store(clean_db, hole + full + boot + wrap + no_seq)
    # a JT/T 808 terminal's serials are shared with heartbeats: not a loss
    _store(clean_db, [("g-full", 200, 100), ("g-full", 210, 150)], extras={"status": []})
    return clean_db


def _window(**kw):  # type: ignore[no-untyped-def]
    return {"since": T0, "until": T0 + timedelta(hours=1), **kw}


def test_missing_numbers_counted_per_device(fleet):
    with fleet.connect() as conn:
        devices = {d.device_id: d for d in devices_with_gaps(conn, **_window())}
        gaps = find_gaps(conn, **_window())
    assert set(devices) == {"g-hole", "g-boot", "g-wrap"}  # g-full is complete
    hole = devices["g-hole"]
    assert (hole.plate, hole.fixes, hole.missing, hole.gaps, hole.restarts) == \
        ("鲁B00001", 7, 3, 2, 0)
    assert [(g.after_seq, g.before_seq, g.missing) for g in gaps if g.device_id == "g-hole"] \
        == [(2, 5, 2), (6, 8, 1)]
    assert [n for g in gaps if g.device_id == "g-hole" for n in g.missing_seqs()] == [3, 4, 7]
    # no range in the contract: a step back is a counter restart, never a loss
    assert (devices["g-boot"].missing, devices["g-boot"].restarts) == (0, 1)
    assert (devices["g-wrap"].missing, devices["g-wrap"].restarts) == (0, 1)


def test_wrap_around_with_a_known_modulus(fleet):
    with fleet.connect() as conn:
        devices = {d.device_id: d for d in devices_with_gaps(conn, **_window(modulus=65536))}
        wrap = [g for g in find_gaps(conn, **_window(modulus=65536)) if g.device_id == "g-wrap"]
    assert (devices["g-wrap"].missing, devices["g-wrap"].restarts) == (2, 0)
    assert [n for g in wrap for n in g.missing_seqs(65536)] == [65535, 0]
    # 7 -> 0 in a 16-bit counter is a step back (RFC 1982), still a restart
    assert (devices["g-boot"].missing, devices["g-boot"].restarts) == (0, 1)


def test_consecutive_windows_add_up(fleet):
    """A gap across a window's start is seen once, by the window its later fix is in."""
    cut = T0 + timedelta(seconds=45)  # between seq 4 (missing, 40 s) and 5 (50 s)
    with fleet.connect() as conn:
        first = find_gaps(conn, since=T0, until=cut)
        second = find_gaps(conn, since=cut, until=T0 + timedelta(hours=1))
        whole = find_gaps(conn, **_window())
    assert sorted(first + second, key=lambda g: (g.device_id, g.before_ts)) == whole
    assert [(g.device_id, g.after_seq, g.before_seq) for g in second
            if g.device_id == "g-hole"] == [("g-hole", 2, 5), ("g-hole", 6, 8)]


def test_the_paced_scan_in_chunks_finds_what_one_statement_finds(fleet):
    """Chunk by chunk (one device per statement here), resting after each in proportion
    to its time: the same devices, the same counts, in the same order."""
    with fleet.connect() as conn:
        whole = devices_with_gaps(conn, **_window())
    rests: list[float] = []
    paced = devices_with_gaps_paced(fleet, **_window(), chunk=1, idle_share=0.5,
                                    sleep=rests.append)
    assert paced == whole and len(whole) == 3
    with fleet.connect() as conn:
        known = conn.execute(text(
            "SELECT count(*) FROM (SELECT device_id FROM vehicles WHERE device_id IS NOT NULL"
            " UNION SELECT device_id FROM device_bindings) d")).scalar()
    assert known >= len(DEVICES) and len(rests) == known - 1  # a rest between chunks
    assert all(r > 0 for r in rests)
    with fleet.connect() as conn:  # the restriction to a list of devices is honoured
        assert [d.device_id for d in devices_with_gaps(conn, **_window(),
                                                       only=["g-hole", "g-full"])] == ["g-hole"]


def test_scanner_publishes_metrics(fleet):
    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    before = sample("keywatch_seq_missing_fixes_total")
    scans = sample("keywatch_seq_gap_scans_total")
    clock = [T0 + timedelta(minutes=70)]  # first due window: [T0, T0 + 1 h)
    scanner = GapScanner(fleet, every_s=3600, delay_s=600, clock=lambda: clock[0])
    scanner.maybe_run()
    scanner._thread.join(10)  # type: ignore[union-attr]
    scanner.maybe_run()  # the next window is not due yet
    assert scanner._thread is not None and not scanner._thread.is_alive()
    assert sample("keywatch_seq_missing_fixes_total") - before == 3
    assert sample("keywatch_seq_gap_devices") == 1
    assert sample("keywatch_seq_gap_scans_total") - scans == 1


def test_cli_prints_devices_with_gaps(fleet, settings, monkeypatch, capsys):
    monkeypatch.setenv("KEYWATCH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KEYWATCH_HOME", str(settings.home))
    with pytest.raises(SystemExit) as exit_code:
        main(["gaps", "--since", "2026-08-01T14:00+08:00", "--until", "2026-08-01T15:00+08:00",
              "--ranges"])
    out = capsys.readouterr().out
    assert exit_code.value.code == 0, out
    assert "g-hole" in out and "鲁B00001" in out and "g-full" not in out
    assert "g-hole: seq 2 -> 5 (2 missing" in out
    assert "3 fixes missing from 1 devices" in out
    with pytest.raises(SystemExit) as exit_code:
        main(["gaps", "--since", "2026-08-02T14:00", "--until", "2026-08-02T15:00"])
    assert exit_code.value.code == 0 and "no sequence gaps" in capsys.readouterr().out


def test_bad_window_is_refused(engine):
    now = datetime(2026, 11, 26, tzinfo=UTC)
    assert parse_when("90m", now=now, tz=UTC) == now - timedelta(minutes=90)
    assert parse_when("2026-11-26T08:00", now=now, tz=UTC) == datetime(2026, 11, 26, 8,
                                                                        tzinfo=UTC)
    with pytest.raises(ValueError, match="not a time"):
        parse_when("yesterday", now=now, tz=UTC)
    with engine.connect() as conn, pytest.raises(ValueError, match="must be after"):
        find_gaps(conn, since=now, until=now)
