"""Real local receivers for the channels: an HTTP server for webhooks and the SMS
gateway (it verifies signatures like a company would), and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    valid_signature: bool | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers.get("x-keywatch-delivery", "")


@dataclass
class HttpReceiver:
    """POST /hook/<mode>/<name>: mode ok | fail | slow | redirect | sleepy (0.2 s, then ok)."""

    secrets: dict[str, str] = field(default_factory=dict)  # name → webhook secret
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    port: int = 0  # 0: any free port; kept after start, so a stopped receiver restarts on it

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.handle(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, mode: str, name: str = "x") -> str:
        return f"{self.base}/hook/{mode}/{name}"

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        parts = request.path.strip("/").split("/")
        mode, name = (parts[1], parts[2]) if parts[0] == "hook" else ("ok", parts[0])
        headers = {k.lower(): v for k, v in request.headers.items()}
        valid = None
        if name in self.secrets:
            expected = "sha256=" + hmac.new(self.secrets[name].encode(), body,
                                            hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(expected, headers.get("x-keywatch-signature", ""))
        if mode == "slow":
            time.sleep(3)
        if mode == "sleepy":
            time.sleep(0.2)
        with self.lock:
            self.received.append(Received(request.path, headers, body, valid))
        status = {"fail": 500, "redirect": 302}.get(mode, 200)
        request.send_response(status)
        if mode == "redirect":
            request.send_header("Location", f"{self.base}/hook/ok/{name}")
        request.send_header("Content-Length", "0")
        request.end_headers()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def at(self, fragment: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if fragment in r.path]


class MailHandler:
    """Accepts mail; refuses recipients at ``refuse@…`` with 550."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if address.startswith("refuse@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy))
        return "250 Message accepted"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smtp_server() -> tuple[Controller, MailHandler]:
    handler = MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler
