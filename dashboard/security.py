"""Bearer tokens (PyJWT, HS256) and the current user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
COOKIE = "kw_token"
REFRESH_COOKIE = "kw_refresh"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the scoping layer needs it."""

    user_id: int
    username: str
    role: str
    company: str | None
    officer: str | None
    districts: frozenset[str]


def issue_token(*, secret: str, user_id: int, username: str, role: str, token_version: int,
                ttl_s: float, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    claims = {"sub": str(user_id), "name": username, "role": role, "ver": token_version,
              "iat": now, "exp": now + timedelta(seconds=ttl_s), "typ": "access"}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, *, secret: str) -> dict:
    """Claims of a valid token; raises ``jwt.InvalidTokenError`` otherwise.

    Only HS256 is accepted, so ``alg: none`` and key-confusion tokens fail.
    """
    return jwt.decode(token, secret, algorithms=[ALGORITHM],
                      options={"require": ["exp", "sub", "role", "ver"]})
