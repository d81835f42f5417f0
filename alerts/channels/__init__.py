"""Delivery channels, each a small adapter behind ``base.Channel``.

``live`` and ``portal`` have no adapter: they are done when the incident's
transaction commits (see ``alerts.outbox``).
"""

from __future__ import annotations

from alerts.channels.base import Channel, DeliveryError, Message
from alerts.channels.email import EmailChannel
from alerts.channels.sms import SmsChannel
from alerts.channels.webhook import WebhookChannel
from keywatch.settings import Settings


def build_channels(settings: Settings) -> dict[str, Channel]:
    return {
        "webhook": WebhookChannel(timeout_s=settings.webhook_timeout,
                                  allow_private=settings.webhook_allow_private),
        "email": EmailChannel(host=settings.smtp_host, port=settings.smtp_port,
                              sender=settings.smtp_from, timeout_s=settings.smtp_timeout,
                              user=settings.smtp_user, password=settings.smtp_password,
                              starttls=settings.smtp_starttls),
        "sms": SmsChannel(url=settings.sms_gateway_url, template=settings.sms_template,
                          timeout_s=settings.sms_timeout),
    }


__all__ = ["Channel", "DeliveryError", "Message", "build_channels"]
