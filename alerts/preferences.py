"""Per-recipient channel preferences (Officer.preferences JSONB):

    {"channels": {"info": ["live"], "serious": ["live", "sms", "email"]},
     "quiet_hours": {"start": "22:00", "end": "07:00"}}

Without preferences an officer gets ``live`` always, plus ``sms`` for serious
and critical incidents when a phone number is on file. During quiet hours an
``info`` incident is shown live only (no SMS or e-mail).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.roster import in_window

CHANNELS = ("live", "webhook", "email", "sms")
URGENT = ("serious", "critical")


def default_channels(severity: str, phone: str | None) -> list[str]:
    return ["live", "sms"] if severity in URGENT and phone else ["live"]


def officer_channels(*, preferences: dict[str, Any] | None, phone: str | None,
                     severity: str, local: datetime) -> list[str]:
    prefs = preferences or {}
    chosen = (prefs.get("channels") or {}).get(severity)
    channels = ([c for c in chosen if c in CHANNELS] if isinstance(chosen, list)
                else default_channels(severity, phone))
    quiet = prefs.get("quiet_hours")
    if severity == "info" and isinstance(quiet, dict) and _quiet(quiet, local):
        channels = [c for c in channels if c == "live"]
    return list(dict.fromkeys(channels))


def _quiet(quiet: dict[str, Any], local: datetime) -> bool:
    try:
        return in_window(quiet["start"], quiet["end"], local)
    except (KeyError, TypeError, ValueError):
        return False


def company_channels(*, webhook_url: str | None, email: str | None, sms: str | None
                     ) -> list[str]:
    """The portal always (GET /api/v1/notices), plus every channel the company registered."""
    return ["portal"] + [name for name, address in
                         (("webhook", webhook_url), ("email", email), ("sms", sms)) if address]
