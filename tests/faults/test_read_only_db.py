"""A read-only database (a standby after a failover, ``default_transaction_read_only``,
or a DBA fencing writes): the ingest worker stores nothing, so it acknowledges nothing —
it waits, and ``/readyz`` says not ready — and once the database is writable again
every fix is stored exactly once. The dispatcher waits too instead of dying.

Made with ``ALTER DATABASE … SET default_transaction_read_only`` plus terminating the
database's sessions (a session keeps the default it connected with); made writable again
without terminating anyone, so the worker must replace its read-only sessions itself.
Twice: once the same worker resumes; once it is stopped while stuck and the next worker
(same session) gets every fix it had received — proof that none was acknowledged. A full
disk (SQLSTATE 53100) is tested the same way in tests/faults/test_full_disk.py.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, make_url, text

from alerts.dispatcher import Dispatcher
from dashboard.app import create_app
from tests.city import OUTSIDE
from tests.faults.support import fleet_city, probe, publish_fleet
from tests.helpers import publisher, running_worker, scalar, wait_for, wait_for_count, with_settings

STEPS = 10


def _read_only(settings, on: bool, *, terminate: bool) -> None:  # type: ignore[no-untyped-def]
    url = make_url(settings.database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            value = "on" if on else "off"
            conn.execute(text(f'ALTER DATABASE "{url.database}" '
                              f"SET default_transaction_read_only = {value}"))
            if terminate:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :db AND pid <> pg_backend_pid()"),
                             {"db": url.database})
    finally:
        admin.dispose()


def _ready_sample(worker: str) -> float | None:
    return REGISTRY.get_sample_value("keywatch_ingest_ready", {"worker": worker})


def _not_ready(web, client: str) -> None:  # type: ignore[no-untyped-def]
    """The worker has hit the read-only database and says so; /readyz too."""
    wait_for(lambda: _ready_sample(client) == 0, 30, "the worker to notice")
    ready = web.get("/readyz")
    assert ready.status_code == 503, ready.json()
    assert ready.json()["database"].startswith("read-only"), ready.json()
    assert "not acknowledging" in ready.json()["ingest"]
    wait_for(lambda: "no heartbeat" in web.get("/readyz").json()["ingest"], 10,
             "the worker's heartbeat to go stale (it is stuck on its batch)")


def test_read_only_database_nothing_acked_then_all_stored(clean_db, engine, settings):
    names = fleet_city(engine, "ro", 5)
    start = datetime.now(UTC) - timedelta(seconds=10 * 2 * STEPS + 120)
    send = {"devices": names, "start": start, "lat": OUTSIDE[0], "lon": OUTSIDE[1],
            "parked": True}
    client = f"kw-ro-{uuid.uuid4().hex[:6]}"
    web_settings = with_settings(settings, ingest_stale_after=2.0)
    dispatcher = Dispatcher(engine, settings, interval_s=0.2)
    dispatching = threading.Thread(target=dispatcher.run, daemon=True)
    fixes = "SELECT count(*) FROM fixes"
    try:
        with TestClient(create_app(web_settings)) as web, publisher(settings) as pub:
            with running_worker(settings, client):
                probe(pub, engine, start, "ro-probe")
                assert web.get("/readyz").json()["ingest"] == "ok"
                dispatching.start()
                # 1. read-only, then writable again without anyone reconnecting: the worker
                # replaces its read-only sessions itself and stores the waiting batch
                _read_only(settings, True, terminate=True)
                publish_fleet(pub, per_device=STEPS, **send)  # type: ignore[arg-type]
                _not_ready(web, client)
                assert scalar(engine, fixes) == 1  # the probe only
                assert dispatching.is_alive()  # waiting, not dead
                _read_only(settings, False, terminate=False)
                wait_for_count(engine, fixes, 1 + len(names) * STEPS, 60,
                               "the first fixes once the database is writable")
                wait_for(lambda: web.get("/readyz").status_code == 200, 10, "ready again")
                # 2. read-only again, and the worker stopped while stuck: what it received
                # it never acknowledged, so the broker gives it to the next worker
                _read_only(settings, True, terminate=True)
                publish_fleet(pub, first_step=STEPS, per_device=STEPS, **send)  # type: ignore[arg-type]
                _not_ready(web, client)
            assert scalar(engine, fixes) == 1 + len(names) * STEPS
            _read_only(settings, False, terminate=False)
            total = 1 + len(names) * 2 * STEPS
            with running_worker(settings, client):
                wait_for_count(engine, fixes, total, 60, "every fix")
            assert dispatching.is_alive()
    finally:
        _read_only(settings, False, terminate=False)
        dispatcher.stop()
        if dispatching.ident:
            dispatching.join(10)
    with engine.connect() as conn:
        stored = {(d, s) for d, s in conn.execute(text(
            "SELECT device_id, seq FROM fixes WHERE device_id <> 'ro-probe'"))}
    assert stored == {(n, s) for n in names for s in range(2 * STEPS)}  # 0 lost
    assert scalar(engine, "SELECT sum(fixes_total) FROM vehicle_state") == total  # 0 twice
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0
