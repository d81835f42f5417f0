"""Fixtures for the registry's API tests: the small test city, an API client, tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from keywatch.db import make_sessionmaker, transaction
from registry.accounts import create_user
from tests.city import PASSWORD, make_city


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    """Argon2 at its production cost takes ~0.5 s a hash on a shared CI core; these tests
    create six accounts each, and test scoping, not hashing."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    import registry.accounts

    fast = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    monkeypatch.setattr(registry.accounts, "_hasher", fast)


@pytest.fixture
def city(clean_db, engine):
    """tests.city plus an inspector account; muck trucks 鲁B00001 (QD-MUCK-01, t-0001) and
    鲁B00003 (QD-MUCK-01, t-0003); 鲁B00002 is a QD-OTHER-01 muck truck (t-0002)."""
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices={"t-0001": "muck_truck", "t-0002": "muck_truck",
                                    "t-0003": "muck_truck"})
        create_user(session, username="inspector", password=PASSWORD, role="inspector")
    return engine


@pytest.fixture(scope="module")
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def auth(client, city) -> Callable[[str], dict[str, str]]:
    """``auth("admin")`` → headers with that user's bearer token."""
    tokens: dict[str, str] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in tokens:
            response = client.post("/api/v1/auth/token",
                                   data={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            tokens[username] = response.json()["access_token"]
            client.cookies.clear()  # the bearer header, not the cookie, says who calls
        return {"Authorization": f"Bearer {tokens[username]}"}

    return headers
