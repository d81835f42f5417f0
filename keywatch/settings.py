"""Settings, one small pydantic-settings class per concern (prefix ``KEYWATCH_``).

Nothing reads the environment at import time: callers build ``Settings()`` and
pass it in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field
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

_COMMON = {"env_prefix": "KEYWATCH_", "env_file": ".env", "extra": "ignore"}


class Settings(BaseSettings):
    """Everything a Keywatch process needs; see README "Configuration"."""

    model_config = SettingsConfigDict(**_COMMON)

    database_url: str = ""
    mqtt_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    jt808_port: int = 7808
    tz: str = "Asia/Shanghai"
    max_fix_age: Duration = 7 * 86400
    max_future: Duration = 300
    max_payload_bytes: int = 1_048_576
    max_batch_fixes: int = 10_000
    home: Path = Field(default_factory=lambda: Path.cwd() / ".keywatch")
    secret_key: str = "dev-insecure-secret-change-me"
    token_ttl: Duration = 3600
    production: bool = False
    metric_crs: str = "EPSG:4549"  # CGCS2000 3-degree GK, CM 120E
    batch_size: int = 2000
    batch_ms: int = 200
    ack_timeouts: str = "serious=10m,critical=10m"
    retention_days: int = 90
    tile_url: str = ""
    mqtt_client_id: str = "keywatch-ingest"
    mqtt_session_expiry: Duration = 14 * 86400
    rules_file: Path | None = None

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
