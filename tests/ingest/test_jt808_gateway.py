"""The JT/T 808 gateway over real TCP sockets on 127.0.0.1 (port 0).

The directory, sink and dead-letter callables are small real implementations
that record what they saw, so each test reads as a terminal's conversation.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from ingest.jt808 import Jt808Gateway, RegisterRefused, decode_frame
from ingest.jt808.binary import GMT8
from ingest.jt808.location import encode_batch, encode_location
from ingest.jt808.messages import decode_body, encode_auth, encode_driver, encode_register
from ingest.jt808.terminal import Terminal

T0 = datetime(2026, 11, 26, 8, 0, 5, tzinfo=GMT8)
LOCATION = encode_location(
    lat=36.0671, lon=120.3826, time=T0, speed=42.5, status=["acc", "located"]
)


class Directory:
    """Terminals whose phone starts with 139 are bound; codes are 'kw-<id>'."""

    def __init__(self) -> None:
        self.registered: list[tuple[str, dict[str, Any]]] = []

    async def register(self, device_id: str, info: dict[str, Any]) -> str | None:
        self.registered.append((device_id, info))
        if device_id.startswith("137"):
            raise RegisterRefused(3)
        return f"kw-{device_id}" if device_id.startswith("139") else None

    async def authenticate(self, device_id: str, code: str) -> bool:
        return code == f"kw-{device_id}"


class Recorder:
    """Sink and dead-letter target; the sink can be held shut with ``gate``."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.rejected: list[tuple[str | None, bytes, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def sink(self, device_id: str, frame: bytes) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("broker down")
        self.published.append((device_id, frame))

    async def reject(self, device_id: str | None, frame: bytes, reason: str) -> None:
        self.rejected.append((device_id, frame, reason))


def serve(test: Callable[[Jt808Gateway, Recorder, Directory], Awaitable[None]], **kw: Any) -> None:
    """Run ``test`` against a fresh gateway on an ephemeral port."""

    async def main() -> None:
        recorder, directory = Recorder(), Directory()
        gateway = Jt808Gateway(
            "127.0.0.1", 0, sink=recorder.sink, directory=directory, reject=recorder.reject, **kw
        )
        async with gateway:
            assert gateway.port != 0
            await asyncio.wait_for(test(gateway, recorder, directory), 90)

    asyncio.run(main())


@pytest.mark.parametrize("edition", [2013, 2019])
def test_register_auth_location_answered_after_the_sink(edition: int) -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, directory: Directory) -> None:
        async with Terminal(gateway.port, edition=edition) as terminal:
            await terminal.login()
            assert directory.registered[0][1]["plate"] == "鲁B12345"
            rec.gate.clear()  # the broker has not acknowledged yet
            location = terminal.frame(0x0200, LOCATION)
            await terminal.send(location)
            with pytest.raises(TimeoutError):
                await terminal.reply(timeout=0.3)
            assert rec.published == []
            rec.gate.set()
            reply = await terminal.reply()
            assert rec.published == [("13912345678", location)]
            assert reply.header.msg_id == 0x8001
            assert (reply.header.edition, reply.header.phone) == (
                edition,
                decode_frame(location).header.phone,
            )
            assert reply.header.serial == 2  # the platform's own counter: 8100, 8001, 8001
            assert decode_body(reply) == {"reply_serial": 3, "reply_id": "0x0200", "result": 0}
        assert gateway.stats.forwarded == 1 and gateway.stats.frames == 3

    serve(conversation)


def test_batch_and_driver_identity_are_forwarded() -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        async with Terminal(gateway.port) as terminal:
            await terminal.login()
            batch = encode_batch([LOCATION, LOCATION], backfill=True)
            assert (await terminal.request(0x0704, batch))["result"] == 0
            driver = encode_driver(edition=2013, inserted=True, time=T0, certificate="C1")
            assert (await terminal.request(0x0702, driver))["result"] == 0
            assert len(rec.published) == 2

    serve(conversation)


def test_unauthenticated_location_is_refused_and_dead_lettered() -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        async with Terminal(gateway.port) as terminal:
            answer = await terminal.request(0x0200, LOCATION)
            assert answer == {"reply_serial": 1, "reply_id": "0x0200", "result": 1}
            assert rec.published == []
            [(device_id, frame, reason)] = rec.rejected
            assert device_id == "13912345678" and "not authenticated" in reason
            assert decode_frame(frame).header.msg_id == 0x0200

    serve(conversation)


def test_unknown_message_is_unsupported_and_connection_kept() -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        async with Terminal(gateway.port) as terminal:
            assert (await terminal.request(0x0900, b"\x01"))["result"] == 3
            assert (await terminal.request(0x0002))["result"] == 0

    serve(conversation)


@pytest.mark.parametrize("edition", [2013, 2019])
def test_bad_checksum_is_a_bad_message_and_connection_kept(edition: int) -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        async with Terminal(gateway.port, edition=edition) as terminal:
            frame = bytearray(terminal.frame(0x0002))
            frame[-2] ^= 0x01  # checksum 0x33 / 0x72 ^ 0x01: still needs no escape
            await terminal.send(bytes(frame))
            reply = await terminal.reply()
            assert reply.header.edition == edition
            assert decode_body(reply) == {"reply_serial": 1, "reply_id": "0x0002", "result": 2}
            assert "checksum" in rec.rejected[0][2]
            assert (await terminal.request(0x0002))["result"] == 0
        assert gateway.stats.errors == 1

    serve(conversation)


def test_register_refusals_and_wrong_auth_code() -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        body = encode_register(edition=2013)
        async with Terminal(gateway.port, phone="13812345678") as stranger:
            answer = await stranger.request(0x0100, body)
            assert answer == {"reply_serial": 1, "result": "terminal_not_in_database"}
            wrong = await stranger.request(0x0102, encode_auth("guess", edition=2013))
            assert wrong["result"] == 1
            assert (await stranger.request(0x0200, LOCATION))["result"] == 1
        async with Terminal(gateway.port, phone="13712345678") as twin:
            answer = await twin.request(0x0100, body)
            assert answer["result"] == "terminal_already_registered"

    serve(conversation)


def test_sink_failure_answers_failure() -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        async with Terminal(gateway.port) as terminal:
            await terminal.login()
            rec.fail = True
            assert (await terminal.request(0x0200, LOCATION))["result"] == 1
            rec.fail = False
            assert (await terminal.request(0x0200, LOCATION))["result"] == 0
        assert gateway.stats.sink_failures == 1

    serve(conversation)


def test_split_and_concatenated_frames_over_tcp() -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        async with Terminal(gateway.port) as terminal:
            await terminal.login()
            frames = [terminal.frame(0x0200, LOCATION) for _ in range(3)]
            stream = b"\x00garbage" + b"".join(frames) + terminal.frame(0x0002)
            for cut in range(0, len(stream), 7):  # 7-byte chunks cut frames anywhere
                await terminal.send(stream[cut : cut + 7])
                await asyncio.sleep(0)
            results = [decode_body(await terminal.reply()) for _ in range(4)]
            assert [r["reply_serial"] for r in results] == [3, 4, 5, 6]
            assert [r["result"] for r in results] == [0, 0, 0, 0]
            assert [frame for _, frame in rec.published] == frames
        assert gateway.stats.garbage_bytes == 8

    serve(conversation)


def test_idle_connection_is_closed() -> None:
    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(100), 5) == b""
        assert 0.2 <= time.monotonic() - started < 3
        writer.close()
        assert gateway.stats.idle_timeouts == 1
        await asyncio.sleep(0.05)
        assert gateway.stats.connections == 0 and gateway.stats.connections_total == 1

    serve(conversation, idle_timeout_s=0.3)


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def test_thousand_concurrent_terminals() -> None:
    count = 1000
    raise_fd_limit(2 * count + 256)  # both ends of every socket live in this process

    async def conversation(gateway: Jt808Gateway, rec: Recorder, _: Directory) -> None:
        async def one(index: int) -> None:
            phone = f"139{index:08d}"
            async with Terminal(gateway.port, phone=phone, edition=(2013, 2019)[index % 2]) as t:
                await t.login()
                assert (await t.request(0x0200, LOCATION))["result"] == 0

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.monotonic() - started
        assert len(rec.published) == count
        assert len({device for device, _ in rec.published}) == count
        assert elapsed < 60, f"{count} terminals took {elapsed:.1f}s"
        assert gateway.stats.connections_total == count

    serve(conversation)
