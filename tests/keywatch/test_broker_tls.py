"""The private broker's optional TLS listener (KEYWATCH_MQTT_TLS_*) really speaks TLS."""

from __future__ import annotations

import socket
import ssl
import subprocess

import pytest

from keywatch.services import BrokerTls, ServiceError, Services, _free_port, broker_tls
from keywatch.settings import Settings


def test_tls_listener(tmp_path):
    cert, key = tmp_path / "broker.crt", tmp_path / "broker.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = _free_port(58883)
    services = Services(tmp_path / "home", tls=BrokerTls(port, cert, key))
    services.mqtt_up()
    try:
        context = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        services.mqtt_down()


def test_tls_settings_need_certificate_and_key():
    assert broker_tls(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    with pytest.raises(ServiceError, match="CERTFILE"):
        broker_tls(Settings(_env_file=None, mqtt_tls_port=8883))  # type: ignore[call-arg]
