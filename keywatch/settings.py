"""Settings, one small pydantic-settings class per concern (prefix ``KEYWATCH_``).

Nothing reads the environment at import time: callers build ``Settings()`` and
pass it in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: object) -> float:
    """Seconds from ``90``, ``"90"``, ``"15m"``, ``"7d"`` (contract §1)."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use seconds or a number with s, m, h or d)")
    number, unit = match.groups()
    return float(number) * _UNITS[unit or "s"]


Duration = Annotated[float, BeforeValidator(parse_duration)]

DEV_SECRET = "dev-insecure-secret-change-me"
_COMMON = {"env_prefix": "KEYWATCH_", "env_file": ".env", "extra": "ignore"}


class LogSettings(BaseSettings):
    """How a process logs (keywatch.logs): read before anything else is set up."""

    model_config = SettingsConfigDict(**_COMMON)

    log_format: Literal["text", "json"] = "text"  # json: one object a line, with context ids


class Settings(BaseSettings):
    """Everything a Keywatch process needs; see README "Configuration"."""

    model_config = SettingsConfigDict(**_COMMON)

    database_url: str = ""
    mqtt_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    jt808_port: int = 7808
    metrics_port: int = 9108  # /metrics of a part run without the web part (0: none)
    tz: str = "Asia/Shanghai"
    max_fix_age: Duration = 7 * 86400
    max_future: Duration = 300
    max_payload_bytes: int = 1_048_576
    max_batch_fixes: int = 10_000
    home: Path = Field(default_factory=lambda: Path.cwd() / ".keywatch")
    secret_key: str = DEV_SECRET
    production: bool = False
    metric_crs: str = "EPSG:4549"  # CGCS2000 3-degree GK, CM 120E
    # a backlog drains in batches this big: more fixes per vehicle per batch amortise the
    # per-vehicle cost of the rules (bench/ingest: 5,000 → 20,000 took 4,300 → 6,500 fixes/s;
    # 2026-11-28, 20,000 → 40,000: 12,003 → 14,937-16,125)
    batch_size: int = 40_000
    # a batch waits at most this long after its first message: bench/alert_latency at
    # 5,000 fixes/s gives SSE p99 336 ms with 100, 817 ms with 200
    batch_ms: int = 100
    ack_timeouts: str = "serious=10m,critical=10m"
    retention_days: int = 90
    tile_url: str = ""
    mqtt_client_id: str = "keywatch-ingest"
    mqtt_session_expiry: Duration = 14 * 86400
    rules_file: Path | None = None
    # Monthly muck-truck hazard inspections (registry.inspections): the day of the month
    # by whose end (local time) the month's inspection is due; 0 means the month's last day.
    inspection_deadline_day: int = Field(default=0, ge=0, le=31)
    # Largest bulk-import or inspection upload accepted (bytes); larger ones get a 413.
    import_max_bytes: int = 20 * 1024 * 1024
    # --- alerts (issue 6): delivery channels, retries, noise control ---
    webhook_timeout: Duration = 5  # per request; redirects are never followed
    webhook_allow_private: bool = False  # SSRF guard off for loopback/private targets (tests)
    smtp_host: str = ""  # e-mail channel off when empty
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_from: str = "keywatch@localhost"
    smtp_timeout: Duration = 10
    sms_gateway_url: str = ""  # SMS channel off when empty; receives the template below
    sms_template: str = '{"to": "$phone", "text": "$text", "ref": "$delivery"}'
    sms_timeout: Duration = 5
    # contract §6: retried until confirmed (0: no limit; backoff capped below); a
    # permanent error (refused redirect, private address, no address) fails at once
    delivery_max_attempts: int = 0
    delivery_backoff: Duration = 5  # first retry delay; doubles per attempt
    delivery_backoff_max: Duration = 1800
    delivery_lease: Duration = 60  # a 'sending' row older than this is re-sent (same key)
    delivery_failing_after: int = 3  # consecutive errors before a target is marked failing
    digest_per_minute: int = 5  # info/warning beyond this per officer+channel → digest
    incident_cooldown: Duration = 300  # a repeat within this updates the last incident
    # --- security (issue 8): tokens, sign-in throttling, the broker's credentials ---
    access_token_ttl: Duration = 900  # access tokens are short-lived; refresh to renew
    refresh_token_ttl: Duration = 14 * 86400
    login_max_failures: int = 5  # per username + address within login_window → lockout
    login_window: Duration = 900
    login_lockout: Duration = 900
    mqtt_tls_port: int = 0  # the private broker's TLS listener (0: none)
    mqtt_tls_certfile: Path | None = None
    mqtt_tls_keyfile: Path | None = None
    mqtt_tls_cafile: Path | None = None  # set to require client certificates too
    # --- reliability and observability (issue 9) ---
    gap_scan_interval: Duration = 300  # per-device seq-gap scan window (ingest.gaps); 0: off
    gap_scan_delay: Duration = 120  # a window is scanned once this old (late fixes fill gaps)
    ingest_stale_after: Duration = 30  # /readyz: an ingest worker silent this long is stuck
    # several ingest workers on one Mosquitto (ingest.slots, docs/scale.md): devices in this
    # many slots, each a persistent session claimed by one worker; 0: one session (main)
    ingest_slots: int = Field(default=0, ge=0, le=1024)
    ingest_claim_every: Duration = 2  # how often a worker claims free or gives back slots
    ingest_resync_every: Duration = 5  # how often slots follow the registry's devices
    # the main session's filter; on an EMQX cluster a shared subscription, e.g.
    # $share/ingest/kw/v1/dev/+/+ with one KEYWATCH_MQTT_CLIENT_ID per worker (docs/scale.md)
    ingest_topic: str = "kw/v1/dev/+/+"

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.production and (self.secret_key == DEV_SECRET or len(self.secret_key) < 32):
            raise ValueError("KEYWATCH_PRODUCTION is set: KEYWATCH_SECRET_KEY must be a "
                             "random string of at least 32 characters")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def ack_timeout_for(self, severity: str) -> float | None:
        """Seconds before an unacknowledged incident of ``severity`` escalates."""
        for part in self.ack_timeouts.split(","):
            name, _, value = part.partition("=")
            if name.strip() == severity and value.strip():
                return parse_duration(value.strip())
        return None
