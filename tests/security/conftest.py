"""The test city behind a real app: tokens per user, cheap argon2 (scoping, not hashing,
is under test here)."""

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
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    import registry.accounts

    fast = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    monkeypatch.setattr(registry.accounts, "_hasher", fast)


@pytest.fixture
def city(clean_db, engine):
    """tests.city plus an inspector and a supervisor; 鲁B00001/鲁B00003 belong to
    QD-MUCK-01 (user ``muck``), 鲁B00002/鲁B00004 to QD-OTHER-01 (user ``other``)."""
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices={"t-0001": "muck_truck", "t-0002": "muck_truck",
                                    "t-0003": "muck_truck", "t-0004": "freight"})
        create_user(session, username="inspector", password=PASSWORD, role="inspector")
        create_user(session, username="super", password=PASSWORD, role="supervisor",
                    officer_badge="S37020201")
    return engine


@pytest.fixture(scope="module")
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token",
                           data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()  # the bearer header, not the cookie, says who calls
    return response.json()


@pytest.fixture
def auth(client, city) -> Callable[[str], dict[str, str]]:
    """``auth("admin")`` → headers with that user's bearer token."""
    tokens: dict[str, str] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in tokens:
            tokens[username] = sign_in(client, username)["access_token"]
        return {"Authorization": f"Bearer {tokens[username]}"}

    return headers
