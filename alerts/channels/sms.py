"""SMS through an HTTP gateway: ``sms_gateway_url`` receives ``sms_template`` with
``$phone``, ``$text``, ``$delivery`` substituted (JSON-escaped), plus the
``X-Keywatch-Delivery`` header; gateways that accept a client reference
deduplicate on ``$delivery``."""

from __future__ import annotations

import json
from string import Template

from alerts.channels import http
from alerts.channels.base import ChannelDisabled, DeliveryError, Message


def _escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


class SmsChannel:
    name = "sms"

    def __init__(self, *, url: str, template: str, timeout_s: float) -> None:
        self.url = url
        self.template = Template(template)
        self.http = http.client(timeout_s)

    def send(self, message: Message) -> None:
        if not self.url:
            raise ChannelDisabled("no SMS gateway configured (KEYWATCH_SMS_GATEWAY_URL)")
        if not message.address:
            raise DeliveryError(f"{message.recipient} has no mobile number", permanent=True)
        body = self.template.safe_substitute(
            phone=_escaped(message.address), text=_escaped(message.text),
            delivery=str(message.delivery_id)).encode()
        http.post(self.http, self.url, body=body, delivery_id=message.delivery_id)

    def close(self) -> None:
        self.http.close()
