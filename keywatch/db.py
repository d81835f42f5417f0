"""The database engine, sessions and the declarative base every model shares.

Row-level security (migration 0500) keys company-scoped tables on the setting
``keywatch.scope``: ``system`` or ``staff`` see every row, ``company:CODE`` that
company's rows, anything else (unset, empty) none. Engines made here are the owner's,
for the system processes, and carry ``system``; a web request's session is narrowed
with ``set_scope`` to the non-owner ``keywatch_app`` role and the caller's scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from sqlalchemy import MetaData, create_engine, event, make_url, select
from sqlalchemy import func as sql_func
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker

APP_ROLE = "keywatch_app"
SCOPE_SETTING = "keywatch.scope"
SYSTEM = "system"  # ingest, dispatcher, gateway, command line, migrations
STAFF = "staff"  # police accounts: admin, supervisor, officer, inspector
NO_SCOPE = ""  # sees no row of a company-scoped table
_SYSTEM_OPTIONS = f"-c {SCOPE_SETTING}={SYSTEM}"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def make_engine(url: str, **kwargs: object) -> Engine:
    if not url:
        raise RuntimeError(
            "KEYWATCH_DATABASE_URL is not set: run `keywatch services up` or set it"
        )
    given = make_url(url).query.get("options")
    options: dict = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20,
                     "connect_args": {"options": _system_options(str(given or ""))}}
    options.update(kwargs)
    return create_engine(url, **options)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def psycopg_url(url: str) -> str:
    """The plain libpq URL (for psycopg.connect / LISTEN) of a SQLAlchemy URL; a system
    process's, like ``make_engine``'s."""
    return _with_system_scope(url).replace("postgresql+psycopg://", "postgresql://", 1)


def company_scope(code: str) -> str:
    return f"company:{code}"


def set_scope(session: Session, scope: str) -> None:
    """Every transaction of ``session`` (this one, if begun, and each after a commit)
    runs as ``APP_ROLE`` with ``keywatch.scope`` = ``scope``. Both are transaction-local,
    so a pooled connection never carries them to its next user."""
    session.info[SCOPE_SETTING] = scope
    if session.in_transaction():
        _narrow(session.connection(), scope)


@event.listens_for(Session, "after_begin")
def _scope_each_transaction(session: Session, transaction: SessionTransaction,
                            connection: Connection) -> None:
    scope = session.info.get(SCOPE_SETTING)
    if scope is not None:
        _narrow(connection, scope)


def _narrow(connection: Connection, scope: str) -> None:
    connection.execute(select(sql_func.set_config("role", APP_ROLE, True),
                              sql_func.set_config(SCOPE_SETTING, scope, True)))


def _with_system_scope(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["options"] = _system_options(query.get("options", ""))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _system_options(options: str) -> str:
    """libpq ``options`` that start each connection in the system scope."""
    return options if _SYSTEM_OPTIONS in options else f"{options} {_SYSTEM_OPTIONS}".strip()
