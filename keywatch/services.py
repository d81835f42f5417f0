"""The private PostGIS cluster and Mosquitto broker under ``.keywatch/``.

``keywatch services up`` makes them (first time: ``initdb`` on a free port,
``CREATE EXTENSION postgis``; a broker config with persistence) and starts
them; a second ``up`` reuses what exists. PostgreSQL refuses to run as root,
so as root the cluster is owned and started by the ``postgres`` user.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class ServiceError(RuntimeError):
    """A private service could not be created or started; the message says why."""


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 200)]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServiceError(f"no free TCP port near {preferred}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pg_bin(name: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if not found:
        raise ServiceError(f"{name} not found: install postgresql-15 and postgresql-15-postgis-3")
    return found


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run cluster commands as ``postgres``."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ServiceError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc.stdout


# Applied on every start (ALTER SYSTEM, then a reload): what a city's write load needs
# beyond the defaults (docs/scale.md, "PostgreSQL under a city's load"). After each
# checkpoint begins, the first change to every page writes the whole page to the WAL;
# at 5,000 fixes/s that burst backed ingest up for tens of seconds.
PG_TUNING = {
    "wal_compression": "lz4",  # those full-page images, compressed
    "checkpoint_timeout": "15min",  # and their bursts three times rarer
    "log_autovacuum_min_duration": "10s",  # slow autovacuums in the log
}


@dataclass
class Services:
    """Paths and ports of one project's private services."""

    home: Path
    tls: BrokerTls | None = None  # the broker's optional TLS listener

    @property
    def state_file(self) -> Path:
        return self.home / "services.json"

    def _state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {}

    def _save(self, state: dict) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))

    # --- PostgreSQL -----------------------------------------------------------------
    def _pg_dir(self, state: dict) -> Path:
        """The cluster lives in .keywatch/pg unless ``postgres`` cannot reach it."""
        if "pg_dir" in state:
            return Path(state["pg_dir"])
        candidate = self.home / "pg"
        if os.geteuid() == 0:
            self.home.mkdir(parents=True, exist_ok=True)
            probe = subprocess.run(_as_postgres(["test", "-w", str(self.home)]))
            if probe.returncode != 0:
                os.chmod(self.home, 0o777)
                probe = subprocess.run(_as_postgres(["test", "-w", str(self.home)]))
            if probe.returncode != 0:
                # an ancestor is not traversable by postgres (e.g. a mktemp -d clone)
                key = hashlib.sha1(str(self.home.resolve()).encode()).hexdigest()[:12]
                candidate = Path("/var/tmp/keywatch") / key / "pg"
        return candidate

    def database_url(self) -> str:
        state = self._state()
        return f"postgresql+psycopg://postgres@127.0.0.1:{state['pg_port']}/keywatch"

    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self._state()['mqtt_port']}"

    def pg_up(self) -> None:
        state = self._state()
        pg_dir = self._pg_dir(state)
        state["pg_dir"] = str(pg_dir)
        if not (pg_dir / "PG_VERSION").exists():
            state["pg_port"] = _free_port(55432)
            self._initdb(pg_dir, state["pg_port"])
        self._save(state)
        port = state["pg_port"]
        if not _port_open(port):
            log_file = pg_dir.parent / "postgres.log"
            cmd = [_pg_bin("pg_ctl"), "-D", str(pg_dir), "-l", str(log_file), "-w", "-t", "60"]
            _run(_as_postgres([*cmd, "start"]), "starting PostgreSQL")
        self._ensure_database(port)

    def _initdb(self, pg_dir: Path, port: int) -> None:
        pg_dir.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(pg_dir.parent, "postgres")
        cmd = [_pg_bin("initdb"), "-D", str(pg_dir), "-U", "postgres", "--auth=trust",
               "-E", "UTF8", "--locale=C.UTF-8"]
        _run(_as_postgres(cmd), "initdb")
        conf = pg_dir / "postgresql.conf"
        extra = (
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{pg_dir}'\n"
            "max_connections = 200\nshared_buffers = 512MB\nsynchronous_commit = on\n"
            "wal_level = replica\nmax_wal_size = 4GB\n"
        )
        if os.geteuid() == 0:
            _run(_as_postgres(["sh", "-c", f"cat >> {conf} <<'EOF'\n{extra}EOF"]), "configure")
        else:
            conf.write_text(conf.read_text() + extra)

    def _ensure_database(self, port: int) -> None:
        psql = [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-tAc"]
        for name, value in PG_TUNING.items():  # also on clusters made before a setting was
            _run([*psql, f"ALTER SYSTEM SET {name} = '{value}'"], f"setting {name}")
        _run([*psql, "SELECT pg_reload_conf()"], "reloading PostgreSQL's settings")
        exists = _run([*psql, "SELECT 1 FROM pg_database WHERE datname='keywatch'"], "psql")
        if exists.strip() != "1":
            _run([*psql, "CREATE DATABASE keywatch"], "creating database keywatch")
        _run(psql[:-1] + ["-d", "keywatch", "-tAc", "CREATE EXTENSION IF NOT EXISTS postgis"],
             "CREATE EXTENSION postgis (install postgresql-15-postgis-3)")

    def pg_down(self) -> None:
        state = self._state()
        if "pg_dir" in state and _port_open(state.get("pg_port", 0)):
            cmd = [_pg_bin("pg_ctl"), "-D", state["pg_dir"], "-m", "fast", "-w", "stop"]
            _run(_as_postgres(cmd), "stopping PostgreSQL")

    # --- Mosquitto ------------------------------------------------------------------
    def mqtt_up(self) -> None:
        state = self._state()
        directory = self.home / "mosquitto"
        directory.mkdir(parents=True, exist_ok=True)
        if "mqtt_port" not in state:
            state["mqtt_port"] = _free_port(51883)
            self._save(state)
        conf = directory / "mosquitto.conf"
        wanted = mosquitto_config(directory, state["mqtt_port"], tls=self.tls)
        changed = not conf.exists() or conf.read_text() != wanted
        conf.write_text(wanted)
        if _port_open(state["mqtt_port"]):
            if not changed:
                return
            # e.g. a broker started before anonymous access was turned off
            log.info("Mosquitto's configuration changed: restarting it")
            self.mqtt_down()
            for _ in range(50):
                if not _port_open(state["mqtt_port"]):
                    break
                time.sleep(0.1)
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise ServiceError("mosquitto not found: install the mosquitto package")
        _run([binary, "-c", str(conf), "-d"], "starting Mosquitto")
        ports = [state["mqtt_port"], *([self.tls.port] if self.tls else [])]
        for _ in range(100):  # every listener, the TLS one included, before returning
            if all(_port_open(port) for port in ports):
                return
            time.sleep(0.1)
        raise ServiceError(f"Mosquitto did not open ports {ports}; see {directory}")

    def mqtt_down(self, timeout_s: float = 30.0) -> None:
        """Stop gracefully and wait: Mosquitto writes its persistence file on exit."""
        pid_file = self.home / "mosquitto" / "mosquitto.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 15)
        except (ProcessLookupError, ValueError):
            pid_file.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise ServiceError(f"Mosquitto (pid {pid}) did not stop within {timeout_s:.0f} s")
        pid_file.unlink(missing_ok=True)

    def up(self) -> tuple[str, str]:
        self.pg_up()
        self.mqtt_up()
        return self.database_url(), self.mqtt_url()

    def down(self) -> None:
        self.mqtt_down()
        self.pg_down()

    def status(self) -> dict[str, str]:
        state = self._state()
        if not state:
            return {"postgres": "not created", "mosquitto": "not created"}
        pg = "running" if _port_open(state.get("pg_port", 0)) else "stopped"
        mq = "running" if _port_open(state.get("mqtt_port", 0)) else "stopped"
        return {
            "postgres": f"{pg} {self.database_url() if 'pg_port' in state else ''}".strip(),
            "mosquitto": f"{mq} {self.mqtt_url() if 'mqtt_port' in state else ''}".strip(),
        }


@dataclass(frozen=True)
class BrokerTls:
    """A TLS listener for terminals (KEYWATCH_MQTT_TLS_*); off unless configured."""

    port: int
    certfile: Path
    keyfile: Path
    cafile: Path | None = None  # when set, clients must present a certificate it signed


def mosquitto_config(directory: Path, port: int, *, tls: BrokerTls | None = None) -> str:
    """Persistent sessions, and queues deep enough for a 1,000,000-fix backlog.

    No anonymous access: the service account and the terminals' accounts are in
    ``passwd``, what each may do in ``acl`` (ingest.broker_auth, which rewrites both
    from the registry and reloads the broker with SIGHUP).
    """
    from ingest.broker_auth import ACL_FILE, PASSWORD_FILE, ensure_files

    ensure_files(directory)
    listeners = f"listener {port} 127.0.0.1\n"
    if tls is not None:
        listeners += (f"listener {tls.port}\ncertfile {tls.certfile}\nkeyfile {tls.keyfile}\n"
                      "tls_version tlsv1.2\n")
        if tls.cafile:
            listeners += f"cafile {tls.cafile}\nrequire_certificate true\n"
    return (
        listeners
        + "allow_anonymous false\n"
        f"password_file {directory / PASSWORD_FILE}\n"
        f"acl_file {directory / ACL_FILE}\n"
        "user root\n"
        "persistence true\n"
        f"persistence_location {directory}/\n"
        "autosave_interval 30\n"
        f"pid_file {directory}/mosquitto.pid\n"
        f"log_dest file {directory}/mosquitto.log\n"
        # = the worker's receive maximum (ingest.mqtt): a backlog drains in full batches
        "max_inflight_messages 65535\n"
        "max_queued_messages 2000000\n"
        "max_queued_bytes 0\n"
        "message_size_limit 11000000\n"
        "persistent_client_expiration 14d\n"
        "set_tcp_nodelay true\n"
    )


def broker_tls(settings: object) -> BrokerTls | None:
    """The TLS listener from ``KEYWATCH_MQTT_TLS_*``, or None when not configured."""
    port = getattr(settings, "mqtt_tls_port", 0)
    certfile, keyfile = getattr(settings, "mqtt_tls_certfile", None), getattr(
        settings, "mqtt_tls_keyfile", None)
    if not port:
        return None
    if not certfile or not keyfile:
        raise ServiceError("KEYWATCH_MQTT_TLS_PORT needs KEYWATCH_MQTT_TLS_CERTFILE and "
                           "KEYWATCH_MQTT_TLS_KEYFILE")
    return BrokerTls(port, Path(certfile), Path(keyfile),
                     Path(settings.mqtt_tls_cafile) if settings.mqtt_tls_cafile else None)  # type: ignore[attr-defined]
