"""Company webhooks: a JSON body signed ``X-Keywatch-Signature: sha256=<hex HMAC-SHA256
of the body with the company's webhook_secret>``, keyed ``X-Keywatch-Delivery``.

SSRF guard: the target's host is resolved and every address must be public
unless ``webhook_allow_private``. Residual risk: a name that resolves to a public
address here and a private one at connect time (DNS rebinding) is not pinned.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from urllib.parse import urlsplit

from alerts.channels import http
from alerts.channels.base import DeliveryError, Message

SIGNATURE_HEADER = "X-Keywatch-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_target(url: str, *, allow_private: bool) -> None:
    """Raise a permanent ``DeliveryError`` for a malformed or non-public target."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"webhook URL {url!r} is not an http(s) URL", permanent=True)
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryError(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        if not address.is_global or address.is_multicast:
            raise DeliveryError(f"webhook target {parts.hostname} resolves to non-public "
                                f"address {address}; refused", permanent=True)


class WebhookChannel:
    name = "webhook"

    def __init__(self, *, timeout_s: float, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.http = http.client(timeout_s)

    def send(self, message: Message) -> None:
        if not message.address:
            raise DeliveryError("no webhook URL registered", permanent=True)
        if not message.secret:
            raise DeliveryError("no webhook secret registered; unsigned notices are not sent",
                                permanent=True)
        check_target(message.address, allow_private=self.allow_private)
        body = json.dumps(message.body, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode()
        http.post(self.http, message.address, body=body, delivery_id=message.delivery_id,
                  headers={SIGNATURE_HEADER: sign(message.secret, body)})

    def close(self) -> None:
        self.http.close()
