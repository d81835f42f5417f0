"""Accounts: created only by an admin (or the CLI); passwords hashed with argon2."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from keywatch.errors import Conflict, Invalid, Unauthorized
from registry.models import Company, Officer, RefreshToken, User

ROLES = ("admin", "supervisor", "officer", "inspector", "company")
_hasher = PasswordHash.recommended()
# Verifying against this when the user does not exist keeps timing uniform.
_DUMMY_HASH = _hasher.hash("keywatch-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise Invalid("password must have at least 8 characters")


def create_user(session: Session, *, username: str, password: str, role: str,
                company_code: str | None = None, officer_badge: str | None = None) -> User:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    _check_password(password)
    if role == "company" and not company_code:
        raise Invalid("a company account needs --company")
    if role in ("officer", "supervisor") and not officer_badge:
        raise Invalid(f"a {role} account needs --officer (badge)")
    if company_code and session.get(Company, company_code) is None:
        raise Invalid(f"unknown company {company_code!r}")
    if officer_badge and session.get(Officer, officer_badge) is None:
        raise Invalid(f"unknown officer badge {officer_badge!r}")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role,
                company_code=company_code, officer_badge=officer_badge)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active))
    if user is None:
        _hasher.verify(password, _DUMMY_HASH)
        return None
    return user if _hasher.verify(password, user.password_hash) else None


def change_password(session: Session, user: User, *, current: str, new: str) -> None:
    """Sets a new password and revokes every token the user holds (access and refresh)."""
    if not _hasher.verify(current, user.password_hash):
        raise Unauthorized("the current password is wrong")
    _check_password(new)
    user.password_hash = hash_password(new)
    revoke_all(session, user)


def revoke_all(session: Session, user: User) -> None:
    """Bumps ``token_version`` (access tokens die) and revokes all refresh tokens."""
    user.token_version += 1
    session.execute(update(RefreshToken)
                    .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=datetime.now(UTC)))
    session.flush()


# --- refresh tokens: opaque, stored hashed, rotated on every use ---

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh(session: Session, user: User, *, ttl_s: float,
                  family: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    session.add(RefreshToken(user_id=user.id, token_hash=_digest(token),
                             family=family or secrets.token_hex(16),
                             expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s)))
    session.flush()
    return token


def rotate_refresh(session: Session, token: str, *, ttl_s: float) -> tuple[User, str]:
    """The user and a new refresh token; the presented one is spent. Presenting a spent
    token again means it was stolen: its whole family is revoked."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _digest(token))
                         .with_for_update())
    now = datetime.now(UTC)
    if row is None:
        raise Unauthorized("unknown refresh token; sign in again")
    if row.revoked_at is not None:
        session.execute(update(RefreshToken)
                        .where(RefreshToken.family == row.family,
                               RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now))
        session.flush()
        raise Unauthorized("refresh token already used or revoked; sign in again")
    user = session.get(User, row.user_id)
    if row.expires_at <= now or user is None or not user.active:
        raise Unauthorized("refresh token expired; sign in again")
    row.revoked_at = now
    return user, issue_refresh(session, user, ttl_s=ttl_s, family=row.family)


def revoke_refresh(session: Session, token: str) -> None:
    session.execute(update(RefreshToken)
                    .where(RefreshToken.token_hash == _digest(token),
                           RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=datetime.now(UTC)))
