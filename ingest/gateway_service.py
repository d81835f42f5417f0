"""``keywatch run --only gateway``: the JT/T 808 TCP gateway wired to the platform.

A location frame is answered 0x8001 only after it was published to
``kw/v1/dev/{id}/jt808`` with QoS 1 and the broker's PUBACK arrived, so TCP
terminals share the MQTT path's pipeline and its exactly-once guarantee.
Auth codes are an HMAC of the device id with the platform secret: stateless,
so they survive restarts and work across several gateways.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ingest import store
from ingest.jt808 import Jt808Gateway
from ingest.messages import Rejection
from ingest.mqtt import AsyncPublisher, BrokerAddress
from keywatch.db import make_engine, make_sessionmaker, transaction
from keywatch.settings import Settings
from registry.models import Vehicle

log = logging.getLogger(__name__)


class DatabaseDirectory:
    """Only terminals bound to an active vehicle in the registry get an auth code."""

    def __init__(self, settings: Settings, sessions: Any) -> None:
        self.key = settings.secret_key.encode()
        self.sessions = sessions

    def code_for(self, device_id: str) -> str:
        return hmac.new(self.key, device_id.encode(), hashlib.sha256).hexdigest()[:16]

    def _registered(self, device_id: str) -> bool:
        with self.sessions() as session:
            return session.scalar(select(Vehicle.id).where(
                Vehicle.device_id == device_id, Vehicle.status == "active")) is not None

    async def register(self, device_id: str, info: dict[str, Any]) -> str | None:
        known = await asyncio.to_thread(self._registered, device_id)
        return self.code_for(device_id) if known else None

    async def authenticate(self, device_id: str, code: str) -> bool:
        if not hmac.compare_digest(code, self.code_for(device_id)):
            return False
        return await asyncio.to_thread(self._registered, device_id)


class GatewayService:
    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.settings = settings
        self.port = settings.jt808_port if port is None else port
        self.sessions = make_sessionmaker(make_engine(settings.database_url, pool_size=4))
        self.publisher = AsyncPublisher(BrokerAddress.parse(settings.mqtt_url))
        self.directory = DatabaseDirectory(settings, self.sessions)
        self.gateway: Jt808Gateway | None = None
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    async def sink(self, device_id: str, frame: bytes) -> None:
        await self.publisher.publish_acked(f"kw/v1/dev/{device_id}/jt808", frame)

    def _dead_letter(self, device_id: str | None, frame: bytes, reason: str) -> None:
        rejection = Rejection(reason="jt808_refused", detail=reason, payload=frame,
                              topic=None, device_id=device_id, source="jt808-tcp")
        with transaction(self.sessions) as session:
            store.insert_dead_letters(session, [rejection], datetime.now(UTC))

    async def reject(self, device_id: str | None, frame: bytes, reason: str) -> None:
        await asyncio.to_thread(self._dead_letter, device_id, frame, reason)

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.publisher.start()
        self.gateway = Jt808Gateway(self.settings.http_host, self.port, sink=self.sink,
                                    directory=self.directory, reject=self.reject)
        await self.gateway.start()
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.gateway.stop()
            self.publisher.stop()

    def run(self) -> None:
        asyncio.run(self.serve())

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            # a gateway that failed to start (e.g. its port taken) has closed its loop
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
