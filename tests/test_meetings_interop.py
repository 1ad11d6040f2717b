"""Issue 12: invites every calendar gets right, agendas that stay private.

Through real parts: a CalDAV server (Radicale, a subprocess on 127.0.0.1) expands the series
itself; dateutil reads the VTIMEZONE we wrote; khal imports the channel's uploads in order; an
SMTP server (aiosmtpd) receives the emails."""
from __future__ import annotations

from handlers.slack.text import from_slack
import io
import re
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
import vobject
from dateutil import tz as dateutil_tz
from slack_sdk import WebClient
from sqlalchemy import select

from bot import ics
from bot.context import build_services
from bot.protocol import meetings as pm
from handlers.commands import run_command
from scheduler import meetings_job
from scheduler.delivery import deliver_due
from store import meetings as sm
from store.models import Child, Episode, Outbox
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, DUTY_USER, make_settings
from tests.test_meetings_calendar import EXPECTED, NOW, series
from tests.test_meetings_mail import BOT_FROM, CONFIG, _calendar_part, _parse, smtp  # noqa: F401 - the fixture

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
BOT = "missing-bot@council.example"
CHAIR_USER = "UCHAIR0001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- a real CalDAV server --------------------------------------------------------------------
@pytest.fixture(scope="module")
def radicale(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radicale")
    port = free_port()
    (folder / "config").write_text(f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = none\n"
                                   f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
                                   "[logging]\nlevel = warning\n")
    proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(folder / "config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, auth=("council", "x"), timeout=10)
    deadline = time.monotonic() + 30
    while True:  # waiting for another process to listen, not for time to pass in the test
        try:
            client.request("PROPFIND", "/", headers={"Depth": "0"})
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"radicale did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.05)
    yield client
    client.close()
    proc.terminate()
    proc.wait(timeout=10)


EXPAND = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <D:prop><C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data></D:prop>
 <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
  <C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


def server_expansion(client: httpx.Client, collection: str, invite: bytes, start: str, end: str) -> list[datetime]:
    """Store `invite` (as a calendar object: no METHOD) and ask the server to expand it (RFC 4791 9.6.5)."""
    assert client.request("MKCALENDAR", f"/council/{collection}/").status_code == 201
    body = re.sub(rb"METHOD:[A-Z]+\r\n", b"", invite)
    assert client.put(f"/council/{collection}/series.ics", content=body,
                      headers={"Content-Type": "text/calendar; charset=utf-8"}).status_code == 201
    r = client.request("REPORT", f"/council/{collection}/", content=EXPAND.format(start=start, end=end),
                       headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})
    assert r.status_code == 207, r.text
    starts = []
    for data in ET.fromstring(r.content).iter("{urn:ietf:params:xml:ns:caldav}calendar-data"):
        for event in icalendar.Calendar.from_ical(data.text).walk("VEVENT"):
            assert "RRULE" not in event  # expanded by the server
            starts.append(event["DTSTART"].dt)
    return sorted(starts)


def test_radicale_expands_the_next_24_meetings_at_ten_london(radicale):
    starts = server_expansion(radicale, "monitoring", ics.request(series()), "20261201T000000Z", "20281201T000000Z")
    assert len(starts) == 24
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in starts)  # the server's UTC
    assert [s.astimezone(LONDON).date() for s in starts] == EXPECTED
    assert {s.astimezone(LONDON).strftime("%H:%M") for s in starts} == {"10:00"}
    summer = [s for s in starts if s.hour == 9]  # 10:00 BST
    assert len(summer) == 14 and all(4 <= s.month <= 10 for s in summer)


def test_a_second_expander_reading_only_the_file_agrees(radicale):
    """vobject builds the zone from our VTIMEZONE (dateutil's reader) and expands the rule on it."""
    text = ics.request(series()).decode()
    event = vobject.readOne(text).vevent
    starts = event.getrruleset().between(datetime(2026, 12, 1, tzinfo=UTC), datetime(2028, 12, 1, tzinfo=UTC))
    assert "tzicalvtz" in repr(event.dtstart.value.tzinfo)  # our VTIMEZONE, not a zone database
    server = server_expansion(radicale, "second", text.encode(), "20261201T000000Z", "20281201T000000Z")
    assert [s.astimezone(UTC) for s in starts] == server


def _vtimezone_zone(tzid: str):
    cal = ics.request(series(config=pm.SeriesConfig(timezone=tzid))).decode()
    vtz = cal[cal.index("BEGIN:VTIMEZONE"):cal.index("END:VTIMEZONE") + len("END:VTIMEZONE")]
    return vtz, dateutil_tz.tzical(io.StringIO(vtz)).get(tzid)


@pytest.mark.parametrize("tzid", ["Europe/London", "Europe/Dublin", "America/New_York", "Australia/Sydney",
                                  "America/Santiago", "Asia/Jerusalem", "Asia/Tokyo"])
def test_vtimezone_offsets_equal_the_iana_zone_2026_to_2060(tzid):
    vtz, theirs = _vtimezone_zone(tzid)
    assert vtz.count("BEGIN:STANDARD") == 1 and vtz.count("BEGIN:DAYLIGHT") <= 1 and "RDATE" not in vtz
    ours = ZoneInfo(tzid)
    t, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2061, 1, 1, tzinfo=UTC)
    step = timedelta(days=1)  # a change of offset lasts longer than a day: none is stepped over
    while t < end:
        if t.astimezone(ours).utcoffset() != (t + step).astimezone(ours).utcoffset():
            lo, hi = t, t + step  # the change, to the second, found with the zone database alone
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(ours).utcoffset() == t.astimezone(ours).utcoffset() else (lo, mid)
            for probe in (lo - timedelta(seconds=1), hi, hi + timedelta(hours=1)):
                assert probe.astimezone(theirs).utcoffset() == probe.astimezone(ours).utcoffset(), (tzid, probe)
        assert t.astimezone(theirs).utcoffset() == t.astimezone(ours).utcoffset(), (tzid, t)
        t += step


def test_london_vtimezone_is_the_rule_form_outlook_writes():
    vtz, _ = _vtimezone_zone("Europe/London")
    assert "BEGIN:DAYLIGHT\r\nDTSTART:19700329T010000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n" in vtz
    assert "BEGIN:STANDARD\r\nDTSTART:19701025T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n" in vtz


# -- four months of agendas: four agenda emails, no re-invitation, nothing about a child in a calendar --------
@pytest.fixture
def mail_services(db_url, slack_stub, clock, smtp):  # noqa: F811 - the fixture imported above
    settings = make_settings(db_url, slack_stub, smtp_url=smtp.url, smtp_from=BOT_FROM, calendar_token="feed-token-0123456789",
                             meeting_chairs=[CHAIR_USER], authorized_users=[DUTY_USER, ADMIN_USER, CHAIR_USER])
    client = WebClient(token=settings.slack_bot_token, base_url=slack_stub.url, timeout=5)
    client.retry_handlers = []
    svc = build_services(settings, migrate=False, client=client, clock=clock)
    svc.on_enqueued = lambda: deliver_due(svc)
    yield svc
    svc.engine.dispose()


SECRETS = {  # what an agenda holds and no calendar may: invented case references, labels, places, concerns
    "refs": ["T9001", "T9002", "T9003", "T9004"],
    "labels": ["QX", "ZW", "KV", "JQ"],
    "places": ["Bus station behind Unit 7", "Ferry Lane flats", "Old Mill car park", "Canal towpath"],
    "words": ["found with adult male", "POL-44-5512", "Riverside Childrens Home"],
}


def seed_month(svc, i: int, start: datetime) -> None:
    with svc.sessions.begin() as s:
        child = Child(child_ref=SECRETS["refs"][i], label=SECRETS["labels"][i], looked_after=True,
                      placement_type="la_residential", created_at=start, updated_at=start)
        s.add(child)
        s.flush()
        s.add(Episode(child_id=child.id, started_at=start, returned_at=start + timedelta(hours=30),
                      placement_type="la_residential", missing_from=SECRETS["words"][2], police_ref=SECRETS["words"][1],
                      found_location=SECRETS["places"][i], reasons=SECRETS["words"][0], cse_concern=True,
                      risk_grade="high", created_at=start, updated_at=start))


def messages(smtp) -> list:
    return [(_parse(raw), mail_from, rcpt, raw) for mail_from, rcpt, raw in smtp.messages]


def sweep(svc, now: datetime) -> None:
    meetings_job.meetings_step(svc, now)
    deliver_due(svc, now)


def test_four_monthly_agendas_send_four_agenda_emails_and_no_re_invitation(mail_services, smtp, clock, slack_stub):
    svc = mail_services
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    with svc.sessions.begin() as s:
        sm.save_series(s, CONFIG, actor=ADMIN_USER, now=clock.now, channel=ALERT_CHANNEL)
    sweep(svc, clock.now)
    assert [str(m["Subject"]) for m, *_ in messages(smtp)] == [
        "Invitation: Missing Children Monitoring Meeting (third Thursday of each month)"]
    meetings = [datetime(2026, 12, 17, 10, tzinfo=LONDON), datetime(2027, 1, 21, 10, tzinfo=LONDON),
                datetime(2027, 2, 18, 10, tzinfo=LONDON), datetime(2027, 3, 18, 10, tzinfo=LONDON)]
    for i, meeting in enumerate(meetings):
        due = pm.agenda_due_at(CONFIG, meeting)
        seed_month(svc, i, due - timedelta(days=6))
        for minutes in (0, 1, 60):  # several sweeps at and after the lead time
            clock.set(due + timedelta(minutes=minutes))
            sweep(svc, clock.now)
    sent = messages(smtp)
    agendas = [m for m, *_ in sent if "agenda" in str(m["Subject"])]
    invites = [m for m, *_ in sent if any(p.get_content_type() == "text/calendar" for p in m.walk())]
    assert len(agendas) == 4 and len(invites) == 1  # zero re-invitations
    assert [str(m["Subject"]) for m in agendas] == [
        f"OFFICIAL-SENSITIVE: Missing Children Monitoring Meeting agenda, {m:%a %d %b %Y} 10:00 GMT" for m in meetings]
    with svc.sessions() as s:
        assert sm.all_series(s)[0].sequence == 0
    for i, (msg, (_, mail_from, rcpt, _raw)) in enumerate(zip(agendas, [x for x in sent if "agenda" in str(x[0]["Subject"])])):
        assert mail_from == BOT and sorted(rcpt) == ["al@example.org", "chair@example.org", "zoe@example.org"]
        assert msg["Reply-To"].addresses[0].addr_spec == "chair@example.org"
        html_part = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
        assert html_part.count("OFFICIAL-SENSITIVE") == 2  # top and bottom of the body
        assert SECRETS["refs"][i] in html_part  # the agenda itself travels here, and only here
        (md,) = [p for p in msg.walk() if p.get_filename()]
        assert md.get_filename() == f"agenda-{meetings[i]:%Y-%m-%d}.md" and SECRETS["refs"][i] in md.get_content()
        assert not any(p.get_content_type() == "text/calendar" for p in msg.walk())

    # Every calendar the bot made — emailed, uploaded to Slack, the feed — describes the meeting, never a child.
    calendars = [_calendar_part(m)[1].to_ical() for m in invites]
    calendars += [u["bytes"] for u in slack_stub.posts("upload") if u["bytes"].startswith(b"BEGIN:VCALENDAR")]
    from fastapi.testclient import TestClient

    from handlers.slack.app import build_app
    from bot.serve import create_web_app
    calendars.append(TestClient(create_web_app(svc, build_app(svc))).get("/calendar/feed-token-0123456789.ics").content)
    assert len(calendars) >= 3
    for cal in calendars:
        text = cal.decode("utf-8").replace("\r\n ", "").lower()
        for word in (w for group in SECRETS.values() for w in group):
            assert word.lower() not in text, word
        for event in icalendar.Calendar.from_ical(cal).walk("VEVENT"):
            assert "reviews the children reported missing" in str(event["DESCRIPTION"])
    assert len(invites[0].as_bytes()) < 12_000  # and it does not grow: it is sent once


def test_agenda_marking_is_configurable(mail_services, smtp, clock):
    mail_services.settings.agenda_marking = ""
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    with mail_services.sessions.begin() as s:
        sm.save_series(s, CONFIG, actor=ADMIN_USER, now=clock.now, channel=ALERT_CHANNEL)
    clock.set(datetime(2026, 12, 15, 9, 0, tzinfo=UTC))
    sweep(mail_services, clock.now)
    (agenda,) = [m for m, *_ in messages(smtp) if "agenda" in str(m["Subject"])]
    assert str(agenda["Subject"]) == "Missing Children Monitoring Meeting agenda, Thu 17 Dec 2026 10:00 GMT"


# -- iMIP, RFC 6047 ---------------------------------------------------------------------------
def check_imip(msg, mail_from: str, rcpt: list[str]) -> icalendar.Calendar:
    part, cal = _calendar_part(msg)
    assert part.get_param("method") == str(cal["METHOD"])  # RFC 6047 2.4: the same method
    assert part.get_content_charset() == "utf-8"
    assert mail_from == BOT and msg["From"].addresses[0].addr_spec == BOT  # the bot sends, as itself
    assert msg["Reply-To"].addresses[0].addr_spec == "chair@example.org"
    assert "\n" not in str(msg["Subject"]) and not str(msg["Subject"]).startswith(" ")
    for event in cal.walk("VEVENT"):
        organizer = event["ORGANIZER"]
        assert str(organizer) == "mailto:chair@example.org"
        assert organizer.params["SENT-BY"] == f"mailto:{BOT}"  # RFC 5545 3.2.18: the bot acts for the chair
        attendees = [str(a) for a in event.get("ATTENDEE", [])]
        assert attendees and all(a.startswith("mailto:") for a in attendees)
        assert "mailto:chair@example.org" not in attendees
        assert sorted(a.removeprefix("mailto:") for a in attendees) == sorted(rcpt)
    return cal


def test_imip_messages_follow_rfc_6047(mail_services, smtp, clock):
    svc = mail_services
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    config = CONFIG.model_copy(update={"attendees": [*CONFIG.attendees, CONFIG.chair]})  # the chair listed too
    with svc.sessions.begin() as s:
        series_id = sm.save_series(s, config, actor=ADMIN_USER, now=clock.now, channel=ALERT_CHANNEL)[0].id
    sweep(svc, clock.now)
    gone = datetime(2027, 1, 21, 10, tzinfo=LONDON)
    with svc.sessions.begin() as s:
        sm.cancel_occurrence(s, s.get(sm.MeetingSeries, series_id), gone, actor=ADMIN_USER, now=clock.now,
                             channel=ALERT_CHANNEL)
    sweep(svc, clock.advance(minutes=5))
    with svc.sessions.begin() as s:
        sm.cancel_series(s, s.get(sm.MeetingSeries, series_id), actor=ADMIN_USER, now=clock.now, channel=ALERT_CHANNEL)
    sweep(svc, clock.advance(minutes=5))
    sent = messages(smtp)
    assert len(sent) == 3
    methods = []
    for msg, mail_from, rcpt, _ in sent:
        cal = check_imip(msg, mail_from, rcpt)
        methods.append((str(cal["METHOD"]), [e.get("RECURRENCE-ID") and e["RECURRENCE-ID"].dt for e in cal.walk("VEVENT")]))
    assert methods == [("REQUEST", [None]), ("CANCEL", [gone]), ("CANCEL", [None])]


# -- khal imports the channel's uploads in order --------------------------------------------------
KHAL = shutil.which("khal")


def khal_import_all(tmp_path: Path, files: list[bytes], start: str, days: int) -> list[str]:
    cal_dir = tmp_path / "cal"
    cal_dir.mkdir()
    config = tmp_path / "khal.conf"
    config.write_text(
        f"[calendars]\n[[meetings]]\npath = {cal_dir}\ntype = calendar\n"
        "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
        "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n"
        "default_timezone = Europe/London\nlocal_timezone = Europe/London\n"
        f"[sqlite]\npath = {tmp_path / 'khal.db'}\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    for i, content in enumerate(files):
        path = tmp_path / f"upload-{i}.ics"
        path.write_bytes(content)
        subprocess.run([KHAL, "-c", str(config), "import", "--batch", "-a", "meetings", str(path)],
                       check=True, env=env, capture_output=True, timeout=60)
    out = subprocess.run([KHAL, "-c", str(config), "list", "--format", "{start} {end} {title}", "--day-format", "",
                          start, f"{days}d"], check=True, env=env, capture_output=True, text=True, timeout=60)
    return [line for line in out.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(KHAL is None, reason="khal is not installed (apt-get install khal); CI installs it")
def test_khal_imports_a_cancellation_then_a_time_change_in_order(mail_services, slack_stub, clock, tmp_path):
    svc = mail_services
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))

    def run(text: str):
        reply = run_command(svc, user_id=CHAIR_USER, channel_id=ALERT_CHANNEL, text=text, is_admin=False)
        assert not reply.text.startswith((":warning:", ":no_entry:")), reply.text
        return reply

    run('meeting setup chair="Jo Chair <chair@example.org>" attendees="Al <al@example.org>" location="Room 4"')
    run("meeting cancel missing 2027-01-21")
    run("meeting setup time=14:00-15:30")
    uploads = [u["bytes"] for u in slack_stub.posts("upload")]
    assert len(uploads) == 4  # the invite; the date's CANCEL with the series, in one upload; the new version
    assert [icalendar.Calendar.from_ical(u)["METHOD"] for u in uploads] == ["REQUEST", "CANCEL", "REQUEST", "REQUEST"]
    listed = khal_import_all(tmp_path, uploads, "2026-12-01", 120)
    assert listed == [f"{d} 14:00 {d} 15:30 Missing Children Monitoring Meeting"
                      for d in ("2026-12-17", "2027-02-18", "2027-03-18")]


# -- the feed ---------------------------------------------------------------------------------
def test_feed_answers_head_etag_last_modified_and_304_with_a_stable_dtstamp(mail_services, clock):
    from fastapi.testclient import TestClient

    from handlers.slack.app import build_app
    from bot.serve import create_web_app

    svc = mail_services
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    with svc.sessions.begin() as s:
        sm.save_series(s, CONFIG, actor=ADMIN_USER, now=clock.now, channel=ALERT_CHANNEL)
    web = TestClient(create_web_app(svc, build_app(svc)))
    url = "/calendar/feed-token-0123456789.ics"
    first = web.get(url)
    assert first.status_code == 200 and first.headers["last-modified"] == "Fri, 20 Nov 2026 12:00:00 GMT"
    etag = first.headers["etag"]
    clock.advance(hours=3)
    again = web.get(url)
    assert again.content == first.content  # DTSTAMP is the series' last change, not the fetch
    assert again.headers["etag"] == etag
    head = web.head(url)
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
    assert int(head.headers["content-length"]) == len(first.content)
    assert web.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert web.get(url, headers={"If-Modified-Since": first.headers["last-modified"]}).status_code == 304
    assert web.head(url, headers={"If-None-Match": etag}).status_code == 304
    # a change makes a new feed
    with svc.sessions.begin() as s:
        sm.save_series(s, CONFIG.model_copy(update={"location": "Online"}), actor=ADMIN_USER, now=clock.now,
                       channel=ALERT_CHANNEL)
    changed = web.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and b"Online" in changed.content
    assert web.get("/calendar/wrong-token-0123456789.ics", headers={"If-None-Match": etag}).status_code == 404


# -- who may set up a series; what a name may say in Slack -------------------------------------
def test_only_admins_and_meeting_chairs_set_up_change_or_cancel_a_series(mail_services):
    svc = mail_services

    def run(user: str, text: str, admin: bool = False):
        return run_command(svc, user_id=user, channel_id=ALERT_CHANNEL, text=text, is_admin=admin).text

    refused = run(DUTY_USER, 'meeting setup attendees="Outside <someone@elsewhere.example>"')
    assert refused.startswith(":no_entry:") and "MEETING_CHAIRS" in refused
    assert run(DUTY_USER, "meeting setup").startswith(":no_entry:")  # not even the form
    assert run(CHAIR_USER, 'meeting setup location="Room 4"').startswith(":calendar: Saved")
    assert run(DUTY_USER, "meeting cancel missing").startswith(":no_entry:")
    assert run(DUTY_USER, "meeting cancel missing 2026-12-17").startswith(":no_entry:")
    assert "Room 4" in run(DUTY_USER, "meeting list")  # listing and agendas stay open to everyone
    assert run(ADMIN_USER, "meeting setup time=11:00", admin=True).startswith(":calendar: Saved")
    from handlers.commands import submit_form
    from handlers.meetings import SETUP_FORM
    errors = submit_form(svc, form_id=SETUP_FORM, values={}, meta="", user_id=DUTY_USER).errors
    assert errors and "MEETING_CHAIRS" in errors["name"]


def test_meeting_free_text_cannot_ping_the_channel(mail_services, slack_stub):
    svc = mail_services
    reply = run_command(svc, user_id=CHAIR_USER, channel_id=ALERT_CHANNEL, is_admin=False,
                        text=from_slack('meeting setup name="<!channel> review" location="<!here> Room <@U0SOMEONE|jo> 4" '
                                        'chair="@everyone Jo &lt;chair@example.org&gt;"'))  # as the Slack edge hands it over
    assert reply.text.startswith(":calendar: Saved"), reply.text
    with svc.sessions() as s:
        (series,) = sm.all_series(s)
        assert (series.name, series.spec.location) == ("channel review", "here Room someone 4")
        assert series.spec.chair.name == "everyone Jo"
    posted = " ".join(p.get("initial_comment", "") + p.get("text", "") for p in slack_stub.posts("files.completeUploadExternal")
                      + slack_stub.posts("chat.postMessage"))
    for mark in ("<!", "<@U0SOMEONE", "@channel", "@here"):
        assert mark not in posted and mark not in reply.text
    with svc.sessions() as s:
        rows = list(s.scalars(select(Outbox)))
    assert rows and not any("<!" in (r.text or "") for r in rows)


def test_a_change_the_invite_does_not_show_is_not_a_new_version(mail_services, smtp, slack_stub, clock):
    svc = mail_services
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))

    def run(text: str) -> str:
        return run_command(svc, user_id=CHAIR_USER, channel_id=ALERT_CHANNEL, text=text, is_admin=False).text

    assert run('meeting setup chair="Jo Chair <chair@example.org>" attendees="Al <al@example.org>"').startswith(
        ":calendar: Saved (invite version 0)")
    sweep(svc, clock.now)
    reply = run("meeting setup lead=3 channel=C0OTHER001")
    assert "not sent again" in reply, reply
    sweep(svc, clock.advance(minutes=1))
    with svc.sessions() as s:
        (series,) = sm.all_series(s)
        assert (series.sequence, series.spec.lead_working_days) == (0, 3)
    assert len([u for u in slack_stub.posts("upload")]) == 1 and len(smtp.messages) == 1
    assert "invite version 1" in run("meeting setup time=11:00")  # the schedule: a new version, sent
    sweep(svc, clock.advance(minutes=1))
    assert len(smtp.messages) == 2
