"""Resolve settings: explicit URLs win, else the private services under .keywatch/."""

from __future__ import annotations

import secrets

from ingest.broker_auth import service_account, with_credentials
from keywatch.services import Services
from keywatch.settings import DEV_SECRET, Settings


def load_settings(**overrides: object) -> Settings:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    services = Services(settings.home)
    updates: dict[str, str] = {}
    if not settings.database_url and services.state_file.exists():
        updates["database_url"] = services.database_url()
    if not settings.mqtt_url and services.state_file.exists():
        # the private broker refuses anonymous clients: use its service account
        account = service_account(settings.home / "mosquitto")
        updates["mqtt_url"] = with_credentials(services.mqtt_url(), *account)
    if settings.secret_key == DEV_SECRET and not settings.production:
        updates["secret_key"] = _local_secret(settings)
    return settings.model_copy(update=updates) if updates else settings


def _local_secret(settings: Settings) -> str:
    """A random per-installation secret under .keywatch/, so tokens survive restarts."""
    path = settings.home / "secret_key"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
