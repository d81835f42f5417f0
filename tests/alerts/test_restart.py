"""The dispatcher process killed (SIGKILL) mid-queue and restarted: every delivery is
made, and no recipient gets the same incident twice under two keys — a row that
was in flight at the kill is resent with the same X-Keywatch-Delivery key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

from keywatch.db import make_sessionmaker, transaction
from registry.models import Company
from tests.alerts.support import open_incident, rows
from tests.city import INSIDE
from tests.helpers import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCIDENTS = 30


def _dispatcher(settings, receiver, tmp_path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT,
           "KEYWATCH_DATABASE_URL": settings.database_url, "KEYWATCH_MQTT_URL": settings.mqtt_url,
           "KEYWATCH_HOME": str(tmp_path), "KEYWATCH_WEBHOOK_ALLOW_PRIVATE": "true",
           "KEYWATCH_SMS_GATEWAY_URL": receiver.base + "/sms", "KEYWATCH_DELIVERY_LEASE": "2"}
    return subprocess.Popen([sys.executable, "-m", "keywatch", "run", "--only", "dispatch"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_killed_dispatcher_resends_in_flight_rows_with_the_same_key(city, settings, receiver,
                                                                    tmp_path):
    with transaction(make_sessionmaker(city)) as session:
        muck = session.get(Company, "QD-MUCK-01")
        muck.webhook_url, muck.email = receiver.url("sleepy", "muck"), None
    for n in range(INCIDENTS):
        open_incident(city, severity="critical", key=f"k{n}", at=INSIDE)
    expected = {str(i) for (i,) in rows(city, "SELECT id FROM deliveries WHERE channel IN "
                                        "('webhook', 'sms')")}
    assert len(expected) == 3 * INCIDENTS  # company webhook and SMS, officer SMS

    first = _dispatcher(settings, receiver, tmp_path)
    try:
        wait_for(lambda: len(receiver.at("/hook/sleepy")) >= 8, 30, "some webhooks")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    in_flight = rows(city, "SELECT count(*) FROM deliveries WHERE status = 'sending'")[0][0]
    assert in_flight > 0  # killed between sending and recording

    second = _dispatcher(settings, receiver, tmp_path)
    try:
        wait_for(lambda: rows(city, "SELECT count(*) FROM deliveries WHERE status NOT IN "
                              "('sent', 'skipped')")[0][0] == 0, 60, "every delivery sent")
    finally:
        second.terminate()
        second.wait(10)

    hooks = receiver.at("/hook/sleepy")
    sms = receiver.at("/sms")
    keys = [r.key for r in hooks] + [r.json["ref"] for r in sms]
    assert set(keys) == expected  # every delivery made
    assert all(r.valid_signature for r in hooks)
    # one key per (incident, recipient): each incident reached the company's webhook once
    incidents = Counter(r.json["incident"]["id"] for r in {r.key: r for r in hooks}.values())
    assert len(incidents) == INCIDENTS and set(incidents.values()) == {1}
    # a key repeats only for rows that were in flight at the kill, and is recorded so
    repeated = {k for k, n in Counter(keys).items() if n > 1}
    interrupted = {str(i) for (i,) in rows(
        city, "SELECT DISTINCT delivery_id FROM delivery_attempts WHERE error LIKE "
        "'interrupted%'")}
    assert repeated <= interrupted
    assert interrupted, "the kill should have interrupted at least one send"
