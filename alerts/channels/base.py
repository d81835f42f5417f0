"""The one interface every channel adapter implements: ``send(message)`` returns on
success and raises ``DeliveryError`` otherwise (``permanent`` when retrying cannot
help, e.g. no address, a refused target, a 4xx answer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

DELIVERY_HEADER = "X-Keywatch-Delivery"


@dataclass(frozen=True, slots=True)
class Message:
    delivery_id: int  # the idempotency key: a resend after a crash carries the same one
    channel: str
    recipient: str
    address: str | None  # URL, e-mail address or phone number
    subject: str
    text: str
    body: dict[str, Any] = field(default_factory=dict)  # the JSON document (webhook)
    secret: str | None = None  # webhook signing key


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ChannelDisabled(DeliveryError):
    """The platform has no server for this channel (e.g. no SMTP host configured):
    the delivery is recorded as skipped, not failed, and the recipient is not blamed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


def raise_for_http_status(status: int, location: str | None = None) -> None:
    """2xx is success; a redirect is refused (never followed); 408/429/5xx are retried."""
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise DeliveryError(f"HTTP {status} redirect to {location or '?'} refused "
                            "(redirects are not followed)", permanent=True)
    raise DeliveryError(f"HTTP {status}", permanent=status < 500 and status not in (408, 429))
