"""E-mail over SMTP (smtplib). The delivery id is both ``Message-ID`` and
``X-Keywatch-Delivery``, so a resend after a crash is recognisable as the same mail."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from alerts.channels.base import DELIVERY_HEADER, ChannelDisabled, DeliveryError, Message


class EmailChannel:
    name = "email"

    def __init__(self, *, host: str, port: int, sender: str, timeout_s: float,
                 user: str = "", password: str = "", starttls: bool = False) -> None:
        self.host, self.port, self.sender, self.timeout_s = host, port, sender, timeout_s
        self.user, self.password, self.starttls = user, password, starttls

    def send(self, message: Message) -> None:
        if not self.host:
            raise ChannelDisabled("no SMTP server configured (KEYWATCH_SMTP_HOST)")
        if not message.address:
            raise DeliveryError(f"{message.recipient} has no e-mail address", permanent=True)
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.address, message.subject
        mail["Message-ID"] = f"<delivery-{message.delivery_id}@keywatch>"
        mail[DELIVERY_HEADER] = str(message.delivery_id)
        mail.set_content(message.text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"SMTP refused the recipient: {codes}",
                                permanent=all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:300],
                                permanent=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {exc.__class__.__name__}: {exc}"[:300]) from exc

    def close(self) -> None:
        pass
