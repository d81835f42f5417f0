"""A full disk: PostgreSQL cannot extend the data file of a fixes partition (SQLSTATE
53100, "could not extend file … No space left on device"). The ingest worker stores
nothing, so it acknowledges nothing — it waits, and ``/readyz`` says not ready — and once
there is room again every fix is stored exactly once.

Really full: every partition of ``fixes`` moves to a tablespace on a 16 MiB tmpfs, which a
filler file then fills to the last page. WAL and every other table stay in the main data
directory, so the server does not PANIC; only inserting fixes fails. Each phase's fixes go
to a day partition that is still empty, so they cannot slip into the free space of a
partly filled page without asking the disk: the probe 4 days back, the first fixes 2 days
back, the second ones today. Twice, as in tests/faults/test_read_only_db.py: once the same
worker resumes when the filler is deleted; once it is stopped while stuck and the next
worker (same session) gets every fix it had received — proof that none was acknowledged.

Needs root (``mount -t tmpfs``) and the PostgreSQL server on this machine, as a superuser
(``CREATE TABLESPACE``); without them the test fails, it does not skip.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from dashboard.app import create_app
from tests.city import OUTSIDE
from tests.faults.support import fleet_city, probe, publish_fleet
from tests.helpers import publisher, running_worker, scalar, wait_for, wait_for_count, with_settings

STEPS = 10
SIZE = "16m"


@dataclass
class SmallDisk:
    """A tmpfs with a tablespace on it, holding the partitions of fixes once taken."""

    mount: Path
    tablespace: str
    admin: Engine  # autocommit, on the session's database, as the superuser
    moved: list[str] = field(default_factory=list)

    @property
    def filler(self) -> Path:
        return self.mount / "filler"

    def take_fixes(self) -> None:
        """Every partition of fixes, after the worker has made them (at its start)."""
        with self.admin.connect() as conn:
            conn.execute(text("SET lock_timeout = '10s'"))
            names = conn.execute(text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'fixes'::regclass ORDER BY 1")).scalars().all()
            for name in names:
                conn.execute(text(f'ALTER TABLE "{name}" SET TABLESPACE {self.tablespace}'))
                self.moved.append(name)
        assert self.moved, "no partitions of fixes to move"

    def fill(self) -> None:
        """Zeros until ENOSPC: not one page left for PostgreSQL to extend a file into."""
        chunk = bytes(1 << 16)
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        assert os.statvfs(self.mount).f_bavail == 0

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@contextmanager
def small_disk(settings) -> Iterator[SmallDisk]:  # type: ignore[no-untyped-def]
    """Mounted and given a tablespace on entry; on exit, even after a failure, emptied,
    its partitions moved back, the tablespace dropped and the tmpfs unmounted."""
    admin = create_engine(make_url(settings.database_url), isolation_level="AUTOCOMMIT")
    mount = Path(tempfile.mkdtemp(prefix="kw-full-"))  # in /tmp: the server can reach it
    disk = SmallDisk(mount, f"kw_full_{uuid.uuid4().hex[:8]}", admin)
    try:
        _mount_tmpfs(mount, _server_owner(admin))
        _create_tablespace(admin, disk.tablespace, mount)
        yield disk
    finally:
        try:
            disk.free()
            _give_back(disk)
        finally:
            _unmount(mount)
            admin.dispose()


def _server_owner(admin: Engine) -> tuple[int, int]:
    """uid and gid of the server's data directory: a tablespace must belong to them."""
    with admin.connect() as conn:
        if not conn.execute(text("SELECT rolsuper FROM pg_roles "
                                 "WHERE rolname = current_user")).scalar_one():
            pytest.fail("the full-disk test needs a superuser (CREATE TABLESPACE)")
        data = Path(conn.execute(text("SHOW data_directory")).scalar_one())
    if not data.is_dir():
        pytest.fail(f"the full-disk test needs the PostgreSQL server on this machine: "
                    f"its data directory {data} is not here")
    info = data.stat()
    return info.st_uid, info.st_gid


def _mount_tmpfs(mount: Path, owner: tuple[int, int]) -> None:
    options = f"size={SIZE},mode=0700,uid={owner[0]},gid={owner[1]}"
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "kw-full", str(mount)],
                              capture_output=True, text=True, timeout=30)
    except OSError as exc:
        pytest.fail(f"cannot run mount for the full-disk test: {exc}")
    if done.returncode:
        pytest.fail(f"cannot mount a {SIZE} tmpfs on {mount} (the full-disk test needs "
                    f"root): {done.stderr.strip()}")


def _create_tablespace(admin: Engine, name: str, mount: Path) -> None:
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE TABLESPACE {name} LOCATION '{mount}'"))
    except DBAPIError as exc:
        pytest.fail(f"cannot create tablespace {name} on the tmpfs {mount}: {exc.orig}")


def _give_back(disk: SmallDisk) -> None:
    """DROP TABLESPACE also makes every server process close its files there (after a
    checkpoint, for the files the moves left behind), so the tmpfs can be unmounted."""
    with disk.admin.connect() as conn:
        conn.execute(text("SET lock_timeout = '30s'"))
        for name in disk.moved:
            conn.execute(text(f'ALTER TABLE "{name}" SET TABLESPACE pg_default'))
        conn.execute(text(f"DROP TABLESPACE IF EXISTS {disk.tablespace}"))


def _unmount(mount: Path) -> None:
    """Never left behind: still busy after a while, it is detached lazily (gone once the
    last file there is closed)."""
    deadline = time.monotonic() + 10
    while os.path.ismount(mount) and time.monotonic() < deadline:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode:
            time.sleep(0.25)
    if os.path.ismount(mount):
        subprocess.run(["umount", "--lazy", str(mount)], check=True)
    with contextlib.suppress(OSError):
        mount.rmdir()


def _ready_sample(worker: str) -> float | None:
    return REGISTRY.get_sample_value("keywatch_ingest_ready", {"worker": worker})


def _not_ready(web, client: str) -> None:  # type: ignore[no-untyped-def]
    """The worker has hit the full disk and says so, which makes /readyz 503. The database
    check itself says ok: the server is reachable and writable (one tablespace is full),
    which a check that writes nothing cannot see — the worker's report is what counts."""
    wait_for(lambda: _ready_sample(client) == 0, 30, "the worker to notice")
    ready = web.get("/readyz")
    assert ready.status_code == 503, ready.json()
    assert ready.json()["database"] == "ok", ready.json()
    assert "not acknowledging" in ready.json()["ingest"]
    wait_for(lambda: "no heartbeat" in web.get("/readyz").json()["ingest"], 10,
             "the worker's heartbeat to go stale (it is stuck on its batch)")


def _start(days_ago: int) -> datetime:
    """2 × STEPS fixes from here end about two minutes before now, ``days_ago`` back."""
    return datetime.now(UTC) - timedelta(days=days_ago, seconds=10 * 2 * STEPS + 120)


def test_full_disk_nothing_acked_then_all_stored(clean_db, engine, settings, caplog):
    names = fleet_city(engine, "full", 5)
    send = {"devices": names, "lat": OUTSIDE[0], "lon": OUTSIDE[1], "parked": True}
    client = f"kw-full-{uuid.uuid4().hex[:6]}"
    web_settings = with_settings(settings, ingest_stale_after=2.0)
    fixes, first = "SELECT count(*) FROM fixes", 1 + len(names) * STEPS
    total = first + len(names) * STEPS
    with (TestClient(create_app(web_settings)) as web, publisher(settings) as pub,
          small_disk(settings) as disk):
        with running_worker(settings, client):
            probe(pub, engine, _start(4), "full-probe")
            assert web.get("/readyz").json()["ingest"] == "ok"
            disk.take_fixes()
            # 1. full, then room again: the same worker stores the batch it kept
            disk.fill()
            publish_fleet(pub, per_device=STEPS, start=_start(2), **send)  # type: ignore[arg-type]
            _not_ready(web, client)
            assert scalar(engine, fixes) == 1  # the probe only
            disk.free()
            wait_for_count(engine, fixes, first, 60, "the first fixes once freed")
            wait_for(lambda: web.get("/readyz").status_code == 200, 10, "ready again")
            # 2. full again (today's partition is still empty), and the worker stopped while
            # stuck: what it received it never acknowledged, so the broker gives it to the
            # next worker
            disk.fill()
            publish_fleet(pub, first_step=STEPS, per_device=STEPS, start=_start(0), **send)  # type: ignore[arg-type]
            _not_ready(web, client)
        assert scalar(engine, fixes) == first
        disk.free()
        with running_worker(settings, client):
            wait_for_count(engine, fixes, total, 60, "every fix")
    assert "could not extend file" in caplog.text  # SQLSTATE 53100, not another failure
    with engine.connect() as conn:
        stored = {(d, s): count for d, s, count in conn.execute(text(
            "SELECT device_id, seq, count(*) FROM fixes WHERE device_id <> 'full-probe' "
            "GROUP BY device_id, seq"))}
    assert stored == {(n, s): 1 for n in names for s in range(2 * STEPS)}  # 0 lost, 0 twice
    assert scalar(engine, "SELECT sum(fixes_total) FROM vehicle_state") == total
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0
