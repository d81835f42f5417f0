"""Fixtures for the alert tests: the tiny city plus officers' contact details,
companies with channels pointing at real local receivers, and a dispatcher."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from alerts.dispatcher import Dispatcher
from keywatch.db import make_sessionmaker, transaction
from registry.models import Company, Officer
from tests.alerts.receivers import HttpReceiver, smtp_server
from tests.city import make_city


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver().start()
    yield http
    http.stop()


@pytest.fixture
def smtp():  # type: ignore[no-untyped-def]
    controller, handler = smtp_server()
    yield controller, handler
    controller.stop()


@pytest.fixture
def alert_settings(settings, receiver, smtp):  # type: ignore[no-untyped-def]
    controller, _ = smtp
    return settings.model_copy(update={
        "webhook_allow_private": True, "webhook_timeout": 1.0,
        "smtp_host": "127.0.0.1", "smtp_port": controller.port,
        "sms_gateway_url": receiver.base + "/sms", "delivery_backoff": 5.0,
        "delivery_max_attempts": 4, "delivery_failing_after": 3, "digest_per_minute": 5,
        "delivery_lease": 30.0,
    })


@pytest.fixture
def city(clean_db, engine, receiver):  # type: ignore[no-untyped-def]
    """The tiny city; QD-MUCK-01 (vehicle t-0001) has webhook, e-mail and SMS."""
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        make_city(session, devices={"t-0001": "muck_truck", "t-0002": "school_bus",
                                    "t-0003": "muck_truck"})
        muck = session.get(Company, "QD-MUCK-01")
        secret = secrets.token_hex(16)
        receiver.secrets["muck"] = secret
        muck.webhook_url, muck.webhook_secret = receiver.url("ok", "muck"), secret
        muck.email, muck.sms = "dispatch@muck.example", "13800000001"
        session.get(Officer, "S37020201").email = "captain@police.example"
        session.get(Officer, "P37020201").phone = "13900000001"
        _inspected(session)
    return engine


def _inspected(session) -> None:  # type: ignore[no-untyped-def]
    """The muck trucks did last and this month's hazard inspections, so the running
    dispatcher's inspection_overdue check adds no incidents to these tests."""
    from datetime import UTC, date, datetime, timedelta

    from registry.models import Inspection, Vehicle

    today = datetime.now(UTC).date()
    months = {today.strftime("%Y-%m"), (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")}
    for vehicle in session.query(Vehicle).filter(Vehicle.vehicle_class == "muck_truck"):
        for month in months:
            session.add(Inspection(vehicle_id=vehicle.id, month=month, inspector="测试",
                                   inspected_on=date.fromisoformat(month + "-01"), items={}))


@pytest.fixture
def dispatcher(engine, alert_settings) -> Iterator[Dispatcher]:  # type: ignore[no-untyped-def]
    d = Dispatcher(engine, alert_settings)
    yield d
    d.close()


def utcnow() -> datetime:
    return datetime.now(UTC)
