"""iMIP invites reach a real SMTP server on 127.0.0.1 (aiosmtpd) with the right MIME structure."""
from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from datetime import datetime

import icalendar
import pytest
from aiosmtpd.controller import Controller
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot import mail
from bot.context import build_services
from bot.protocol import meetings as pm
from scheduler.delivery import deliver_due
from scheduler.meetings_job import email_invites
from store import meetings as sm
from store.models import Outbox
from tests.conftest import make_settings


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.delay = 0.0  # a slow mail server (seconds per message)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd 1.4 cannot start on port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{port}"
    yield inbox
    controller.stop()


@pytest.fixture
def mail_services(db_url, slack_stub, clock, smtp):
    settings = make_settings(db_url, slack_stub, smtp_url=smtp.url, smtp_from=BOT_FROM)
    client = WebClient(token=settings.slack_bot_token, base_url=slack_stub.url, timeout=5)
    svc = build_services(settings, migrate=False, client=client, clock=clock)
    yield svc
    svc.engine.dispose()


BOT_FROM = "Missing Bot <missing-bot@council.example>"
CONFIG = pm.SeriesConfig(chair=pm.Person.parse("Jo Chair <chair@example.org>"),
                         attendees=[pm.Person.parse("Al Police <al@example.org>"),
                                    pm.Person.parse("Zoë Health <zoe@example.org>")],
                         location="Council House, Room 4")


def emailed(svc, smtp, now) -> int:
    """One sweep's worth of invite email: queue what changed, deliver it; how many reached the server."""
    before = len(smtp.messages)
    email_invites(svc, now)
    deliver_due(svc, now)
    return len(smtp.messages) - before


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _calendar_part(msg) -> tuple[object, icalendar.Calendar]:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    return part, icalendar.Calendar.from_ical(part.get_content())


def test_parse_smtp_url():
    t = mail.parse_smtp_url("smtp://user%40x:p%3Ass@mail.example.org:2525")
    assert (t.host, t.port, t.user, t.password, t.tls) == ("mail.example.org", 2525, "user@x", "p:ss", False)
    assert mail.parse_smtp_url("smtps://mail.example.org").port == 465
    with pytest.raises(ValueError):
        mail.parse_smtp_url("http://mail.example.org")


def test_invite_reaches_smtp_with_imip_structure(mail_services, smtp, clock):
    with mail_services.sessions.begin() as s:
        sm.save_series(s, CONFIG, actor="UADMIN0001", now=clock.now)
    assert emailed(mail_services, smtp, clock.now) == 1
    assert emailed(mail_services, smtp, clock.now) == 0  # sent once per version

    (mail_from, rcpt, raw), = smtp.messages
    assert mail_from == "missing-bot@council.example"  # the bot's own address, not the chair's
    assert sorted(rcpt) == ["al@example.org", "zoe@example.org"]  # the chair organises; not invited
    msg = _parse(raw)
    assert msg["From"].addresses[0].addr_spec == "missing-bot@council.example"
    assert msg["Reply-To"].addresses[0].addr_spec == "chair@example.org"
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = msg.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, cal_part = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert "third Thursday of each month" in plain.get_content()
    assert cal_part.get_content_type() == "text/calendar"
    assert cal_part.get_param("method") == "REQUEST"
    assert cal_part.get_content_charset() == "utf-8"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content().replace(b"\r\n", b"\n") == cal_part.get_content().replace("\r\n", "\n").encode()
    cal = icalendar.Calendar.from_ical(cal_part.get_content())
    assert cal["METHOD"] == "REQUEST"
    (event,) = cal.walk("VEVENT")
    assert event["SEQUENCE"] == 0
    assert "Zoë Health" in [a.params.get("CN") for a in event["ATTENDEE"]]
    assert msg["Subject"] == "Invitation: Missing Children Monitoring Meeting (third Thursday of each month)"
    uid = event["UID"]

    # A change raises SEQUENCE under the same UID: calendars update the meeting.
    clock.advance(hours=1)
    with mail_services.sessions.begin() as s:
        sm.save_series(s, CONFIG.model_copy(update={"location": "Online"}), actor="UADMIN0001", now=clock.now)
    assert emailed(mail_services, smtp, clock.now) == 1
    _, cal = _calendar_part(_parse(smtp.messages[-1][2]))
    (event,) = cal.walk("VEVENT")
    assert (event["UID"], event["SEQUENCE"], event["LOCATION"]) == (uid, 1, "Online")


def test_cancellations_are_emailed_as_method_cancel(mail_services, smtp, clock):
    with mail_services.sessions.begin() as s:
        series, _ = sm.save_series(s, CONFIG, actor="UADMIN0001", now=clock.now)
    emailed(mail_services, smtp, clock.now)
    meeting = datetime(2027, 1, 21, 10, 0, tzinfo=pm.SeriesConfig().zone)
    with mail_services.sessions.begin() as s:
        series = s.get(sm.MeetingSeries, series.id)
        sm.cancel_occurrence(s, series, meeting, actor="UADMIN0001", now=clock.now, channel="C0ALERTS01")
    assert emailed(mail_services, smtp, clock.now) == 1  # the date's CANCEL alone: the series is not sent again
    cancel_msg = _parse(smtp.messages[-1][2])
    part, cal = _calendar_part(cancel_msg)
    assert part.get_param("method") == "CANCEL" and cal["METHOD"] == "CANCEL"
    (event,) = cal.walk("VEVENT")
    assert event["RECURRENCE-ID"].dt == meeting
    # one line, not folded into a leading space
    assert cancel_msg["Subject"] == "Cancelled: Missing Children Monitoring Meeting, Thu 21 Jan 2027 10:00 GMT"
    assert b"Subject: Cancelled: Missing Children Monitoring Meeting, Thu 21 Jan 2027 10:00 GMT\r\n" in smtp.messages[-1][2]
    assert emailed(mail_services, smtp, clock.now) == 0

    with mail_services.sessions.begin() as s:
        sm.cancel_series(s, s.get(sm.MeetingSeries, series.id), actor="UADMIN0001", now=clock.now, channel="C0ALERTS01")
    assert emailed(mail_services, smtp, clock.now) == 1
    part, cal = _calendar_part(_parse(smtp.messages[-1][2]))
    assert part.get_param("method") == "CANCEL"
    assert cal.walk("VEVENT")[0]["STATUS"] == "CANCELLED"


def test_no_smtp_no_email_and_unreachable_server_retries(db_url, slack_stub, clock, smtp):
    settings = make_settings(db_url, slack_stub, smtp_from=BOT_FROM)
    svc = build_services(settings, migrate=False, client=WebClient(base_url=slack_stub.url), clock=clock)
    with svc.sessions.begin() as s:
        sm.save_series(s, CONFIG, actor="UADMIN0001", now=clock.now)
    assert emailed(svc, smtp, clock.now) == 0
    with svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "meeting.email")) == 0
    svc.settings.smtp_url = "smtp://127.0.0.1:9"  # nothing listens there
    assert emailed(svc, smtp, clock.now) == 0
    svc.settings.smtp_url = smtp.url
    assert emailed(svc, smtp, clock.now) == 0  # queued once, waiting for its retry
    assert emailed(svc, smtp, clock.advance(minutes=10)) == 1  # sent when the server is back
    assert emailed(svc, smtp, clock.advance(minutes=10)) == 0
    svc.engine.dispose()


def test_two_processes_sweeping_at_once_email_each_invite_once(db_url, slack_stub, clock, smtp, tmp_path):
    """Real processes, as for the alerts (tests/test_clock_processes.py): three series changed,
    two bots sweep the same database at the same moment, each invite reaches the server once."""
    import subprocess
    import sys
    import time

    from tests.test_clock_processes import DRIVER, env

    settings = make_settings(db_url, slack_stub)
    svc = build_services(settings, migrate=False, client=WebClient(base_url=slack_stub.url), clock=clock)
    with svc.sessions.begin() as s:
        for name in ("Monitoring", "MACE", "Return home"):
            sm.save_series(s, CONFIG.model_copy(update={"name": name}), actor="UADMIN0001", now=clock.now)
    svc.engine.dispose()
    smtp.delay = 0.3  # a slow mail server: both processes are well inside the sending window
    barrier, ready = tmp_path / "go", [tmp_path / f"ready{i}" for i in range(2)]
    e = {**env(db_url, slack_stub), "SMTP_URL": smtp.url, "SMTP_FROM": BOT_FROM}
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, clock.now.isoformat(), str(barrier), str(r)], cwd=tmp_path,
                              env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ready]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    barrier.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not [err for _, err in outs if err.strip()], outs  # neither sweep hit an error
    subjects = sorted(str(_parse(raw)["Subject"]).split(" (")[0] for _, _, raw in smtp.messages)
    # the sweeps also build this week's agendas: each emailed once too
    assert subjects == [f"Invitation: {n}" for n in ("MACE", "Monitoring", "Return home")] + [
        f"OFFICIAL-SENSITIVE: {n} agenda, Thu 19 Nov 2026 10:00 GMT" for n in ("MACE", "Monitoring", "Return home")]
