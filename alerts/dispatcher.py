"""The dispatcher (``keywatch run --only dispatch``): clock-driven alert work.

Today it runs escalation on a timer. Channel delivery (webhook, e-mail, SMS)
with retries is the alert-routing issue's work and plugs in here.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from alerts.escalation import escalate_due
from keywatch.db import make_sessionmaker, transaction
from keywatch.settings import Settings

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, engine: Engine, settings: Settings, interval_s: float = 5.0) -> None:
        self.sessions = make_sessionmaker(engine)
        self.timeouts = {s: t for s in ("info", "warning", "serious", "critical")
                         if (t := settings.ack_timeout_for(s)) is not None}
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def tick(self, now: datetime) -> list[int]:
        with transaction(self.sessions) as session:
            escalated = escalate_due(session, now=now, timeouts_s=self.timeouts)
        for incident_id in escalated:
            log.info("incident %s escalated to the supervisor", incident_id)
        return escalated

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            try:
                self.tick(datetime.now(UTC))
            except OperationalError as exc:
                log.error("dispatcher: database unavailable: %s", exc.__class__.__name__)

    def stop(self) -> None:
        self.stopping.set()
