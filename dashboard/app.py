"""The FastAPI app factory: ``create_app(settings)`` (STYLE.md §7)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dashboard import errors
from dashboard.live import LiveHub
from dashboard.routes import all_routers
from ingest.metrics import worker_health
from keywatch.db import make_engine, make_sessionmaker, psycopg_url
from keywatch.settings import Settings

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings.database_url)
    hub = LiveHub(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        yield
        await hub.stop()
        engine.dispose()

    app = FastAPI(
        title="Keywatch API",
        version="1.0",
        description="Key-vehicle telematics monitoring for traffic police (contract §7). "
        "Times are RFC 3339 in KEYWATCH_TZ; geometries GeoJSON (WGS-84); speeds km/h.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.live = hub
    app.state.pipeline = _lazy_pipeline(settings, engine)
    errors.install(app)
    for router in all_routers():
        app.include_router(router)
    if not (STATIC / "vendor" / "leaflet" / "leaflet.js").exists():
        raise RuntimeError("web assets missing: run keywatch/bootstrap.sh (npm ci) first")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> Response:
        """Ready when the database is reachable and writable, the MQTT broker reachable,
        and (when this process runs the ingest part) every ingest worker is storing."""
        checks = {"database": _check_database(settings.database_url),
                  "broker": _check_broker(settings)}
        ingest = worker_health(settings.ingest_stale_after, time.time())
        if ingest is not None:
            checks["ingest"] = ingest
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks},
                            200 if ready else 503)

    @app.get("/metrics", tags=["ops"])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _lazy_pipeline(settings: Settings, engine):  # type: ignore[no-untyped-def]
    """The ingest pipeline, built on first use (dead-letter replay from the API)."""
    built: list = []

    def get():  # type: ignore[no-untyped-def]
        if not built:
            from keywatch.wiring import build_pipeline

            built.append(build_pipeline(settings, engine))
        return built[0]

    return get


def _check_database(url: str) -> str:
    """Reachable, and writable: not a standby, and new transactions not read-only. A
    fresh session each time: a session keeps the ``default_transaction_read_only`` it
    connected with, so a pooled one could answer for the past."""
    try:
        with psycopg.connect(psycopg_url(url), connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetchone()
            standby, read_only = row or (None, None)
    except Exception as exc:  # noqa: BLE001 - report, don't raise
        return f"unreachable: {str(exc).splitlines()[0][:200]}"
    if standby:
        return "read-only: the server is a standby (in recovery)"
    if read_only == "on":
        return "read-only: transactions are read-only (default_transaction_read_only)"
    return "ok"


def _check_broker(settings: Settings) -> str:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(settings.mqtt_url)
    if not parts.hostname:
        return "not configured"
    port = parts.port or (8883 if parts.scheme in ("mqtts", "ssl") else 1883)
    try:
        with socket.create_connection((parts.hostname, port), timeout=2):
            return "ok"
    except OSError as exc:
        return f"unreachable: {exc}"
