"""Email through SMTP_URL: rows whose payload holds the whole message (iMIP invites, agendas)."""
from __future__ import annotations

import smtplib

from bot import mail
from scheduler.transports.base import Delivered, TransportError
from bot.messages import Message
from store.models import Outbox

EMAIL = "email"  # the platform and address of rows that are emails (payload {"email": the whole message})


class EmailTransport:
    name = "email"

    def __init__(self, smtp_url: str) -> None:
        self.smtp_url = smtp_url

    def send(self, row: Outbox, message: Message, thread_ref: str | None, broadcast: bool) -> Delivered:
        message = mail.parse((row.payload or {})["email"])  # read back under the policy it was written with
        try:
            mail.send(self.smtp_url, message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise TransportError("smtp_recipients_refused", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            # 5xx: the server will refuse it again; 4xx: try later.
            raise TransportError(f"smtp_{exc.smtp_code}", permanent=500 <= exc.smtp_code < 600) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(type(exc).__name__) from exc
        return Delivered(EMAIL, None)

    def update(self, address: str, ref: str, message: Message) -> None:
        raise TransportError("an email cannot be changed once sent", permanent=True)

    def is_private(self, address: str) -> bool:
        return True

    def can_find(self, row: Outbox) -> bool:
        return False

    def find_sent(self, row: Outbox, thread_ref: str | None) -> Delivered | None:
        return None
