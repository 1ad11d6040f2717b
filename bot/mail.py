"""iMIP invites (RFC 6047): an email whose body is the iTIP calendar, sent over SMTP.

The message is multipart/mixed holding a multipart/alternative (text/plain, then
text/calendar; method=...) and the same calendar again as an `invite.ics` attachment, which
is what Outlook, Gmail and Thunderbird all accept. `SMTP_URL` is
smtp://user:pass@host:port (STARTTLS when the server offers it) or smtps://... (TLS)."""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, format_datetime, make_msgid
from datetime import datetime
from urllib.parse import unquote, urlsplit

from icalendar import Calendar


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    user: str
    password: str
    tls: bool  # implicit TLS (smtps)


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:pass@host:port or smtps://...")
    tls = parts.scheme == "smtps"
    return SmtpTarget(host=parts.hostname, port=parts.port or (465 if tls else 587),
                      user=unquote(parts.username or ""), password=unquote(parts.password or ""), tls=tls)


def invite_message(*, ics: bytes, sender: tuple[str, str], recipients: list[tuple[str, str]], subject: str,
                   text: str, now: datetime) -> EmailMessage:
    """The iMIP email for `ics` (its METHOD goes into the Content-Type, as RFC 6047 requires)."""
    method = str(Calendar.from_ical(ics).get("METHOD", "REQUEST")).upper()
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = formataddr(sender)
    msg["To"] = ", ".join(formataddr(r) for r in recipients)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain="missing-bot")
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(ics.decode("utf-8"), subtype="calendar", charset="utf-8",
                        params={"method": method}, cte="7bit" if ics.isascii() else "base64")
    msg.make_mixed()
    msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return msg


def send(smtp_url: str, msg: EmailMessage, timeout: float = 20) -> None:
    """Send `msg` to its To: addresses. Raises smtplib.SMTPException / OSError on failure."""
    target = parse_smtp_url(smtp_url)
    if target.tls:
        conn: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout,
                                              context=ssl.create_default_context())
    else:
        conn = smtplib.SMTP(target.host, target.port, timeout=timeout)
    with conn:
        conn.ehlo()
        if not target.tls and conn.has_extn("starttls"):
            conn.starttls(context=ssl.create_default_context())
            conn.ehlo()
        if target.user:
            conn.login(target.user, target.password)
        conn.send_message(msg)
