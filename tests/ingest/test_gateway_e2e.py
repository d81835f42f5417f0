"""A JT/T 808 terminal over TCP → gateway → MQTT → ingest worker → PostGIS.

The reply 0x8001 comes only after the broker's PUBACK, and a redelivered
frame stores nothing twice (the same exactly-once path as MQTT JSON).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from ingest.gateway_service import GatewayService
from ingest.jt808.location import encode_location
from keywatch.db import make_sessionmaker, transaction
from tests.city import INSIDE, make_city
from tests.helpers import running_worker, scalar, wait_for_count
from tests.ingest.test_jt808_gateway import Terminal

PHONE = "13912345678"


@pytest.fixture
def gateway(clean_db, engine, settings):
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices={PHONE: "muck_truck"})
    service = GatewayService(settings, port=0)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.ready.wait(10)
    yield service
    service.stop()
    thread.join(10)



def test_terminal_fix_reaches_the_database_once(gateway, engine, settings):
    when = datetime.now(UTC) - timedelta(minutes=2)
    body = encode_location(lat=INSIDE[0], lon=INSIDE[1], time=when, speed=30.0)

    async def conversation() -> None:
        async with Terminal(gateway.gateway.port, phone=PHONE) as terminal:
            await terminal.login()
            frame = terminal.frame(0x0200, body)
            await terminal.send(frame)
            reply = await terminal.reply()
            assert reply.header.msg_id == 0x8001
            await terminal.send(frame)  # the terminal did not see the reply: resends
            await terminal.reply()

    with running_worker(settings):
        asyncio.run(conversation())
        wait_for_count(engine, "SELECT count(*) FROM fixes", 1,
                       what="the terminal's fix")
    assert scalar(engine, "SELECT count(*) FROM fixes") == 1
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0


def test_unregistered_terminal_gets_no_auth_code(gateway, engine):
    async def conversation() -> dict:
        async with Terminal(gateway.gateway.port, phone="13800000000") as terminal:
            from ingest.jt808.messages import encode_register

            info = encode_register(edition=2013, plate="鲁B99999", terminal_id="T9")
            return await terminal.request(0x0100, info)

    answer = asyncio.run(conversation())
    assert answer["result"] != "ok"
    assert "auth_code" not in answer or not answer["auth_code"]


def test_unauthenticated_location_is_dead_lettered(gateway, engine):
    body = encode_location(lat=INSIDE[0], lon=INSIDE[1], time=datetime.now(UTC), speed=1.0)

    async def conversation() -> dict:
        async with Terminal(gateway.gateway.port, phone=PHONE) as terminal:
            return await terminal.request(0x0200, body)

    assert asyncio.run(conversation())["result"] == 1
    wait_for_count(engine, "SELECT count(*) FROM dead_letters", 1,
                   what="the dead letter")
    assert scalar(engine, "SELECT source FROM dead_letters") == "jt808-tcp"


def test_a_gateway_whose_port_is_taken_fails_with_that_error_and_stops_cleanly(
        clean_db, settings):
    """The bind error is the one reported; stopping the failed part raises nothing (it
    used to raise "Event loop is closed" over the real cause)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        service = GatewayService(settings.model_copy(update={"http_host": "127.0.0.1"}),
                                 port=taken.getsockname()[1])
        with pytest.raises(OSError, match="address already in use"):
            service.run()
    service.stop()
    assert not service.ready.is_set()
