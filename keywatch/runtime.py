"""Resolve settings: explicit URLs win, else the private services under .keywatch/."""

from __future__ import annotations

from keywatch.services import Services
from keywatch.settings import Settings


def load_settings(**overrides: object) -> Settings:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    services = Services(settings.home)
    updates: dict[str, str] = {}
    if not settings.database_url and services.state_file.exists():
        updates["database_url"] = services.database_url()
    if not settings.mqtt_url and services.state_file.exists():
        updates["mqtt_url"] = services.mqtt_url()
    return settings.model_copy(update=updates) if updates else settings
