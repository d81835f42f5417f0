"""MQTT credentials and ACL for the project's Mosquitto (issue 8).

Nobody connects anonymously. The platform's own clients (ingest worker, replay,
gateway, simulator, tests) use one service account, generated once and kept in the
broker directory under ``.keywatch/``; each registered terminal signs in as its
``device_id`` with a per-device secret derived from ``KEYWATCH_SECRET_KEY`` (so the
platform can hand it out again without storing it) and may only publish under
``kw/v1/dev/{its id}/#``, never subscribe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

log = logging.getLogger(__name__)

SERVICE_USER = "keywatch"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
ACCOUNT_FILE = "service_account.json"
_ITERATIONS = 101  # what mosquitto_passwd writes for its $7$ (PBKDF2-SHA512) hashes
# the terminals the registry knows: their accounts here, their slots in ingest.slots
_ACTIVE = "FROM vehicles WHERE status = 'active' AND device_id IS NOT NULL"
ACTIVE_DEVICES_SQL = f"SELECT device_id {_ACTIVE} ORDER BY device_id"
DEVICES_VERSION_SQL = (  # changes whenever the set of active devices does
    f"SELECT md5(coalesce(string_agg(device_id, ',' ORDER BY device_id), '')) {_ACTIVE}")


def service_account(directory: Path) -> tuple[str, str]:
    """The platform's broker account, made on first use (file mode 0600)."""
    path = directory / ACCOUNT_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        _write(path, json.dumps({"username": SERVICE_USER,
                                 "password": secrets.token_urlsafe(24)}))
    account = json.loads(path.read_text())
    return account["username"], account["password"]


def device_secret(secret_key: str, device_id: str) -> str:
    """A terminal's MQTT password: HMAC-SHA256 of its id under the platform's key."""
    digest = hmac.new(secret_key.encode(), f"mqtt-device:{device_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")[:32]


def password_line(username: str, password: str, *, salt: bytes | None = None) -> str:
    """One line of a Mosquitto 2 password file (as ``mosquitto_passwd`` would write)."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS, 64)
    return (f"{username}:$7${_ITERATIONS}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def acl_text(service_user: str = SERVICE_USER) -> str:
    # %u is the username: a terminal signed in as A can only write A's topics.
    return (f"user {service_user}\ntopic readwrite #\n\n"
            "pattern write kw/v1/dev/%u/#\n")


def write_files(directory: Path, devices: Iterable[tuple[str, str]] = ()) -> int:
    """(Re)writes the password and ACL files: the service account plus ``devices``
    (device_id, password). Returns the number of device accounts."""
    user, password = service_account(directory)
    lines = [password_line(user, password)]
    for device_id, secret in devices:
        if device_id != user:  # a terminal must never become the service account
            lines.append(password_line(device_id, secret))
    _write(directory / PASSWORD_FILE, "\n".join(lines) + "\n")
    _write(directory / ACL_FILE, acl_text(user))
    return len(lines) - 1


def ensure_files(directory: Path) -> None:
    """Files for a fresh broker; existing ones (with devices) are kept."""
    if not (directory / PASSWORD_FILE).exists() or not (directory / ACL_FILE).exists():
        write_files(directory)


def reload(directory: Path) -> bool:
    """SIGHUP the broker so it rereads the password and ACL files; False if not running."""
    pid_file = directory / "mosquitto.pid"
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False
    return True


def sync_from_registry(session, directory: Path, *, secret_key: str) -> int:  # type: ignore[no-untyped-def]
    """Accounts for every active vehicle's terminal; rewrite and reload. Call after
    devices change (vehicle create/update/delete/import)."""
    from sqlalchemy import text

    device_ids = session.scalars(text(ACTIVE_DEVICES_SQL))
    count = write_files(directory, ((d, device_secret(secret_key, d)) for d in device_ids))
    if not reload(directory):
        log.info("broker not running: %s device accounts written for its next start", count)
    return count


def with_credentials(url: str, username: str, password: str) -> str:
    """``mqtt://host:port`` → ``mqtt://user:pass@host:port`` (an existing user wins)."""
    parts = urlsplit(url)
    if parts.username or not parts.hostname:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _write(path: Path, content: str) -> None:
    """Atomically, readable by the owner only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(tmp, path)
