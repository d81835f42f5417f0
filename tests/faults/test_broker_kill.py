"""kill -9 Mosquitto while fixes are in flight, restart it: the loss is no larger than
its persistence settings promise (README "Reliability"), nothing is stored twice, and
the sequence-gap detector reports exactly the fixes that were lost.

Mosquitto keeps sessions and queued messages in memory and writes them to
``mosquitto.db`` every ``autosave_interval`` seconds (30, keywatch.services) and on a
clean exit. So a kill -9 may lose what the broker accepted since its last save and had
not yet handed to a worker that committed it; what it had saved survives. The test
makes each of those cases happen on purpose: a worker that has fallen behind (stopped
with SIGSTOP, its connection open), fixes queued before a save (B) and after it (C).
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.gaps import find_gaps
from ingest.mqtt import RECEIVE_MAXIMUM
from keywatch.services import Services
from tests.city import OUTSIDE
from tests.faults.support import fleet_city, part, probe, publish_fleet
from tests.helpers import publisher, scalar, wait_for

AUTOSAVE_INTERVAL_S = 30  # keywatch.services.mosquitto_config
DEVICES = 20
# (first step, steps): A live, B queued then saved, C queued after the save, D after the
# restart. B fills the stopped worker's in-flight window (its Receive Maximum), so C
# waits in the broker's memory; without that, C would sit in the worker's TCP buffers
# (handed over, so safe) and the kill would lose nothing.
_B = RECEIVE_MAXIMUM // DEVICES + 10
A, B, C, D = (0, 10), (10, _B), (10 + _B, 30), (40 + _B, 10)


def _saved_at(broker: Services) -> int:
    db = broker.home / "mosquitto" / "mosquitto.db"
    return db.stat().st_mtime_ns if db.exists() else 0


def _save_now(broker: Services) -> int:
    """SIGUSR1: Mosquitto writes its persistence file now (what autosave does every 30 s)."""
    before = _saved_at(broker)
    os.kill(_broker_pid(broker), signal.SIGUSR1)
    return wait_for(lambda: _saved_at(broker) if _saved_at(broker) != before else 0, 10,
                    "Mosquitto's persistence file to be written")


def _broker_pid(broker: Services) -> int:
    return int(Path(broker.home / "mosquitto" / "mosquitto.pid").read_text().strip())


def _kill9(broker: Services) -> None:
    pid = _broker_pid(broker)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists()
             or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], 10, "Mosquitto to die")


def _stored(engine) -> set[tuple[str, int]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with engine.connect() as conn:
        return {(d, s) for d, s in conn.execute(text(
            "SELECT device_id, seq FROM fixes WHERE device_id NOT LIKE '%-probe'"))}


def _keys(names: list[str], phase: tuple[int, int]) -> set[tuple[str, int]]:
    first, steps = phase
    return {(name, step) for name in names for step in range(first, first + steps)}


def test_kill9_broker_with_fixes_in_flight(clean_db, engine, settings, services):
    _, broker = services
    names = fleet_city(engine, "m", DEVICES)
    start = datetime.now(UTC) - timedelta(seconds=10 * sum(D) + 120)
    send = {"devices": names, "start": start, "lat": OUTSIDE[0], "lon": OUTSIDE[1],
            "parked": True}
    client = {"KEYWATCH_MQTT_CLIENT_ID": "kw-fault-kill9", "KEYWATCH_MQTT_SESSION_EXPIRY": "120"}
    with part(settings, "ingest", **client) as worker:
        with publisher(settings) as pub:
            probe(pub, engine, start, "m-probe")
            publish_fleet(pub, first_step=A[0], per_device=A[1], **send)  # type: ignore[arg-type]
            wait_for(lambda: _keys(names, A) <= _stored(engine), 60, "phase A stored")
            worker.send_signal(signal.SIGSTOP)  # the consumer falls behind: fixes pile up
            try:
                publish_fleet(pub, first_step=B[0], per_device=B[1], **send)  # type: ignore[arg-type]
                saved = _save_now(broker)  # B is on disk
                c_started = time.monotonic()
                publish_fleet(pub, first_step=C[0], per_device=C[1], **send)  # type: ignore[arg-type]
            finally:
                killed_at = time.monotonic()
                _kill9(broker)
                worker.send_signal(signal.SIGCONT)
        resaved = _saved_at(broker) != saved  # an autosave after ours would keep some of C
        broker.mqtt_up()
        with publisher(settings) as pub:
            publish_fleet(pub, first_step=D[0], per_device=D[1], **send)  # type: ignore[arg-type]
        wait_for(lambda: _keys(names, D) <= _stored(engine), 60, "phase D after the restart")
        time.sleep(1.0)  # stragglers redelivered from the restored session
    stored = _stored(engine)
    published = _keys(names, A) | _keys(names, B) | _keys(names, C) | _keys(names, D)
    lost = published - stored
    # the promise: only what the broker accepted after its last save may be lost, and
    # all of it within autosave_interval of the kill
    assert killed_at - c_started < AUTOSAVE_INTERVAL_S
    assert lost <= _keys(names, C), sorted(lost - _keys(names, C))[:10]
    if not resaved:  # no autosave after ours: all of C was in memory only, and is gone
        assert lost == _keys(names, C)
    # none twice: each stored fix was counted once by the rules' checkpoint
    total = scalar(engine, "SELECT count(*) FROM fixes")
    assert scalar(engine, "SELECT coalesce(sum(fixes_total), 0) FROM vehicle_state") == total
    # the gap detector names exactly the lost fixes
    with engine.connect() as conn:
        gaps = find_gaps(conn, since=start - timedelta(minutes=1),
                         until=datetime.now(UTC) + timedelta(minutes=1))
    reported = {(g.device_id, n) for g in gaps for n in g.missing_seqs()}
    assert reported == lost
    print(f"kill -9: {len(lost)} of {len(_keys(names, C))} fixes queued after the last save "
          f"lost (autosave in between: {resaved})")
