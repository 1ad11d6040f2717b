"""Emails: iMIP invites (RFC 6047) and meeting agendas, sent over SMTP.

An invite is multipart/mixed holding a multipart/alternative (text/plain, then
text/calendar; method=...) and the same calendar again as an `invite.ics` attachment, which
is what Outlook, Gmail and Thunderbird all accept. An agenda is its own message: the HTML
agenda (with a plain-text note) and the Markdown as an attachment, its protective marking
(AGENDA_MARKING) at the start of the subject and at the top and bottom of the body.

Every email is From the bot's own address (SMTP_FROM), which is also the envelope sender: a
council's mail server lets the bot send as itself, where sending as the chair needs send-as
rights and fails DMARC. Replies go to the chair (Reply-To). `SMTP_URL` is
smtp://user:pass@host:port (STARTTLS when the server offers it) or smtps://... (TLS)."""
from __future__ import annotations

import email
import email.policy
import html
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, format_datetime, make_msgid
from datetime import datetime
from urllib.parse import unquote, urlsplit

from icalendar import Calendar

# Headers are folded only past RFC 5322's hard limit: Python's folder at 78 characters moves a long
# subject whole onto a continuation line, which mail clients then show with a leading space.
POLICY = email.policy.SMTP.clone(max_line_length=998)


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


def _headers(msg: EmailMessage, *, sender: tuple[str, str], recipients: list[tuple[str, str]], subject: str,
             now: datetime, reply_to: tuple[str, str] | None) -> None:
    msg["Subject"] = " ".join(subject.split())
    msg["From"] = formataddr(sender)
    msg["To"] = ", ".join(formataddr(r) for r in recipients)
    if reply_to:
        msg["Reply-To"] = formataddr(reply_to)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=sender[1].rpartition("@")[2] or "missing-bot")


def invite_message(*, ics: bytes, sender: tuple[str, str], recipients: list[tuple[str, str]], subject: str,
                   text: str, now: datetime, reply_to: tuple[str, str] | None = None) -> EmailMessage:
    """The iMIP email for `ics` (its METHOD goes into the Content-Type, as RFC 6047 requires).
    `sender` is the bot (SMTP_FROM); `reply_to` the chair, the calendar's ORGANIZER."""
    method = str(Calendar.from_ical(ics).get("METHOD", "REQUEST")).upper()
    msg = EmailMessage(policy=POLICY)
    _headers(msg, sender=sender, recipients=recipients, subject=subject, now=now, reply_to=reply_to)
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(ics.decode("utf-8"), subtype="calendar", charset="utf-8",
                        params={"method": method}, cte="7bit" if ics.isascii() else "base64")
    msg.make_mixed()
    msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return msg


def agenda_message(*, markdown: str, html_body: str, filename: str, marking: str, sender: tuple[str, str],
                   recipients: list[tuple[str, str]], subject: str, now: datetime,
                   reply_to: tuple[str, str] | None = None) -> EmailMessage:
    """An agenda as its own email: HTML (and a plain-text note), the Markdown attached; `marking`
    (e.g. OFFICIAL-SENSITIVE) starts the subject and heads and ends the body."""
    msg = EmailMessage(policy=POLICY)
    _headers(msg, sender=sender, recipients=recipients, subject=f"{marking}: {subject}" if marking else subject,
             now=now, reply_to=reply_to)
    banner = f"{marking}\n\n" if marking else ""
    msg.set_content(f"{banner}{subject}.\n\nThe agenda is in this email's HTML part and attached as {filename}. "
                    f"It names children: keep it within the meeting's members.\n\n{marking}".rstrip() + "\n",
                    charset="utf-8")
    mark = f'<p style="font-weight:bold;text-align:center">{html.escape(marking)}</p>' if marking else ""
    if "<body>" in html_body and "</body>" in html_body:
        full = html_body.replace("<body>", "<body>" + mark, 1).replace("</body>", mark + "</body>", 1)
    else:
        full = f"<!DOCTYPE html><html><body>{mark}{html_body}{mark}</body></html>"
    msg.add_alternative(full, subtype="html", charset="utf-8")
    msg.make_mixed()
    msg.add_attachment(markdown.encode("utf-8"), maintype="text", subtype="markdown", filename=filename)
    return msg


def parse(text: str) -> EmailMessage:
    """A stored message (the outbox holds `as_string()`), read back under the same policy."""
    return email.message_from_string(text, policy=POLICY)


def plain_message(*, sender: tuple[str, str], recipients: list[tuple[str, str]], subject: str, text: str,
                  now: datetime, reply_to: tuple[str, str] | None = None) -> EmailMessage:
    """A plain-text email (e.g. telling another council that its child is missing)."""
    msg = EmailMessage(policy=POLICY)
    _headers(msg, sender=sender, recipients=recipients, subject=subject, now=now, reply_to=reply_to)
    msg.set_content(text, charset="utf-8")
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
