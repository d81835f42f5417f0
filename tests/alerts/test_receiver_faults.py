"""Webhook, SMS-gateway and SMTP receivers down for 5 minutes: every delivery is
retried, made once they are back, and made once (none twice) — under the production
retry policy (``KEYWATCH_DELIVERY_*`` defaults: 8 attempts, 5 s doubling, so the
7th attempt comes 315 s after the first).

The quick test replays the 5 minutes with the dispatcher's controlled clock
(``tick(now)``); the slow one (``make faults``) runs a real dispatcher process
through 5 real minutes. The receivers are real: an HTTP server and aiosmtpd,
stopped (connections refused) and started again on the same ports.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller

from alerts.dispatcher import Dispatcher
from tests.alerts.receivers import HttpReceiver, MailHandler, free_port
from tests.alerts.support import open_incident, rows
from tests.helpers import wait_for

OUTAGE = timedelta(minutes=5)
CHANNELS = "('webhook', 'sms', 'email')"
INCIDENTS = 3


class MailServer:
    """aiosmtpd on a fixed port that can go down and come back (a Controller cannot be
    restarted, so each start makes a new one)."""

    def __init__(self) -> None:
        self.handler, self.port = MailHandler(), free_port()
        self.controller: Controller | None = None

    def start(self) -> MailServer:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


def _channel_settings(settings, receiver: HttpReceiver, mail: MailServer):  # type: ignore[no-untyped-def]
    """Where the channels are; the retry policy stays at its defaults."""
    return settings.model_copy(update={
        "webhook_allow_private": True, "webhook_timeout": 1.0, "smtp_host": "127.0.0.1",
        "smtp_port": mail.port, "sms_gateway_url": receiver.base + "/sms"})


@contextmanager
def _down(receiver: HttpReceiver, mail: MailServer) -> Iterator[None]:
    receiver.stop()
    mail.stop()
    try:
        yield
    finally:
        receiver.start()
        mail.start()


def _expected(engine) -> set[str]:  # type: ignore[no-untyped-def]
    for n in range(INCIDENTS):
        open_incident(engine, severity="critical", key=f"outage-{n}")
    expected = {str(i) for (i,) in rows(engine, f"SELECT id FROM deliveries "
                                                f"WHERE channel IN {CHANNELS}")}
    channels = {c for (c,) in rows(engine, f"SELECT DISTINCT channel FROM deliveries "
                                           f"WHERE channel IN {CHANNELS}")}
    assert channels == {"webhook", "sms", "email"} and len(expected) >= 3 * INCIDENTS
    return expected


def _assert_each_made_once(engine, receiver: HttpReceiver, mail: MailServer,  # type: ignore[no-untyped-def]
                           expected: set[str], back_at: datetime) -> None:
    keys = ([r.key for r in receiver.at("/hook/")] + [r.json["ref"] for r in receiver.at("/sms")]
            + [m["X-Keywatch-Delivery"] for m in mail.handler.messages])
    assert set(keys) == expected  # every delivery made ...
    assert {k: n for k, n in Counter(keys).items() if n > 1} == {}  # ... and none twice
    assert all(r.valid_signature for r in receiver.at("/hook/"))
    attempts = rows(engine, f"""
        SELECT d.id, d.status, d.sent_at, count(*) FILTER (WHERE NOT a.ok) AS failed,
               count(*) FILTER (WHERE a.ok) AS ok, max(a.at) FILTER (WHERE NOT a.ok) AS last_fail
        FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id
        WHERE d.channel IN {CHANNELS} GROUP BY d.id""")
    assert len(attempts) == len(expected)
    for row in attempts:
        assert row.status == "sent" and row.ok == 1, row
        assert row.failed >= 5, row  # retried all through the outage
        assert row.sent_at >= back_at > row.last_fail, row  # made afterwards
    assert rows(engine, "SELECT count(*) FROM delivery_targets WHERE failing")[0][0] == 0


def test_receivers_down_for_five_minutes_controlled_clock(city, settings, receiver, mail):
    expected = _expected(city)
    dispatcher = Dispatcher(city, _channel_settings(settings, receiver, mail))
    now = start = datetime.now(UTC)
    step = timedelta(seconds=5)
    try:
        with _down(receiver, mail):
            while now < start + OUTAGE:
                dispatcher.tick(now)
                now += step
            assert not receiver.received and not mail.handler.messages
            pending = rows(city, f"SELECT status, count(*) FROM deliveries WHERE channel IN "
                                 f"{CHANNELS} GROUP BY status")
            assert pending == [("pending", len(expected))]  # none given up
            assert rows(city, "SELECT count(*) FROM delivery_targets WHERE failing")[0][0] > 0
        back_at = now
        while now < back_at + timedelta(minutes=10) and rows(
                city, f"SELECT count(*) FROM deliveries WHERE channel IN {CHANNELS} "
                      "AND status <> 'sent'")[0][0]:
            dispatcher.tick(now)
            now += step
    finally:
        dispatcher.close()
    _assert_each_made_once(city, receiver, mail, expected, back_at)


@pytest.mark.slow
@pytest.mark.timeout(900)  # 5 minutes down, then the 315 s retry, then the rest
def test_receivers_down_for_five_real_minutes(city, settings, receiver, mail):
    from tests.faults.support import part

    channels = {"KEYWATCH_WEBHOOK_ALLOW_PRIVATE": "true", "KEYWATCH_SMTP_HOST": "127.0.0.1",
                "KEYWATCH_SMTP_PORT": str(mail.port),
                "KEYWATCH_SMS_GATEWAY_URL": receiver.base + "/sms"}
    with part(settings, "dispatch", **channels):
        with _down(receiver, mail):
            back = time.monotonic() + OUTAGE.total_seconds()
            expected = _expected(city)
            wait_for(lambda: rows(city, "SELECT count(*) FROM delivery_attempts")[0][0]
                     >= len(expected), 30, "the first attempts")
            time.sleep(max(0.0, back - time.monotonic()))
            assert not receiver.received and not mail.handler.messages
        back_at = datetime.now(UTC)
        wait_for(lambda: rows(city, f"SELECT count(*) FROM deliveries WHERE channel IN "
                                    f"{CHANNELS} AND status <> 'sent'")[0][0] == 0,
                 300, "every delivery after the outage", poll_s=1.0)
    _assert_each_made_once(city, receiver, mail, expected, back_at)
