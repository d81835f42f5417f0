"""The broker's credentials and ACL on a real Mosquitto started here (tmp dir, free port):
no anonymous access, terminals publish only as themselves and subscribe to nothing,
the service account reads everything, and a registry change is picked up on SIGHUP."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.broker_auth import (
    device_secret,
    password_line,
    service_account,
    sync_from_registry,
    with_credentials,
    write_files,
)
from ingest.mqtt import BrokerAddress
from keywatch.db import make_sessionmaker
from keywatch.services import mosquitto_config

KEY = "broker-test-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    directory, port = tmp_path / "mosquitto", _free_port()
    directory.mkdir()
    conf = directory / "mosquitto.conf"
    conf.write_text(mosquitto_config(directory, port))
    write_files(directory, [(d, device_secret(KEY, d)) for d in ("dev-a", "dev-b")])
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    subprocess.run([binary, "-c", str(conf), "-d"], check=True)
    pid = None
    for _ in range(100):
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int((directory / "mosquitto.pid").read_text())
        with socket.socket() as sock:
            if pid and sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield directory, port
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


class Client:
    """A paho MQTT 5 client whose CONNACK, SUBACK and messages land in queues."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None):
        self.connack: queue.Queue = queue.Queue()
        self.suback: queue.Queue = queue.Queue()
        self.messages: queue.Queue = queue.Queue()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5,
                                  client_id=f"t-{username}-{time.monotonic_ns()}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.put(rc)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.suback.put(rcs)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        self.reason = self.connack.get(timeout=5)

    def subscribe(self, topic: str):  # type: ignore[no-untyped-def]
        self.client.subscribe(topic, qos=1)
        return self.suback.get(timeout=5)[0]

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextlib.contextmanager
def connected(port: int, username: str | None = None, password: str | None = None
              ) -> Iterator[Client]:
    client = Client(port, username, password)
    try:
        yield client
    finally:
        client.close()


def _service(directory: Path, port: int):  # type: ignore[no-untyped-def]
    return connected(port, *service_account(directory))


def test_anonymous_and_wrong_passwords_refused(broker):
    directory, port = broker
    for creds in ((None, None), ("dev-a", "wrong"), ("dev-a", device_secret("other", "dev-a")),
                  ("keywatch", "guess")):
        with connected(port, *creds) as client:
            assert client.reason.is_failure, creds
            assert client.reason.value in (0x86, 0x87), client.reason  # bad login / not auth


def test_service_account_receives_a_devices_own_messages(broker):
    directory, port = broker
    with _service(directory, port) as service, \
            connected(port, "dev-a", device_secret(KEY, "dev-a")) as device:
        assert not service.reason.is_failure and not device.reason.is_failure
        assert not service.subscribe("kw/v1/dev/+/+").is_failure
        device.publish("kw/v1/dev/dev-a/pos", b'{"ts": 0}')
        assert service.messages.get(timeout=5) == ("kw/v1/dev/dev-a/pos", b'{"ts": 0}')


def test_a_device_cannot_speak_for_another(broker):
    directory, port = broker
    with _service(directory, port) as service, \
            connected(port, "dev-a", device_secret(KEY, "dev-a")) as device:
        service.subscribe("#")
        device.publish("kw/v1/dev/dev-b/pos", b"forged")
        device.publish("kw/v1/other/topic", b"forged")
        device.publish("kw/v1/dev/dev-a/pos", b"mine")  # delivered in order: a fence
        assert service.messages.get(timeout=5) == ("kw/v1/dev/dev-a/pos", b"mine")
        assert service.messages.empty()


def test_a_device_cannot_subscribe(broker):
    directory, port = broker
    with _service(directory, port) as service, \
            connected(port, "dev-a", device_secret(KEY, "dev-a")) as device:
        for topic in ("#", "kw/v1/dev/+/+", "kw/v1/dev/dev-a/pos"):
            # Mosquitto 2.0 may grant the SUBACK and then filter each message by the
            # ACL's read rights (none for a terminal): what counts is that nothing arrives.
            device.subscribe(topic)
        service.publish("kw/v1/dev/dev-a/pos", b"x")
        service.publish("kw/v1/dev/dev-b/pos", b"y")
        time.sleep(0.3)
        assert device.messages.empty()


def test_registry_change_is_picked_up_on_sighup(broker, city):
    directory, port = broker
    with connected(port, "t-0001", device_secret(KEY, "t-0001")) as before:
        assert before.reason.is_failure  # not yet in the password file
    with make_sessionmaker(city)() as session:
        assert sync_from_registry(session, directory, secret_key=KEY) == 4
    time.sleep(0.3)
    with connected(port, "t-0001", device_secret(KEY, "t-0001")) as after:
        assert not after.reason.is_failure
    with connected(port, "dev-a", device_secret(KEY, "dev-a")) as removed:
        assert removed.reason.is_failure  # no longer registered


def test_urls_and_password_file_format(tmp_path):
    assert with_credentials("mqtt://127.0.0.1:1883", "kw", "p@ss/word") == \
        "mqtt://kw:p%40ss%2Fword@127.0.0.1:1883"
    assert with_credentials("mqtt://u:p@h:1", "kw", "x") == "mqtt://u:p@h:1"
    address = BrokerAddress.parse(with_credentials("mqtt://h:1", "kw", "p@ss/word"))
    assert (address.username, address.password) == ("kw", "p@ss/word")
    line = password_line("dev-a", "secret", salt=b"0" * 12)
    assert line.startswith("dev-a:$7$101$MDAwMDAwMDAwMDAw$") and len(line.split("$")) == 5
    assert device_secret(KEY, "dev-a") != device_secret(KEY, "dev-b")
    assert service_account(tmp_path) == service_account(tmp_path)
    assert (tmp_path / "service_account.json").stat().st_mode & 0o777 == 0o600


def test_tls_listener_is_configurable(tmp_path):
    from keywatch.services import BrokerTls

    conf = mosquitto_config(tmp_path, 1883, tls=BrokerTls(8883, Path("/c.pem"), Path("/k.pem"),
                                                          Path("/ca.pem")))
    assert "listener 8883\ncertfile /c.pem\nkeyfile /k.pem\n" in conf
    assert "require_certificate true" in conf and "allow_anonymous false" in conf
    assert "listener 8883" not in mosquitto_config(tmp_path, 1883)
