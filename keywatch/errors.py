"""One error hierarchy for the core packages; ``dashboard`` maps it to HTTP once."""

from __future__ import annotations


class KeywatchError(Exception):
    """Base of every error Keywatch raises on purpose; the message is for users."""


class NotFound(KeywatchError):
    """The object does not exist, or the caller may not see it (→ 404)."""


class Conflict(KeywatchError):
    """The request contradicts existing data (→ 409)."""


class Invalid(KeywatchError):
    """The input is wrong; the message says what and where (→ 422)."""


class Forbidden(KeywatchError):
    """The caller may see the object but not do this to it (→ 403)."""


class Unauthorized(KeywatchError):
    """No valid credentials (→ 401)."""


class TooLarge(KeywatchError):
    """The upload or payload exceeds a limit named in the message (→ 413)."""


TOO_MANY_PARAMETERS = "number of parameters must be between"  # libpq, client side
READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction: a standby, default_transaction_read_only


def database_unavailable(exc: BaseException) -> bool:
    """The database cannot store anything right now — connection lost, server shutting
    down, disk full (all OperationalError) or read-only (SQLSTATE 25006) — so the caller
    waits and retries the same work; it never drops or acknowledges it. Other database
    errors are about the data or the code and are not retried."""
    import psycopg
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if TOO_MANY_PARAMETERS in str(orig):
        # libpq refused to send a statement (an OperationalError, but no outage): the
        # work was too big for one statement; waiting would never help
        return False
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return database_read_only(exc)


def database_read_only(exc: BaseException) -> bool:
    """SQLSTATE 25006, raised through SQLAlchemy or straight from a psycopg cursor."""
    return getattr(getattr(exc, "orig", exc), "sqlstate", None) == READ_ONLY_SQLSTATE
