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
