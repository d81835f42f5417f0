"""Keep the private broker's terminal accounts in step with the registry.

Only for the private Mosquitto under ``.keywatch/`` (an operator's own broker
manages its own accounts): every ``every_s`` the active device ids are hashed
and, when they changed, the password/ACL files are rewritten and Mosquitto
reloaded (``ingest.broker_auth.sync_from_registry``), and ``on_change`` hooks run
(an ingest worker in the same process subscribes its slots to the new devices).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ingest.broker_auth import DEVICES_VERSION_SQL, sync_from_registry
from keywatch.db import make_engine, make_sessionmaker
from keywatch.settings import Settings

log = logging.getLogger(__name__)
_DEVICES = text(DEVICES_VERSION_SQL)


class BrokerAccounts:
    def __init__(self, settings: Settings, every_s: float = 30.0) -> None:
        self.directory = settings.home / "mosquitto"
        self.secret_key = settings.secret_key
        self.sessions = make_sessionmaker(make_engine(settings.database_url, pool_size=1))
        self.every_s = every_s
        self.stopping = threading.Event()
        self._seen: str | None = None
        self.on_change: list[Callable[[], None]] = []

    @property
    def applies(self) -> bool:
        return (self.directory / "mosquitto.conf").exists()

    def sync(self) -> int | None:
        """Rewrite and reload when the registry's devices changed; accounts written."""
        with self.sessions() as session:
            version = session.execute(_DEVICES).scalar_one()
            if version == self._seen:
                return None
            written = sync_from_registry(session, self.directory, secret_key=self.secret_key)
        self._seen = version
        log.info("broker accounts: %d terminals", written)
        for hook in self.on_change:
            hook()
        return written

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.sync()
            except OperationalError as exc:
                log.error("broker accounts: database unavailable: %s", exc.__class__.__name__)
            self.stopping.wait(self.every_s)

    def stop(self) -> None:
        self.stopping.set()
