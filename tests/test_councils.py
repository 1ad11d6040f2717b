"""Children across council boundaries (issue 9): placed-by / placed-in, the notifications the
guidance asks for, whose return interview it is, and returns that hold only our children.

Real parts: the Bolt app with signed requests, the fake Slack Web API, a real SMTP server on
127.0.0.1 (aiosmtpd), the real database. Invented councils' contacts and children."""
from __future__ import annotations

import email
import email.policy
import socket
from datetime import date, timedelta

import pytest
from aiosmtpd.controller import Controller
from slack_sdk import WebClient
from sqlalchemy import select

from bot.context import build_services
from bot.protocol import authorities
from bot.protocol.config import ProtocolError, parse_protocol
from bot.protocol.figures import compute_figures, period_bounds
from bot.render_alerts import ACK
from scheduler.delivery import deliver_due
from scheduler.sweep import sweep
from store.alerts import Alert
from store.figures import annex_a_rows, ssda903_rows, started_between
from store.models import AuditRecord, Child, Outbox
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, DUTY_USER, make_settings
from tests.slack import block_actions_body, command, dispatch

NOTTS_EMAIL = "missing.children@notts.example.org"
BOT_FROM = "missing-bot <missing-bot@derby.example.org>"
NOTTS_PHONE = "0115 000 0001"
PROTOCOL = f"""
council = "Derby"
placed_by_interviews = "confirm"
notify_from = {{ name = "Missing coordinator", email = "coordinator@derby.example.org" }}

[[authorities]]
name = "Nottinghamshire"
email = "{NOTTS_EMAIL}"
phone = "{NOTTS_PHONE}"

[[authorities]]
name = "Derbyshire"
phone = "01629 000 002"
"""


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
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


def _services(db_url, slack_stub, clock, tmp_path, protocol: str = PROTOCOL, **extra):
    path = tmp_path / "protocol.toml"
    path.write_text(protocol)
    settings = make_settings(db_url, slack_stub, protocol_file=str(path), **extra)
    client = WebClient(token=settings.slack_bot_token, base_url=slack_stub.url, timeout=5)
    client.retry_handlers = []
    svc = build_services(settings, migrate=False, client=client, clock=clock)
    svc.on_enqueued = lambda: deliver_due(svc)
    return svc


@pytest.fixture
def council_services(db_url, slack_stub, clock, tmp_path, smtp):
    svc = _services(db_url, slack_stub, clock, tmp_path, smtp_url=smtp.url, smtp_from=BOT_FROM)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def council_app(council_services):
    from handlers.slack.app import build_app

    return build_app(council_services)


def alerts_of(services, rule: str) -> list[Alert]:
    with services.sessions() as s:
        return list(s.scalars(select(Alert).where(Alert.rule == rule).order_by(Alert.id)))


def channel_alerts(stub, word: str) -> list[dict]:
    return [p for p in stub.posts() if p.get("channel") == ALERT_CHANNEL and word in (p.get("text") or "")]


def all_text(post: dict) -> str:
    return post.get("text", "") + "".join(b.get("text", {}).get("text", "") for b in post.get("blocks") or []
                                          if isinstance(b.get("text"), dict))


# -- the list of councils -------------------------------------------------------------------------
def test_council_names_are_read_from_the_ons_list_with_suggestions_for_near_misses():
    assert authorities.find("nottinghamshire").code == "E10000024"
    assert authorities.find("Bristol").name == "Bristol, City of"
    assert authorities.find("Brighton & Hove").name == "Brighton and Hove"
    assert authorities.find("Cumberland").code == "E06000063"  # the April 2023 councils are there
    assert len(authorities.authorities()) == 153
    with pytest.raises(authorities.UnknownAuthority) as exc:
        authorities.lookup("Notts")
    assert "Nottinghamshire or Nottingham?" in exc.value.message
    assert authorities.suggest("Cumbria") == ["Cumberland", "Westmorland and Furness"]  # abolished 2023
    assert authorities.suggest("Leics")[:2] == ["Leicestershire", "Leicester"]
    with pytest.raises(ProtocolError, match="Nottinghamshire or Nottingham"):
        parse_protocol({"authorities": [{"name": "Notts", "email": "a@example.org"}]})


def test_placed_by_a_near_miss_is_refused_with_suggestions_and_nothing_changes(council_app, council_services):
    reply = command(council_app, "child PB1 label QX looked-after yes placed-by Notts")
    assert "Nottinghamshire or Nottingham?" in reply["text"] and "placed-by Nottinghamshire" in reply["text"]
    reply = command(council_app, "child PB1 label QX looked-after yes out-of-area yes")
    assert "placed-in &lt;council&gt;" in reply["text"]  # Slack's escaping: shown as typed, <council>
    with council_services.sessions() as s:
        assert s.scalars(select(Child)).all() == []
    reply = command(council_app, "child PB1 label QX looked-after yes placed in Derbyshire")
    assert "placed in Derbyshire" in reply["text"]
    reply = command(council_app, "child PB1 placed-by Nottinghamshire")
    with council_services.sessions() as s:
        c = s.scalar(select(Child))
        assert (c.placed_by, c.placed_in, c.out_of_area) == ("Nottinghamshire", None, True)
    command(council_app, "child PB1 out-of-area no")
    with council_services.sessions() as s:
        c = s.scalar(select(Child))
        assert (c.placed_by, c.placed_in, c.out_of_area) == (None, None, False)


# -- the whole story: a placed-by child missing and found ------------------------------------------
def test_placed_by_child_missing_and_found(council_app, council_services, slack_stub, smtp, clock):
    svc = council_services
    command(council_app, "child PB1 label QX looked-after yes dob 2011-02-03 placement foster_care "
                         "placed-by Nottinghamshire")
    command(council_app, "child OUR1 label RS looked-after yes dob 2010-05-06 placement foster_care")
    start = clock.now - timedelta(hours=3)
    command(council_app, "report OUR1 at 3h ago")
    command(council_app, "report PB1 at 3h ago")

    # The alert asks the team to notify the placing council, with its contact from the protocol file.
    [notify] = alerts_of(svc, "council_notify")
    posted = [p for p in slack_stub.posts() if p.get("channel") == ALERT_CHANNEL and "Notify Nottinghamshire" in p["text"]]
    assert len(posted) == 1
    text = all_text(posted[0])
    assert NOTTS_EMAIL in text and NOTTS_PHONE in text and "PB1 (QX)" in text
    assert "2011" not in text, "no date of birth in the channel"
    buttons = [e["text"]["text"] for b in posted[0]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0] == "Notified"
    assert not [p for p in slack_stub.posts() if "OUR1" in p.get("text", "") and "Notify" in p.get("text", "")]

    # The email to the placing council went, once.
    assert len(smtp.messages) == 1
    mail_from, rcpt, raw = smtp.messages[0]
    assert (mail_from, rcpt) == ("missing-bot@derby.example.org", [NOTTS_EMAIL])
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Reply-To"] == "Missing coordinator <coordinator@derby.example.org>"
    assert "PB1" in msg["Subject"] and "missing" in msg["Subject"]

    # Notified: who told whom and when, audited; the alert shows it.
    resp = dispatch(council_app, block_actions_body(ACK, str(notify.id), user_id=DUTY_USER))
    assert resp.status == 200
    with svc.sessions() as s:
        a = s.get(Alert, notify.id)
        assert (a.acknowledged_by, a.acknowledged_at) == (DUTY_USER, clock.now)
        [row] = s.scalars(select(AuditRecord).where(AuditRecord.action == "council.notified")).all()
        assert row.actor == DUTY_USER and row.after["notified"]["council"] == "Nottinghamshire"
        assert row.after["notified"]["email"] == NOTTS_EMAIL and row.at == clock.now
    updated = slack_stub.posts("chat.update")
    assert updated and "Nottinghamshire notified by <@UDUTY00001>" in str(updated[-1]["blocks"])

    # Found: a second notification and a second email; sweeps and deliveries send neither again.
    clock.advance(hours=1)
    assert "It is Nottinghamshire's to arrange" in command(council_app, "found PB1")["text"]
    assert "to arrange" not in command(council_app, "found OUR1")["text"]
    assert [a.detail["event"] for a in alerts_of(svc, "council_notify")] == ["missing", "returned"]
    returned = [p for p in slack_stub.posts() if "Notify Nottinghamshire" in p.get("text", "")][-1]
    assert "theirs to arrange" in all_text(returned)
    for _ in range(3):
        sweep(svc)
        deliver_due(svc)
    assert len(smtp.messages) == 2
    with svc.sessions() as s:
        emailed = s.scalars(select(AuditRecord).where(AuditRecord.action == "council.emailed")).all()
        assert [(a.after["event"], a.after["email"]) for a in emailed] == [("missing", NOTTS_EMAIL),
                                                                          ("returned", NOTTS_EMAIL)]
    assert "returned" in email.message_from_bytes(smtp.messages[1][2], policy=email.policy.default)["Subject"]

    due = command(council_app, "due")["text"]
    assert "PB1 (QX)" in due and "Nottinghamshire's to arrange: confirm it is" in due
    assert "OUR1 (RS)" in due and due.count("to arrange") == 1

    # The interview is the placing council's: no reminders of ours, one reminder to confirm it.
    clock.advance(hours=50)  # 24 h before the 72-hour deadline
    sweep(svc)
    clock.advance(hours=30)  # past the deadline
    sweep(svc)
    with svc.sessions() as s:
        rules_pb1 = [a.rule for a in s.scalars(select(Alert).join(Child, Child.id == Alert.child_id)
                                               .where(Child.child_ref == "PB1"))]
        rules_our = [a.rule for a in s.scalars(select(Alert).join(Child, Child.id == Alert.child_id)
                                               .where(Child.child_ref == "OUR1"))]
    assert "ri_reminder" not in rules_pb1 and "ri_overdue" not in rules_pb1
    assert rules_pb1.count("ri_confirm") == 1
    assert "ri_reminder" in rules_our and "ri_overdue" in rules_our
    assert any("Confirm the return interview with Nottinghamshire" in p.get("text", "") for p in slack_stub.posts())

    # Returns hold only our children; the board report has the placed-by table.
    with svc.sessions() as s:
        rows, findings = ssda903_rows(s, 2026, svc.zone)
        annex = annex_a_rows(s, clock.now, council=svc.protocol.council, zone=svc.zone)
        day = clock.now.astimezone(svc.zone).date()
        facts = started_between(s, *period_bounds(day - timedelta(days=30), day, svc.zone))
    assert [r["CHILD"] for r in rows] == ["OUR1"] and findings == []
    assert [r["Child Unique ID"] for r in annex] == ["OUR1"]
    assert annex[0]["LA of Placement"] == "Derby"
    fig = compute_figures(facts, day - timedelta(days=30), day, svc.zone, svc.protocol, clock.now)
    table = fig["placed_by_other_councils"]
    assert table["by_council"] == [{"council": "Nottinghamshire", "episodes": 1, "children": 1,
                                    "return_interviews": {"in_timescale": 0, "out_of_timescale": 0, "declined": 0,
                                                          "voided": 0, "incomplete": 1, "pending": 0}}]
    assert sum(fig["return_interviews"].values()) == 1, "the placed-by child's interview is reported apart"
    assert start < clock.now


def test_placed_in_child_missing_names_the_host_council(council_app, council_services, slack_stub, smtp):
    command(council_app, "child PI1 label TU looked-after yes placed-in Derbyshire")
    command(council_app, "report PI1 at 1h ago")
    [a] = alerts_of(council_services, "council_notify")
    assert a.detail["role"] == "host" and a.detail["council"] == "Derbyshire"
    post = [p for p in slack_stub.posts() if "Tell the host council, Derbyshire" in p.get("text", "")]
    assert len(post) == 1 and "01629 000 002" in all_text(post[0])
    command(council_app, "found PI1")
    assert len(alerts_of(council_services, "council_notify")) == 1, "the host council is told of the missing"
    assert smtp.messages == [], "no email: the guidance asks us to tell the host council, by phone here"
    with council_services.sessions() as s:
        rows, _ = ssda903_rows(s, 2026, council_services.zone)
        annex = annex_a_rows(s, council_services.now(), council="Derby", zone=council_services.zone)
    assert [r["CHILD"] for r in rows] == ["PI1"], "our child placed elsewhere is in our return"
    assert annex[0]["LA of Placement"] == "Derbyshire"


@pytest.mark.parametrize("policy, ours, confirm", [("ours", True, False), ("none", False, False)])
def test_placed_by_interviews_ours_or_none(db_url, slack_stub, clock, tmp_path, policy, ours, confirm):
    from tests.clock_helpers import change, found, report
    from store import records

    svc = _services(db_url, slack_stub, clock, tmp_path,
                    protocol=PROTOCOL.replace('placed_by_interviews = "confirm"', f'placed_by_interviews = "{policy}"'))
    try:
        with change(svc) as ctx:
            records.upsert_child(ctx, "PB2", {"label": "VW", "looked_after": True, "placed_by": "Nottinghamshire"})
        report(svc, "PB2", clock.now - timedelta(hours=5))
        found(svc, "PB2", clock.now - timedelta(hours=4))
        clock.advance(hours=80)
        sweep(svc)
        with svc.sessions() as s:
            got = {a.rule for a in s.scalars(select(Alert))}
        assert ("ri_overdue" in got) is ours and ("ri_confirm" in got) is confirm
        assert "council_notify" in got
    finally:
        svc.engine.dispose()


def test_without_smtp_the_alert_alone_asks_for_the_call(db_url, slack_stub, clock, tmp_path):
    svc = _services(db_url, slack_stub, clock, tmp_path)
    try:
        from handlers.slack.app import build_app

        app = build_app(svc)
        command(app, "child PB3 label XY looked-after yes placed-by nottinghamshire")
        command(app, "report PB3 at 1h ago")
        with svc.sessions() as s:
            assert s.scalars(select(Outbox).where(Outbox.address == "email")).all() == []
        [a] = alerts_of(svc, "council_notify")
        assert "emailed" not in a.detail
        post = [p for p in slack_stub.posts() if "Notify Nottinghamshire" in p.get("text", "")]
        assert NOTTS_PHONE in all_text(post[0]) and "emailing" not in all_text(post[0])
    finally:
        svc.engine.dispose()


def test_import_reads_placed_by_and_placed_in_columns(council_services, clock):
    from bot.protocol.csvimport import COLUMNS, Problems
    from store.imports import import_csv
    from tests.clock_helpers import change

    head = ",".join(COLUMNS) + ",placed_by,placed_in\n"

    def row(ref, by="", into=""):
        return f"{ref},AB,2010-01-01,female,Y,foster_care,N,M,,2025-06-01 10:00,2025-06-01 12:00,,,,,N,N,,,{by},{into}\n"

    with pytest.raises(Problems) as exc:
        with change(council_services, user=ADMIN_USER) as ctx:
            import_csv(ctx, (head + row("IM1", by="Notts")).encode())
    assert any("line 2, placed_by" in p and "Nottinghamshire or Nottingham?" in p for p in exc.value.problems)
    with change(council_services, user=ADMIN_USER) as ctx:
        import_csv(ctx, (head + row("IM1", by="Nottinghamshire") + row("IM2", into="Derbyshire")).encode())
    with council_services.sessions() as s:
        got = {c.child_ref: (c.placed_by, c.placed_in, c.out_of_area) for c in s.scalars(select(Child))}
        rows, _ = ssda903_rows(s, 2025, council_services.zone)
    assert got == {"IM1": ("Nottinghamshire", None, True), "IM2": (None, "Derbyshire", True)}
    assert [r["CHILD"] for r in rows] == ["IM2"]
    assert date(2025, 6, 1)


def test_an_episode_withdrawn_before_the_email_goes_tells_no_council(db_url, slack_stub, clock, tmp_path, smtp):
    """Recorded in error and withdrawn while the email waits (e.g. the mail server was down): it is
    cancelled, not sent."""
    from store import corrections, records
    from tests.clock_helpers import change, report

    svc = _services(db_url, slack_stub, clock, tmp_path, smtp_url=smtp.url, smtp_from=BOT_FROM)
    svc.on_enqueued = lambda: None
    try:
        with change(svc) as ctx:
            records.upsert_child(ctx, "PB4", {"label": "ZA", "looked_after": True, "placed_by": "Nottinghamshire"})
        episode_id = report(svc, "PB4", clock.now - timedelta(hours=1))
        with change(svc) as ctx:
            child = records.require_child(ctx.session, "PB4")
            episode = corrections.find_episode(ctx, child, "latest", "")
            assert episode.id == episode_id
            corrections.withdraw(ctx, child, episode, "wrong child", "")
        deliver_due(svc)
        assert smtp.messages == []
        with svc.sessions() as s:
            [row] = s.scalars(select(Outbox).where(Outbox.kind == "council.email")).all()
            assert row.status == "cancelled"
    finally:
        svc.engine.dispose()
