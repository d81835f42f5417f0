"""The JT/T 808 TCP gateway: terminals connect here, frames go on to MQTT.

The gateway holds no data of its own. It answers the protocol (register,
authenticate, heartbeat, general responses) and hands every location, batch
and driver-identity frame, raw, to an injected ``sink`` — in production a
QoS 1 publish to ``kw/v1/dev/{device_id}/jt808`` that returns after the
PUBACK. Only then does the terminal get 0x8001 "ok", so a fix acknowledged to
the terminal is durably in the broker. Terminal identity lives behind the
injected :class:`TerminalDirectory`, keeping the gateway free of database
code and testable over real sockets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ingest.jt808.session import RegisterRefused, Session
from ingest.jt808.splitter import MAX_FRAME

log = logging.getLogger(__name__)

Sink = Callable[[str, bytes], Awaitable[None]]
Reject = Callable[[str | None, bytes, str], Awaitable[None]]

__all__ = ["GatewayStats", "Jt808Gateway", "RegisterRefused", "Reject", "Sink", "TerminalDirectory"]


class TerminalDirectory(Protocol):
    """Who may connect: the platform's registry of terminals.

    ``register`` returns the auth code for a terminal bound to a vehicle, or
    None if the platform does not know it (0x8100 result 4); it may raise
    :class:`RegisterRefused` to answer with another 0x8100 result.
    """

    async def register(self, device_id: str, info: dict[str, Any]) -> str | None: ...

    async def authenticate(self, device_id: str, code: str) -> bool: ...


@dataclass(slots=True)
class GatewayStats:
    """Counters for /metrics; ``connections`` is the number open right now."""

    connections: int = 0
    connections_total: int = 0
    frames: int = 0
    replies: int = 0
    forwarded: int = 0
    errors: int = 0
    rejected: int = 0
    sink_failures: int = 0
    idle_timeouts: int = 0
    garbage_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def _log_reject(device_id: str | None, frame: bytes, reason: str) -> None:
    log.warning("jt808 rejected frame from %s: %s (%s)", device_id, reason, frame.hex())


class Jt808Gateway:
    """asyncio TCP server speaking JT/T 808 (2013 and 2019) to terminals."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sink: Sink,
        directory: TerminalDirectory,
        reject: Reject | None = None,
        idle_timeout_s: float = 300.0,
        sink_timeout_s: float = 30.0,
        max_frame: int = MAX_FRAME,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.sink = sink
        self.directory = directory
        self.reject = reject or _log_reject
        self.idle_timeout_s = idle_timeout_s
        self.sink_timeout_s = sink_timeout_s
        self.max_frame = max_frame
        self.stats = GatewayStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._server is None or not self._server.sockets:
            return self.requested_port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self.requested_port, backlog=4096
        )
        log.info("jt808 gateway listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting, close every connection, wait for handlers to end."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def serve_forever(self) -> None:
        """For ``keywatch run --only gateway``: start, then run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Jt808Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.stats.connections += 1
        self.stats.connections_total += 1
        try:
            await Session(self, reader, writer).run()
        finally:
            self.stats.connections -= 1
            if task is not None:
                self._tasks.discard(task)
