"""Fixtures of the fault tests that restart or kill the session's private services."""

from __future__ import annotations

import pytest


@pytest.fixture
def services(private_services):  # type: ignore[no-untyped-def]
    """(cluster, broker): the session's own PostGIS cluster and Mosquitto broker."""
    if private_services is None:
        pytest.fail("fault tests that restart services need the private services "
                    "(unset KEYWATCH_DATABASE_URL / KEYWATCH_MQTT_URL)")
    return private_services
