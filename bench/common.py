"""Shared bench plumbing: a scratch database on the configured (or private) PostGIS."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from ingest.broker_auth import service_account, with_credentials
from keywatch.migrate import upgrade
from keywatch.runtime import load_settings
from keywatch.services import Services
from keywatch.settings import Settings


@contextmanager
def scratch_settings(**overrides: object) -> Iterator[Settings]:
    """Settings pointing at a fresh, migrated database that is dropped afterwards."""
    base = load_settings()
    if not base.database_url or not base.mqtt_url:
        Services(base.home).up()
        base = load_settings()
    url = make_url(base.database_url)
    name = f"kw_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    scratch = url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(scratch)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    upgrade(engine)
    engine.dispose()
    # a broker of its own: benchmark traffic never reaches the demo's persistent session
    broker = Services(Path(tempfile.mkdtemp(prefix="kw-bench-broker-")))
    broker.mqtt_up()
    try:
        # the broker refuses anonymous clients: connect with its service account
        mqtt_url = with_credentials(broker.mqtt_url(), *service_account(broker.home / "mosquitto"))
        yield base.model_copy(update={"database_url": scratch, "mqtt_url": mqtt_url,
                                      **overrides})
    finally:
        broker.mqtt_down()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def platform_env(settings: Settings, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``keywatch`` subprocess on ``settings``' services. ``home``
    must not be the project's .keywatch: its broker-account sync would rewrite the
    demo broker's accounts from the scratch database."""
    return {**os.environ, "KEYWATCH_DATABASE_URL": settings.database_url,
            "KEYWATCH_MQTT_URL": settings.mqtt_url, "KEYWATCH_SECRET_KEY": settings.secret_key,
            "KEYWATCH_HOME": str(home), "KEYWATCH_HTTP_PORT": str(settings.http_port),
            "KEYWATCH_JT808_PORT": str(settings.jt808_port),
            "KEYWATCH_METRICS_PORT": "0", **extra}


def start_keywatch(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``python -m keywatch ARGS…`` with its output in ``log`` (never an unread pipe)."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "keywatch", *args], env=env,
                                cwd=Path(__file__).resolve().parents[1], stdout=out,
                                stderr=subprocess.STDOUT)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (taken together: one at a time, the system may
    hand out the same port twice, and two parts then race for it)."""
    import socket

    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()
