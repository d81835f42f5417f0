"""One terminal's TCP connection to the JT/T 808 gateway.

Frames of one connection are handled strictly in order, one at a time: that
keeps a vehicle's fixes in order on the way to MQTT, and the 0x8001 for a
location is written only after the sink (publish + PUBACK) has returned, so a
terminal never deletes from its blind-area store a fix the platform does not
hold yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from ingest.jt808 import messages as m
from ingest.jt808.binary import DecodeError
from ingest.jt808.codec import Frame, Header, decode_frame, reply_frame
from ingest.jt808.splitter import FrameSplitter

if TYPE_CHECKING:
    from ingest.jt808.gateway import Jt808Gateway

log = logging.getLogger(__name__)

FORWARDED = frozenset({m.LOCATION, m.BATCH, m.DRIVER})


class RegisterRefused(Exception):  # noqa: N818 - it is an answer, not a fault
    """Raised by a directory to answer 0x0100 with a specific 0x8100 result.

    ``result``: 1 vehicle already registered, 2 vehicle not in the database,
    3 terminal already registered, 4 terminal not in the database.
    """

    def __init__(self, result: int, reason: str = "") -> None:
        super().__init__(reason or m.REGISTER_RESULTS[result])
        self.result = result


class Session:
    """State of one connection: its splitter, reply serial and authenticated ids."""

    def __init__(
        self, gateway: Jt808Gateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.gateway = gateway
        self.stats = gateway.stats
        self.reader = reader
        self.writer = writer
        self.splitter = FrameSplitter(gateway.max_frame)
        self.serial = 0
        self.authenticated: set[str] = set()

    async def run(self) -> None:
        """Read until EOF, idle timeout or cancellation; always close."""
        try:
            while data := await self._read():
                split = self.splitter.feed(data)
                if split.discarded:
                    self.stats.garbage_bytes += split.discarded
                    log.debug("jt808 %s: %s", self.peer, "; ".join(split.errors))
                for raw in split.frames:
                    await self.handle(raw)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("jt808 %s: connection lost: %s", self.peer, exc)
        except Exception:  # a bug must cost one connection, never the gateway
            self.stats.errors += 1
            log.exception("jt808 %s: unexpected error, closing the connection", self.peer)
        finally:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    @property
    def peer(self) -> Any:
        return self.writer.get_extra_info("peername")

    async def _read(self) -> bytes:
        try:
            async with asyncio.timeout(self.gateway.idle_timeout_s):
                return await self.reader.read(65536)
        except TimeoutError:
            self.stats.idle_timeouts += 1
            log.info("jt808 %s: idle for %ss, closing", self.peer, self.gateway.idle_timeout_s)
            return b""

    async def handle(self, raw: bytes) -> None:
        """Decode one frame and answer it as the standard requires."""
        self.stats.frames += 1
        try:
            frame = decode_frame(raw)
        except DecodeError as exc:
            await self.bad_message(raw, exc)
            return
        header = frame.header
        if header.msg_id in FORWARDED:
            await self.forward(frame)
        elif header.msg_id == m.REGISTER:
            await self.register(frame)
        elif header.msg_id == m.AUTH:
            await self.authenticate(frame)
        elif header.msg_id in (m.HEARTBEAT, m.LOGOUT):
            if header.msg_id == m.LOGOUT:
                self.authenticated.discard(header.device_id)
            await self.respond(header, m.RESULT_OK)
        elif header.msg_id != m.TERMINAL_RESPONSE:  # responses are not answered
            await self.respond(header, m.RESULT_UNSUPPORTED)

    async def bad_message(self, raw: bytes, exc: DecodeError) -> None:
        """Dead-letter the frame; answer "bad message" if we know who sent it."""
        self.stats.errors += 1
        header = exc.header
        await self.reject(header.device_id if header else None, raw, str(exc))
        if header is not None:
            await self.respond(header, m.RESULT_BAD_MESSAGE)

    async def forward(self, frame: Frame) -> None:
        """Location/batch/driver: check, hand to the sink, then answer."""
        header, raw = frame.header, frame.raw
        device_id = header.device_id
        if device_id not in self.authenticated:
            await self.reject(device_id, raw, "terminal not authenticated on this connection")
            await self.respond(header, m.RESULT_FAILURE)
            return
        if header.subpackage or header.encryption:
            await self.reject(device_id, raw, "subpackaged or encrypted body not supported")
            await self.respond(header, m.RESULT_UNSUPPORTED)
            return
        try:
            m.decode_body(frame)
        except DecodeError as exc:
            await self.bad_message(raw, exc)
            return
        try:
            async with asyncio.timeout(self.gateway.sink_timeout_s):
                await self.gateway.sink(device_id, raw)
        except Exception:  # any sink failure means "not stored": the terminal retries
            self.stats.sink_failures += 1
            log.warning("jt808 sink failed for %s", device_id, exc_info=True)
            await self.respond(header, m.RESULT_FAILURE)
            return
        self.stats.forwarded += 1
        await self.respond(header, m.RESULT_OK)

    async def register(self, frame: Frame) -> None:
        header = frame.header
        try:
            info = m.decode_body(frame) | {"edition": header.edition}
        except DecodeError as exc:
            await self.bad_message(frame.raw, exc)
            return
        try:
            code = await self.gateway.directory.register(header.device_id, info)
        except RegisterRefused as refused:
            result, code = refused.result, None
        except Exception:  # no standard answer for "platform broken": let it retry
            self.stats.errors += 1
            log.exception("jt808 directory.register failed for %s", header.device_id)
            return
        else:
            result = m.REGISTER_RESULTS.index("terminal_not_in_database") if code is None else 0
        body = m.encode_register_response(header.serial, result, code)
        await self.send(reply_frame(header, m.REGISTER_RESPONSE, body, self.next_serial()))

    async def authenticate(self, frame: Frame) -> None:
        header = frame.header
        try:
            code = str(m.decode_body(frame).get("code", ""))
        except DecodeError as exc:
            await self.bad_message(frame.raw, exc)
            return
        try:
            ok = await self.gateway.directory.authenticate(header.device_id, code)
        except Exception:
            self.stats.errors += 1
            log.exception("jt808 directory.authenticate failed for %s", header.device_id)
            ok = False
        if ok:
            self.authenticated.add(header.device_id)
        await self.respond(header, m.RESULT_OK if ok else m.RESULT_FAILURE)

    async def reject(self, device_id: str | None, raw: bytes, reason: str) -> None:
        self.stats.rejected += 1
        try:
            await self.gateway.reject(device_id, raw, reason)
        except Exception:
            log.exception("jt808 reject (dead letter) failed for %s: %s", device_id, reason)

    async def respond(self, header: Header, result: int) -> None:
        """0x8001 carrying the terminal's serial and message id, in its edition."""
        body = m.encode_response(header.serial, header.msg_id, result)
        await self.send(reply_frame(header, m.PLATFORM_RESPONSE, body, self.next_serial()))

    def next_serial(self) -> int:
        serial = self.serial
        self.serial = (serial + 1) & 0xFFFF
        return serial

    async def send(self, frame: bytes) -> None:
        self.stats.replies += 1
        self.writer.write(frame)
        await self.writer.drain()
