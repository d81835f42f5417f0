"""Every channel end to end through real receivers, driven by ``Dispatcher.tick``."""

from __future__ import annotations

import json
from datetime import timedelta

from keywatch.db import make_sessionmaker, transaction
from registry.models import Company, Officer
from tests.alerts.conftest import utcnow
from tests.alerts.support import deliveries, open_incident, rows


def _status(engine, incident, purpose, recipient, channel):
    return deliveries(engine, incident)[(purpose, recipient, channel)]


def test_company_notice_on_webhook_email_and_sms(city, dispatcher, receiver, smtp):
    incident = open_incident(city, severity="critical")
    report = dispatcher.tick(utcnow())
    assert report.outcomes.get("failed", 0) == 0, rows(
        city, "SELECT channel, last_error FROM deliveries WHERE status = 'failed'")
    # webhook: signed with the company's secret, keyed by the delivery id
    [hook] = receiver.at("/hook/ok/muck")
    assert hook.valid_signature is True
    webhook_row = _status(city, incident, "notice", "QD-MUCK-01", "webhook")
    assert hook.key == str(webhook_row.id) and webhook_row.status == "sent"
    body = hook.json
    assert body["purpose"] == "notice" and body["incident"]["id"] == incident
    assert body["notice"]["plate"] == "鲁B00001" and "终端报警" in body["notice"]["text"]
    # SMS gateway: the template with phone, text and the idempotency reference
    sms = [r.json for r in receiver.at("/sms")]
    assert {m["to"] for m in sms} == {"13800000001", "13900000001"}  # company, officer
    company_sms = next(m for m in sms if m["to"] == "13800000001")
    assert company_sms["ref"] == str(_status(city, incident, "notice", "QD-MUCK-01", "sms").id)
    assert "抄告" in company_sms["text"]
    # e-mail: the company's notice; Message-ID carries the delivery id
    _, mail = smtp
    [message] = [m for m in mail.messages if m["To"] == "dispatch@muck.example"]
    email_row = _status(city, incident, "notice", "QD-MUCK-01", "email")
    assert message["Message-ID"] == f"<delivery-{email_row.id}@keywatch>"
    assert message["Subject"] == "【抄告】鲁B00001 终端报警"
    assert "鲁B00001" in message.get_content()
    attempts = rows(city, "SELECT ok FROM delivery_attempts")
    assert attempts and all(ok for (ok,) in attempts)


def test_officer_email_by_preference(city, dispatcher, smtp):
    with transaction(make_sessionmaker(city)) as session:
        session.get(Officer, "S37020201").preferences = {
            "channels": {"critical": ["live", "email"]}}
    open_incident(city, severity="critical")
    dispatcher.tick(utcnow())
    _, mail = smtp
    [message] = [m for m in mail.messages if m["To"] == "captain@police.example"]
    assert message["Subject"].startswith("【告警】紧急 终端报警 鲁B00001")


def _company_hooks(engine, receiver, modes):
    """Point QD-OTHER-01's webhook at a misbehaving receiver; QD-MUCK-01 stays good."""
    with transaction(make_sessionmaker(engine)) as session:
        other = session.get(Company, "QD-OTHER-01")
        other.webhook_url, other.webhook_secret = modes, "s3cret"
        session.get(Company, "QD-MUCK-01").email = None
        session.get(Company, "QD-MUCK-01").sms = None


def test_bad_webhooks_are_recorded_and_block_nobody(city, dispatcher, receiver):
    cases = {"fail": "HTTP 500", "slow": "timed out", "redirect": "redirect"}
    results = {}
    for mode, expected in cases.items():
        _company_hooks(city, receiver, receiver.url(mode, "other"))
        bad = open_incident(city, device="t-0002", rule="terminal_alarm", key=mode)
        good = open_incident(city, device="t-0001", key=mode)
        dispatcher.tick(utcnow())
        assert _status(city, good, "notice", "QD-MUCK-01", "webhook").status == "sent"
        row = _status(city, bad, "notice", "QD-OTHER-01", "webhook")
        assert expected in row.last_error, row.last_error
        results[mode] = row.status
    # 500 and timeouts are retried later; a redirect is refused, never followed
    assert results == {"fail": "pending", "slow": "pending", "redirect": "failed"}
    assert not receiver.at("/hook/ok/other")


def test_private_address_refused_by_default(city, engine, settings, receiver):
    from alerts.dispatcher import Dispatcher

    strict = Dispatcher(engine, settings.model_copy(update={"webhook_allow_private": False}))
    try:
        incident = open_incident(city)
        strict.tick(utcnow())
    finally:
        strict.close()
    row = _status(city, incident, "notice", "QD-MUCK-01", "webhook")
    assert row.status == "failed" and "non-public address 127.0.0.1" in row.last_error
    assert not receiver.at("/hook/")


def test_retries_back_off_then_fail_and_mark_target_failing(city, dispatcher, receiver):
    _company_hooks(city, receiver, receiver.url("fail", "other"))
    incident = open_incident(city, device="t-0002")
    now = utcnow()
    delays = []
    for _ in range(4):  # delivery_max_attempts = 4
        dispatcher.tick(now)
        row = _status(city, incident, "notice", "QD-OTHER-01", "webhook")
        delays.append((row.next_attempt_at - now).total_seconds())
        now = row.next_attempt_at + timedelta(milliseconds=1)
    assert delays[:3] == [5.0, 10.0, 20.0]  # exponential backoff from 5 s
    assert row.status == "failed" and row.attempts == 4
    assert len(receiver.at("/hook/fail/other")) == 4
    assert rows(city, "SELECT count(*) FROM delivery_attempts WHERE delivery_id = :id",
                id=row.id)[0][0] == 4
    [target] = rows(city, "SELECT * FROM delivery_targets WHERE recipient = 'QD-OTHER-01'")
    assert target.failing and target.consecutive_failures == 4


def test_smtp_refusal_and_missing_addresses_are_recorded(city, dispatcher, receiver):
    with transaction(make_sessionmaker(city)) as session:
        session.get(Company, "QD-MUCK-01").email = "refuse@muck.example"
        session.get(Officer, "P37020201").phone = None
        session.get(Officer, "P37020201").preferences = {"channels": {"critical": ["sms"]}}
    incident = open_incident(city, severity="critical")
    dispatcher.tick(utcnow())
    mail = _status(city, incident, "notice", "QD-MUCK-01", "email")
    assert mail.status == "failed" and "refused" in mail.last_error
    sms = _status(city, incident, "incident", "P37020201", "sms")
    assert sms.status == "failed" and "no mobile number" in sms.last_error
    # the rest went out
    assert _status(city, incident, "notice", "QD-MUCK-01", "webhook").status == "sent"
    assert _status(city, incident, "notice", "QD-MUCK-01", "sms").status == "sent"


def test_burst_of_warnings_is_folded_into_a_digest(city, dispatcher, receiver):
    with transaction(make_sessionmaker(city)) as session:
        session.get(Officer, "P37020201").preferences = {"channels": {"warning": ["sms"]}}
        session.get(Company, "QD-MUCK-01").sms = None
    for n in range(8):
        open_incident(city, rule="terminal_alarm", severity="warning", key=f"a{n}")
    now = utcnow()
    dispatcher.tick(now)
    to_officer = [r.json for r in receiver.at("/sms") if r.json["to"] == "13900000001"]
    assert len(to_officer) == 5  # digest_per_minute
    assert rows(city, "SELECT count(*) FROM deliveries WHERE status = 'folded'")[0][0] == 3
    report = dispatcher.tick(now + timedelta(minutes=1, seconds=1))
    [digest_id] = report.digests
    to_officer = [r.json for r in receiver.at("/sms") if r.json["to"] == "13900000001"]
    assert len(to_officer) == 6 and "另有 3 条" in to_officer[-1]["text"]
    assert rows(city, "SELECT count(*) FROM deliveries WHERE digest_id = :d",
                d=digest_id)[0][0] == 3
    json.dumps(to_officer)  # the gateway got valid JSON every time


def test_channels_the_platform_lacks_are_skipped_not_failed(city, engine, alert_settings,
                                                            receiver):
    """No SMTP server or SMS gateway configured: those deliveries are recorded as
    skipped, nobody is marked failing, and the webhook still goes out."""
    from alerts.dispatcher import Dispatcher

    bare = alert_settings.model_copy(update={"smtp_host": "", "sms_gateway_url": ""})
    dispatcher = Dispatcher(engine, bare)
    try:
        incident = open_incident(city, severity="critical")
        report = dispatcher.tick(utcnow())
    finally:
        dispatcher.close()
    assert report.outcomes.get("failed", 0) == 0
    assert report.outcomes.get("skipped", 0) >= 2  # the company's e-mail and SMS at least
    assert _status(city, incident, "notice", "QD-MUCK-01", "email").status == "skipped"
    assert _status(city, incident, "notice", "QD-MUCK-01", "sms").status == "skipped"
    assert _status(city, incident, "notice", "QD-MUCK-01", "webhook").status == "sent"
    assert rows(city, "SELECT count(*) FROM delivery_targets WHERE failing") == [(0,)]


def test_by_default_a_delivery_is_retried_until_confirmed(city, engine, settings, receiver):
    """Contract §6: no attempt limit unless an operator sets one; the delay
    stops growing at delivery_backoff_max."""
    from alerts.dispatcher import Dispatcher

    unlimited = Dispatcher(engine, settings.model_copy(update={
        "webhook_allow_private": True, "delivery_backoff": 5.0, "delivery_backoff_max": 60.0,
        "delivery_max_attempts": 0}))
    _company_hooks(city, receiver, receiver.url("fail", "other"))
    incident = open_incident(city, device="t-0002")
    now = utcnow()
    try:
        for _ in range(12):
            unlimited.tick(now)
            row = _status(city, incident, "notice", "QD-OTHER-01", "webhook")
            assert row.status == "pending", row.attempts
            delay = (row.next_attempt_at - now).total_seconds()
            now = row.next_attempt_at + timedelta(milliseconds=1)
    finally:
        unlimited.close()
    assert row.attempts == 12 and delay == 60.0
    assert len(receiver.at("/hook/fail/other")) == 12

