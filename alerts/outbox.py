"""The transactional outbox: delivery rows written in the incident's transaction,
sent later by the dispatcher. The unique index (incident, purpose, recipient,
channel) means none is sent twice for the same incident and recipient.

``live`` and ``portal`` rows are written already ``sent``: the live SSE hub pushes
the incident when the NOTIFY below commits (with this very transaction), and the
portal is ``GET /api/v1/notices`` — nothing is left for the dispatcher to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from alerts.preferences import company_channels, officer_channels
from alerts.routing import Route

NOTIFY_CHANNEL = "keywatch_outbox"
DONE_AT_COMMIT = ("live", "portal")

_INSERT = text("""
INSERT INTO deliveries (incident_id, purpose, recipient_kind, recipient, channel, status,
                        attempts, next_attempt_at, last_error, sent_at)
VALUES (:incident_id, :purpose, :kind, :recipient, :channel, :status, 0, :now, :error, :sent_at)
ON CONFLICT DO NOTHING
""")
_OFFICERS = text("SELECT badge, phone, preferences, active FROM officers"
                 " WHERE badge = ANY(:badges)")
# in the order given: PostgreSQL delivers one transaction's notifications in order
_NOTIFY = text("SELECT pg_notify(:c, id) FROM unnest(CAST(:ids AS text[]))"
               " WITH ORDINALITY AS n(id, k) ORDER BY k")
_COMPANY = text("SELECT webhook_url, email, sms, active FROM companies WHERE code = :code")


class Pending:
    """The writes of one transaction that nothing in it reads back -- incident
    transitions, company notices, deliveries, NOTIFYs -- sent together at ``flush``
    (one ``executemany`` per statement, which psycopg pipelines) instead of a round
    trip each; and the reference rows they need (officers, companies, rosters), read
    once per transaction. A batch that opens 200 incidents made ~2,000 round trips
    before; most of its time was waiting on them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._writes: dict[Any, list[dict[str, Any]]] = {}
        self._keys: set[tuple] = set()  # incidents with updates not yet sent
        self._notify: dict[str, None] = {}
        self._cache: dict[tuple, Any] = {}

    def add(self, statement: Any, params: dict[str, Any], *, key: tuple | None = None) -> None:
        """Queue one write; ``key`` names the incident episode it changes, so that a
        later statement reading that episode can ``flush_for`` it first."""
        self._writes.setdefault(statement, []).append(params)
        if key is not None:
            self._keys.add(key)

    def notify(self, incident_id: int) -> None:
        """Wake the dispatcher and the live hubs once this transaction commits."""
        self._notify[str(incident_id)] = None

    def cached(self, key: tuple, load: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def flush_for(self, key: tuple) -> None:
        if key in self._keys:
            self.flush()

    def flush(self) -> None:
        writes, self._writes, self._keys = self._writes, {}, set()
        for statement, rows in writes.items():
            self.session.execute(statement, rows)
        if self._notify:
            self.session.execute(_NOTIFY, {"c": NOTIFY_CHANNEL, "ids": list(self._notify)})
            self._notify = {}


@contextmanager
def pending(session: Session) -> Iterator[Pending]:
    """Writes queued in the block, sent at its end (not when it raises: the caller's
    transaction is being rolled back anyway)."""
    queue = Pending(session)
    yield queue
    queue.flush()


def add_delivery(pending: Pending, *, incident_id: int, purpose: str, kind: str,
                 recipient: str, channel: str, now: datetime, error: str | None = None) -> None:
    status = "skipped" if error else "sent" if channel in DONE_AT_COMMIT else "pending"
    pending.add(_INSERT, {
        "incident_id": incident_id, "purpose": purpose, "kind": kind, "recipient": recipient,
        "channel": channel, "status": status, "now": now, "error": error,
        "sent_at": now if status == "sent" else None})


def officer_deliveries(pending: Pending, *, incident_id: int, purpose: str,
                       recipients: list[tuple[str, str]], severity: str, local: datetime,
                       now: datetime) -> None:
    """One row per (recipient, preferred channel); a recipient with none is recorded too."""
    badges = tuple(sorted({badge for _, badge in recipients}))
    found = pending.cached(("officers", badges), lambda: {
        r.badge: r for r in pending.session.execute(_OFFICERS, {"badges": list(badges)})})
    for kind, badge in recipients:
        officer = found.get(badge)
        common: dict[str, Any] = {"incident_id": incident_id, "purpose": purpose,
                                  "kind": kind, "recipient": badge, "now": now}
        if officer is None or not officer.active:
            add_delivery(pending, channel="none", error=f"officer {badge} is unknown or inactive",
                         **common)
            continue
        channels = officer_channels(preferences=officer.preferences, phone=officer.phone,
                                    severity=severity, local=local)
        if not channels:
            add_delivery(pending, channel="none", error=f"officer {badge} has no channel for "
                         f"{severity} incidents", **common)
        for channel in channels:
            add_delivery(pending, channel=channel, **common)


def company_deliveries(pending: Pending, *, incident_id: int, company: str,
                       now: datetime) -> None:
    row = pending.cached(("company", company), lambda: pending.session.execute(
        _COMPANY, {"code": company}).one_or_none())
    if row is None or not row.active:
        return
    for channel in company_channels(webhook_url=row.webhook_url, email=row.email, sms=row.sms):
        add_delivery(pending, incident_id=incident_id, purpose="notice", kind="company",
                     recipient=company, channel=channel, now=now)


def enqueue_for_incident(pending: Pending, *, incident_id: int, severity: str, route: Route,
                         company: str | None, local: datetime, now: datetime) -> None:
    """The district's (and the vehicle's) officer; the supervisor at once for ``critical``;
    the company's notice on every channel it registered."""
    recipients = [("officer", badge) for badge in route.officers()]
    if route.supervisor and severity == "critical" and route.supervisor not in route.officers():
        recipients.append(("supervisor", route.supervisor))
    if recipients:
        officer_deliveries(pending, incident_id=incident_id, purpose="incident",
                           recipients=recipients, severity=severity, local=local, now=now)
    if company:
        company_deliveries(pending, incident_id=incident_id, company=company, now=now)
    pending.notify(incident_id)
