"""A scripted JT/T 808 terminal over TCP (asyncio): tests and the load simulator.

It speaks the terminal side of register → authenticate → location with its own
serial counter. Unexpected answers raise :class:`TerminalError` subclasses with
the gateway's reply in the message, never bare asserts, so a simulator can
count them as errors and a test can read why a conversation failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ingest.jt808.codec import Frame, decode_frame, encode_frame
from ingest.jt808.messages import (
    AUTH,
    LOCATION,
    REGISTER,
    decode_body,
    encode_auth,
    encode_register,
)
from ingest.jt808.splitter import FrameSplitter


class TerminalError(Exception):
    """The gateway did not answer as the standard requires."""


class ConnectionClosed(TerminalError):
    """The gateway closed the TCP connection."""


class LoginRefused(TerminalError):
    """Registration (0x8100) or authentication (0x8001 to 0x0102) failed."""


class Terminal:
    """One terminal connection; use as ``async with Terminal(port, phone=...) as t``."""

    def __init__(self, port: int, phone: str = "13912345678", edition: int = 2013,
                 host: str = "127.0.0.1") -> None:
        self.host, self.port, self.phone, self.edition = host, port, phone, edition
        self.serial = 0
        self.splitter = FrameSplitter()
        self.pending: list[bytes] = []
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Terminal:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):  # already gone
                await self.writer.wait_closed()
            self.writer = None

    def frame(self, msg_id: int, body: bytes = b"") -> bytes:
        """The next frame of this terminal (its serial counts up from 1)."""
        self.serial += 1
        return encode_frame(msg_id, body, phone=self.phone, serial=self.serial,
                            edition=self.edition)

    async def send(self, data: bytes) -> None:
        if self.writer is None:
            raise ConnectionClosed(f"terminal {self.phone} is not connected")
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, timeout: float = 5.0) -> Frame:
        """The next frame from the gateway (``TimeoutError`` if none in time)."""
        if self.reader is None:
            raise ConnectionClosed(f"terminal {self.phone} is not connected")
        async with asyncio.timeout(timeout):
            while not self.pending:
                data = await self.reader.read(4096)
                if not data:
                    raise ConnectionClosed(f"the gateway closed terminal {self.phone}'s connection")
                self.pending += self.splitter.feed(data).frames
        return decode_frame(self.pending.pop(0))

    async def request(self, msg_id: int, body: bytes = b"", timeout: float = 5.0
                      ) -> dict[str, Any]:
        """Send one frame and return the decoded body of the gateway's answer."""
        await self.send(self.frame(msg_id, body))
        return decode_body(await self.reply(timeout))

    async def login(self, *, plate: str = "鲁B12345", terminal_id: str = "T1",
                    imei: str = "1" * 15, timeout: float = 5.0) -> str:
        """Register (0x0100) then authenticate (0x0102); returns the auth code."""
        info = encode_register(edition=self.edition, plate=plate, terminal_id=terminal_id)
        answer = await self.request(REGISTER, info, timeout)
        if answer.get("result") != "ok" or answer.get("reply_serial") != self.serial:
            raise LoginRefused(f"terminal {self.phone}: register answered {answer}")
        code = str(answer["auth_code"])
        auth = await self.request(AUTH, encode_auth(code, edition=self.edition, imei=imei),
                                  timeout)
        if auth != {"reply_serial": self.serial, "reply_id": "0x0102", "result": 0}:
            raise LoginRefused(f"terminal {self.phone}: authentication answered {auth}")
        return code

    async def report(self, body: bytes, msg_id: int = LOCATION, timeout: float = 10.0) -> int:
        """Send a location (or batch / driver) body; returns the 0x8001 result (0 = ok)."""
        answer = await self.request(msg_id, body, timeout)
        if answer.get("reply_serial") != self.serial or "result" not in answer:
            raise TerminalError(f"terminal {self.phone}: unexpected answer {answer}")
        return int(answer["result"])
