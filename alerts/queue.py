"""Claiming and recording outbox rows (the dispatcher's database side).

Claim: due rows are taken with ``FOR UPDATE SKIP LOCKED`` (several dispatchers
may run) and marked ``sending`` with a lease, in their own committed
transaction, *before* anything is sent. A dispatcher killed after sending but
before recording leaves the row ``sending``; when the lease runs out it is
claimed again and resent with the same delivery id (``X-Keywatch-Delivery``,
e-mail ``Message-ID``, SMS ``ref``), so the receiver can drop the repeat.
Trade-off: at-least-once on the wire with an idempotency key, rather than
at-most-once (which could lose a notice); a receiver that ignores the key may
see a repeat, only for rows that were in flight at the crash.
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from alerts.channels.base import ChannelDisabled, DeliveryError
from alerts.metrics import DELIVERIES

INTERRUPTED = ("interrupted: the earlier send may have gone out; resent with the same "
               "X-Keywatch-Delivery key")
FOLDABLE_CHANNELS = ("sms", "email")

_CLAIM = text("""
WITH due AS (
    SELECT id, status AS was FROM deliveries
    WHERE status IN ('pending', 'sending') AND next_attempt_at <= :now
    ORDER BY next_attempt_at, id LIMIT :limit
    FOR UPDATE SKIP LOCKED)
UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1,
    next_attempt_at = :lease_until
FROM due WHERE d.id = due.id
RETURNING d.id, d.incident_id, d.purpose, d.recipient_kind, d.recipient, d.channel, d.attempts,
    due.was, (SELECT severity FROM incidents i WHERE i.id = d.incident_id) AS severity
""")
_RECENT = text("""
SELECT recipient, channel, count(*) FROM deliveries
WHERE recipient = ANY(:recipients) AND channel IN ('sms', 'email') AND purpose <> 'digest'
  AND recipient_kind <> 'company' AND id <> ALL(:claimed)
  AND (status = 'sending' OR (status = 'sent' AND sent_at >= :since))
GROUP BY recipient, channel
""")
_FOLD = text("UPDATE deliveries SET status = 'folded', attempts = attempts - 1,"
             " next_attempt_at = :window_end WHERE id = ANY(:ids)")
_ATTEMPT = text("INSERT INTO delivery_attempts (delivery_id, at, ok, error)"
                " VALUES (:id, :now, :ok, :error)")
_DONE = text("UPDATE deliveries SET status = :status, sent_at = :sent_at, last_error = :error,"
             " next_attempt_at = :next WHERE id = :id")
_TARGET = text("""
INSERT INTO delivery_targets AS t (channel, recipient, consecutive_failures, failing,
    last_error, last_success_at, last_failure_at)
VALUES (:channel, :recipient, CASE WHEN :ok THEN 0 ELSE 1 END, NOT :ok AND 1 >= :threshold,
    CASE WHEN :ok THEN NULL ELSE :error END, CASE WHEN :ok THEN :now END,
    CASE WHEN :ok THEN NULL ELSE :now END)
ON CONFLICT (channel, recipient) DO UPDATE SET
    consecutive_failures = CASE WHEN :ok THEN 0 ELSE t.consecutive_failures + 1 END,
    failing = CASE WHEN :ok THEN false ELSE t.consecutive_failures + 1 >= :threshold END,
    last_error = CASE WHEN :ok THEN t.last_error ELSE :error END,
    last_success_at = CASE WHEN :ok THEN :now ELSE t.last_success_at END,
    last_failure_at = CASE WHEN :ok THEN t.last_failure_at ELSE :now END
""")


@dataclass(frozen=True, slots=True)
class Policy:
    lease_s: float
    max_attempts: int  # 0: transient errors are retried until the delivery is confirmed
    backoff_s: float
    backoff_max_s: float
    failing_after: int
    digest_per_minute: int

    def retry_delay(self, attempts: int) -> float:
        return min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s)


def claim(session: Session, *, now: datetime, limit: int, policy: Policy) -> list[Any]:
    """Due rows, now ``sending``; bursts of info/warning to one officer are folded."""
    rows = list(session.execute(_CLAIM, {
        "now": now, "limit": limit, "lease_until": now + timedelta(seconds=policy.lease_s)}))
    for row in rows:
        if row.was == "sending":
            session.execute(_ATTEMPT, {"id": row.id, "now": now, "ok": False,
                                       "error": INTERRUPTED})
            DELIVERIES.labels(row.channel, "interrupted").inc()
    folded = _fold_bursts(session, rows, now=now, per_minute=policy.digest_per_minute)
    return [row for row in rows if row.id not in folded]


def _foldable(row: Any) -> bool:
    return (row.purpose == "incident" and row.recipient_kind != "company" and row.was == "pending"
            and row.channel in FOLDABLE_CHANNELS and row.severity in ("info", "warning"))


def _fold_bursts(session: Session, rows: list[Any], *, now: datetime,
                 per_minute: int) -> set[int]:
    candidates = [row for row in rows if _foldable(row)]
    if not candidates:
        return set()
    recent = Tally({(r, c): n for r, c, n in session.execute(_RECENT, {
        "recipients": sorted({row.recipient for row in candidates}),
        "claimed": [row.id for row in rows], "since": now - timedelta(minutes=1)})})
    for row in rows:  # urgent rows in this batch count against the window too
        if row.channel in FOLDABLE_CHANNELS and not _foldable(row):
            recent[(row.recipient, row.channel)] += 1
    folded = set()
    for row in candidates:
        key = (row.recipient, row.channel)
        if recent[key] >= per_minute:
            folded.add(row.id)
        recent[key] += 1
    if folded:
        session.execute(_FOLD, {"ids": sorted(folded), "window_end": now + timedelta(minutes=1)})
        for row in rows:
            if row.id in folded:
                DELIVERIES.labels(row.channel, "folded").inc()
    return folded


def record(session: Session, row: Any, error: DeliveryError | None, *, now: datetime,
           policy: Policy) -> str:
    """Write the attempt and the row's new state; returns the outcome for metrics."""
    ok = error is None
    message = None if ok else str(error)[:1000]
    session.execute(_ATTEMPT, {"id": row.id, "now": now, "ok": ok, "error": message})
    if ok:
        outcome, status, next_at = "sent", "sent", now
    elif isinstance(error, ChannelDisabled):  # the platform's gap, not the recipient's
        outcome, status = "skipped", "skipped"
        session.execute(_DONE, {"id": row.id, "status": status, "sent_at": None,
                                "error": message, "next": now})
        DELIVERIES.labels(row.channel, outcome).inc()
        return outcome
    elif error.permanent or (policy.max_attempts  # type: ignore[union-attr]
                             and row.attempts >= policy.max_attempts):
        outcome, status, next_at = "failed", "failed", now
    else:
        outcome, status = "retry", "pending"
        next_at = now + timedelta(seconds=policy.retry_delay(row.attempts))
    session.execute(_DONE, {"id": row.id, "status": status, "sent_at": now if ok else None,
                            "error": message, "next": next_at})
    session.execute(_TARGET, {"channel": row.channel, "recipient": row.recipient, "ok": ok,
                              "error": message, "now": now, "threshold": policy.failing_after})
    DELIVERIES.labels(row.channel, outcome).inc()
    return outcome
