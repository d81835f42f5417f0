"""Accounts: created only by an admin (or the CLI); passwords hashed with argon2."""

from __future__ import annotations

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from keywatch.errors import Conflict, Invalid
from registry.models import Company, Officer, User

ROLES = ("admin", "supervisor", "officer", "inspector", "company")
_hasher = PasswordHash.recommended()
# Verifying against this when the user does not exist keeps timing uniform.
_DUMMY_HASH = _hasher.hash("keywatch-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(session: Session, *, username: str, password: str, role: str,
                company_code: str | None = None, officer_badge: str | None = None) -> User:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise Invalid("password must have at least 8 characters")
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
