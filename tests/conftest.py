"""Real PostGIS and Mosquitto for every test (STYLE.md §11): a missing service is a
failure, never a skip.

Uses KEYWATCH_DATABASE_URL / KEYWATCH_MQTT_URL when both are given; otherwise
starts (or reuses) a throwaway cluster and broker under .keywatch/test. Each
test session gets a fresh database, migrated with Alembic.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis  # noqa: F401 - imported before any worker thread runs: CPython 3.11's

# AST constructor (gh-106905) can fail when pytest rewrites it lazily at session end
import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

from ingest.broker_auth import service_account, with_credentials
from keywatch.db import make_engine
from keywatch.migrate import upgrade
from keywatch.services import Services
from keywatch.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def private_services(tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[tuple[Services, Services] | None]:
    """The cluster is shared (each session gets its own database); the broker is this
    session's own, so concurrent test runs never see each other's messages. None when
    KEYWATCH_DATABASE_URL and KEYWATCH_MQTT_URL point at existing services."""
    if os.environ.get("KEYWATCH_DATABASE_URL") and os.environ.get("KEYWATCH_MQTT_URL"):
        yield None
        return
    cluster = Services(ROOT / ".keywatch" / "test")
    cluster.pg_up()
    broker = Services(tmp_path_factory.mktemp("broker"))
    broker.mqtt_up()
    yield cluster, broker
    broker.mqtt_down()


@pytest.fixture(scope="session")
def service_urls(private_services: tuple[Services, Services] | None) -> tuple[str, str]:
    if private_services is None:
        return os.environ["KEYWATCH_DATABASE_URL"], os.environ["KEYWATCH_MQTT_URL"]
    cluster, broker = private_services
    # the broker refuses anonymous clients: the platform uses its service account
    account = service_account(broker.home / "mosquitto")
    return cluster.database_url(), with_credentials(broker.mqtt_url(), *account)


@pytest.fixture(scope="session")
def database_url(service_urls: tuple[str, str]) -> Iterator[str]:
    base = make_url(service_urls[0])
    name = f"kw_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        _drop_stale_databases(conn)
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        assert conn.execute(text("SELECT postgis_version()")).scalar()
    upgrade(engine)
    engine.dispose()
    yield url
    admin.dispose()  # dropped by the next session: worker threads may still hold connections


def _drop_stale_databases(conn) -> None:  # type: ignore[no-untyped-def]
    """Earlier sessions' databases, unless still in use (another run in progress)."""
    names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'kw_test_%'"))
    for (stale,) in names.all():
        with contextlib.suppress(Exception):  # in use by a concurrent run: leave it
            conn.execute(text(f'DROP DATABASE "{stale}"'))


@pytest.fixture(scope="session")
def mqtt_url(service_urls: tuple[str, str]) -> str:
    return service_urls[1]


@pytest.fixture(scope="session")
def settings(database_url: str, mqtt_url: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        mqtt_url=mqtt_url,
        home=tmp_path_factory.mktemp("home"),
        secret_key="test-secret-" + uuid.uuid4().hex,
        mqtt_session_expiry=120,
        batch_ms=50,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    """An empty schema for tests whose worker threads commit on their own."""
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'spatial_ref_sys') "
            "AND tablename NOT LIKE 'fixes_%'")).scalars().all()
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    return engine
