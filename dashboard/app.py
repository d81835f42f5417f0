"""The FastAPI app factory: ``create_app(settings)`` (STYLE.md §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from dashboard import errors
from dashboard.live import LiveHub
from dashboard.routes import all_routers
from keywatch.db import make_engine, make_sessionmaker
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
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - report, don't raise
            return JSONResponse({"status": "not ready", "database": str(exc)[:200]}, 503)
        return JSONResponse({"status": "ready", "database": "ok"})

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
