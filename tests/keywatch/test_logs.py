"""Structured logs (KEYWATCH_LOG_FORMAT=json): one JSON object a line, carrying the
vehicle and incident ids the log call passed."""

from __future__ import annotations

import io
import json
import logging

from keywatch.db import make_sessionmaker, transaction
from keywatch.logs import JsonFormatter
from registry.models import Company
from tests.alerts.support import open_incident, rows
from tests.city import make_city
from tests.faults.support import part
from tests.helpers import wait_for


def _capture(name: str) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, out, handler


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_extras_and_exceptions():
    logger, out, handler = _capture("kw.test.logs")
    try:
        logger.info("incident %s for %s", 17, "鲁B12345",
                    extra={"incident_id": 17, "vehicle_id": 4, "plate": "鲁B12345"})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("rule %s failed", "speeding", extra={"vehicle_id": 4})
    finally:
        logger.removeHandler(handler)
    first, second = _lines(out.getvalue())
    assert first["message"] == "incident 17 for 鲁B12345" and first["level"] == "INFO"
    assert (first["incident_id"], first["vehicle_id"], first["plate"]) == (17, 4, "鲁B12345")
    assert first["logger"] == "kw.test.logs" and first["ts"].endswith("+00:00")
    assert second["vehicle_id"] == 4 and "ValueError: boom" in second["exc"]
    assert "args" not in first and "msg" not in first  # only what the call added


def test_incident_and_delivery_logs_carry_ids(clean_db, engine, settings):
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session)
        session.get(Company, "QD-MUCK-01").webhook_url = "http://127.0.0.1:9/hook"  # refused
    _, out, handler = _capture("alerts")
    try:
        incident = open_incident(engine, severity="critical", key="logs")
    finally:
        logging.getLogger("alerts").removeHandler(handler)
    vehicle = rows(engine, "SELECT vehicle_id FROM incidents WHERE id = :id", id=incident)[0][0]
    opened = [line for line in _lines(out.getvalue()) if line.get("incident_id") == incident]
    assert opened and opened[0]["vehicle_id"] == vehicle and opened[0]["rule"] == "terminal_alarm"

    # a real dispatcher process, configured through the environment like any deployment
    log = settings.home / "logs" / "dispatch.log"
    log.unlink(missing_ok=True)
    with part(settings, "dispatch", KEYWATCH_LOG_FORMAT="json",
              KEYWATCH_WEBHOOK_ALLOW_PRIVATE="true"):
        wait_for(lambda: log.exists() and '"delivery_id"' in log.read_text(), 30,
                 "the dispatcher's failed-webhook log line")
    lines = _lines(log.read_text())  # every line is JSON
    failed = [line for line in lines if line.get("channel") == "webhook"]
    assert failed and failed[0]["incident_id"] == incident and failed[0]["level"] == "WARNING"
