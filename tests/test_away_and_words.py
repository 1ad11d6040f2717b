"""Away is not missing, and practitioners read words, not codes (issue 8).

Through the real sweep, the Bolt app and the fake Slack: the protocol file decides per rule
whether away-from-placement episodes count; alerts, status, open and agendas say which an episode
is; one persistence crossing of several rules is one message listing every action."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.protocol import agenda as ag
from bot.protocol import words
from bot.protocol.config import Protocol, parse_protocol
from scheduler.delivery import deliver_due
from scheduler.sweep import sweep
from store.alerts import Alert
from store.models import AuditRecord
from tests.clock_helpers import alert_posts, child, found, interview, outbox, report
from tests.conftest import ALERT_CHANNEL, DUTY_USER
from tests.slack import block_actions_body, command, dispatch

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
WORKER = "UWORKER001"


def texts(posts) -> list[str]:
    return [p["text"] for p in posts]


def body(post) -> str:
    return post["blocks"][0]["text"]["text"]


# -- the protocol file: per rule -----------------------------------------------------------------
def test_each_away_rule_defaults_to_count_away_episodes_and_can_be_set_on_its_own():
    p = Protocol()
    assert (p.count_away_long_missing, p.count_away_persistence) == (True, True)
    p = parse_protocol({"count_away_episodes": False})
    assert (p.count_away_long_missing, p.count_away_persistence) == (False, False)
    p = parse_protocol({"count_away_episodes": False, "count_away_long_missing": True})
    assert (p.count_away_long_missing, p.count_away_persistence) == (True, False)
    p = parse_protocol({"count_away_persistence": False})
    assert (p.count_away_long_missing, p.count_away_persistence) == (True, False)


def test_away_episode_long_missing_alert_says_away_and_since_when(services, slack_stub, clock):
    services.protocol = Protocol(count_away_persistence=False)
    child(services, "C100", "AB")
    start = clock.now - timedelta(hours=2)  # reported two hours after the child left
    report(services, "C100", start, away=True)
    clock.set(start + timedelta(hours=24))
    sweep(services)
    [post] = alert_posts(slack_stub)
    assert post["text"] == "Away from placement for 24 hours since Thu 19 Nov 2026 08:00 GMT: C100 (AB)"
    assert "*Away from placement since:* Thu 19 Nov 2026 08:00 GMT" in body(post)


def test_away_episodes_raise_no_long_missing_alert_when_the_file_says_so(services, slack_stub, clock):
    services.protocol = Protocol(count_away_long_missing=False)
    child(services, "C110", "AC")
    child(services, "C111", "AD")
    report(services, "C110", clock.now, away=True)
    report(services, "C111", clock.now)
    clock.advance(hours=73)
    sweep(services)
    assert sorted(texts(alert_posts(slack_stub))) == [
        "Missing for 24 hours since Thu 19 Nov 2026 10:00 GMT: C111 (AD)",
        "Missing for 72 hours since Thu 19 Nov 2026 10:00 GMT: C111 (AD)",
    ]


def three_with_one_away(services, clock, ref: str) -> None:
    t0 = clock.now
    for day, away in ((0, False), (5, True), (10, False)):
        clock.set(t0 + timedelta(days=day))
        report(services, ref, clock.now, away=away)
        clock.advance(hours=2)
        found(services, ref, clock.now)
        interview(services, ref, clock.now)


def test_persistence_counts_away_episodes_only_when_the_file_says_so(services, slack_stub, clock):
    services.protocol = Protocol(persistence=[{"episodes": 3, "days": 30, "action": "missing intervention planning meeting"}],
                                 count_away_persistence=False)
    child(services, "C120", "AE")
    three_with_one_away(services, clock, "C120")
    sweep(services)
    assert alert_posts(slack_stub) == []
    with services.sessions() as s:
        assert s.scalars(select(Alert).where(Alert.rule == "persistence")).all() == []

    services.protocol = Protocol(persistence=[{"episodes": 3, "days": 30, "action": "missing intervention planning meeting"}])
    child(services, "C121", "AF")
    clock.advance(days=40)
    three_with_one_away(services, clock, "C121")
    deliver_due(services)
    [post] = alert_posts(slack_stub)
    assert post["text"] == "3 episodes in 30 days: C121 (AF)"
    assert "brings the count to 3 within 30 days (1 of them away from placement)" in body(post)


# -- one message per crossing ----------------------------------------------------------------------
def test_one_crossing_of_two_rules_is_one_message_acknowledged_as_one(services, slack_stub, clock):
    from handlers.slack.app import build_app

    services.on_enqueued = lambda: deliver_due(services)
    bolt = build_app(services)
    child(services, "C130", "AG", worker=WORKER)
    t0 = clock.now
    for day in (0, 8, 19):
        clock.set(t0 + timedelta(days=day))
        report(services, "C130", clock.now)
        clock.advance(hours=3)
        found(services, "C130", clock.now)
        interview(services, "C130", clock.now)
    deliver_due(services)
    [post] = alert_posts(slack_stub)
    [dm] = alert_posts(slack_stub, WORKER)
    assert post["text"] == dm["text"] == "3 episodes in 30 days and 3 in 90 days: C130 (AG)"
    text = body(post)
    assert "brings the count to 3 within 30 days and 3 within 90 days" in text
    assert ("*The protocol asks:*\n• missing intervention planning meeting (3 in 30 days)\n"
            "• strategy meeting (3 in 90 days)") in text
    with services.sessions() as s:
        rows = list(s.scalars(select(Alert).where(Alert.rule == "persistence").order_by(Alert.id)))
    assert [a.variant for a in rows] == ["3in30d", "3in90d"]
    assert rows[1].detail["announced_with"] == rows[0].key

    # a later sweep neither re-fires a rule nor posts again
    clock.advance(minutes=5)
    assert sweep(services).enqueued == 0
    assert len(alert_posts(slack_stub)) == 1

    ack = next(el for b in post["blocks"] if b["type"] == "actions" for el in b["elements"]
               if el["action_id"] == "alert_ack")
    assert ack["value"] == str(rows[0].id)
    ts = next(r.sent_ref for r in outbox(services) if r.kind == "alert.persistence" and r.address == ALERT_CHANNEL)
    resp = dispatch(bolt, block_actions_body("alert_ack", ack["value"], message_ts=ts))
    assert resp.status == 200
    with services.sessions() as s:
        assert [a.acknowledged_by for a in s.scalars(select(Alert).where(Alert.rule == "persistence"))] == \
            [DUTY_USER, DUTY_USER]
        assert len(s.scalars(select(AuditRecord).where(AuditRecord.action == "alert.acknowledge")).all()) == 1
    for update in slack_stub.posts("chat.update"):
        assert "• strategy meeting (3 in 90 days)" in json.dumps(update["blocks"], ensure_ascii=False)
        assert f"Acknowledged by <@{DUTY_USER}>" in json.dumps(update["blocks"], ensure_ascii=False)


# -- replies in words ------------------------------------------------------------------------------
def test_replies_status_and_open_use_words_and_say_away(app, services, slack_stub, clock):
    reply = command(app, "child C140 label AH looked-after yes placement la_residential")["text"]
    assert "LA residential" in reply and "la_residential" not in reply and "la residential" not in reply
    command(app, "child C141 label AI placement semi_independent")
    command(app, "report C140 at 2026-11-10 20:00 risk no_apparent_risk")
    command(app, "found C140 at 2026-11-11 06:00")
    reply = command(app, "report C140 at 3h ago away risk none")["text"]
    assert "away from placement since" in reply and "Risk no apparent risk." in reply
    command(app, "report C141 at 1h ago")

    status = command(app, "status C140")["text"]
    assert "*Away from placement now* for 3h 0m" in status
    assert "semi_independent" not in status and "LA residential" in status
    assert "Of these, away from placement: 1 in 30 days, 1 in 90 days." in status
    assert "Thu 19 Nov 2026 07:00 GMT away from placement, still open" in status

    services.protocol = Protocol(count_away_persistence=False)
    status = command(app, "status C140")["text"]
    assert "they do not count toward the persistence thresholds" in status

    reply = command(app, "child C141 placement foster looked-after yes")["text"]
    assert reply.endswith("looked after now yes, placement type now foster care.")

    open_text = command(app, "open")["text"]
    assert open_text.startswith("*1 child missing now and 1 child away from placement now*")
    assert "C140 (AH), away from placement: 3h 0m" in open_text and "C141 (AI), missing: 1h 0m" in open_text
    assert "no_apparent_risk" not in open_text and "risk no apparent risk" in open_text


def test_an_interview_covering_an_earlier_return_says_whether_that_one_was_in_time(app, services, slack_stub, clock):
    command(app, "child C150 label AJ")
    command(app, "report C150 at 2026-11-14 10:00")
    command(app, "found C150 at 2026-11-14 20:00")  # due by 17 Nov 20:00: passed by the interview
    command(app, "report C150 at 2026-11-17 10:00")
    command(app, "found C150 at 2026-11-17 22:00")  # due by 20 Nov 22:00
    reply = command(app, "interview C150 completed at 2026-11-19 09:00")["text"]
    assert "(within timescale)" in reply
    assert ("Also recorded for the earlier return of Sat 14 Nov 2026 20:00 GMT, which was still owed an interview: "
            "*outside the timescale* for it (was due by Tue 17 Nov 2026 20:00 GMT).") in reply

    command(app, "child C151 label AK")
    command(app, "report C151 at 2026-11-18 08:00")
    command(app, "found C151 at 2026-11-18 09:00")
    command(app, "report C151 at 2026-11-18 12:00")
    command(app, "found C151 at 2026-11-18 13:00")
    reply = command(app, "interview C151 completed at 2026-11-19 09:30")["text"]
    assert "which was still owed an interview: within timescale for it too (due by Sat 21 Nov 2026 09:00 GMT)." in reply


# -- agendas --------------------------------------------------------------------------------------
def _info(ref, start, end, etype="missing", **kw):
    c = ag.ChildInfo(ref=ref, label="ZZ", looked_after=True, placement_type="semi_independent")
    return ag.EpisodeInfo(id=hash((ref, start)) % 10**6, child=c, started_at=start, returned_at=end,
                          episode_type=etype, placement_type="semi_independent", **kw)


def test_agenda_says_away_and_counts_as_the_protocol_file_says():
    t = lambda d, h=10: datetime(2026, 12, d, h, tzinfo=UTC)  # noqa: E731
    eps = [_info("A1", t(1), t(1, 12)), _info("A1", t(3), t(3, 12), "away"), _info("A1", t(5), t(5, 12)),
           _info("B2", t(6), t(8), "away"), _info("B2", t(12), None, "away", risk_grade="no_apparent_risk")]
    kw = dict(series="S", meeting=t(15), period_start=t(1, 0), previous_start=datetime(2026, 11, 1, tzinfo=UTC),
              episodes=eps, actions=[], now=t(14), zone=LONDON)

    a = ag.build_agenda(protocol=Protocol(count_away_long_missing=False), **kw)
    s = {sec.number: sec for sec in a.sections}
    assert s[1].rows[0][2:4] == ["semi-independent", "3 (1 away from placement)"]
    assert s[1].note == "2 children, 5 episodes (3 of them away from placement)."
    assert [r[0] for r in s[2].rows] == ["A1 (ZZ)", "A1 (ZZ)"]  # away counts toward persistence by default
    assert s[3].rows == [["B2 (ZZ)", "away from placement", "Sun 06 Dec 2026 10:00 GMT", "2d 0h",
                          "not required (away from placement)"],
                         ["B2 (ZZ)", "away from placement", "Sat 12 Dec 2026 10:00 GMT", "2d 0h (still away)",
                          "not required (away from placement)"]]
    assert s[5].rows == [["B2 (ZZ)", "away from placement", "Sat 12 Dec 2026 10:00 GMT", "2d 0h", "no apparent risk"]]
    assert s[9].rows[1] == ["of which away from placement", "3", "0", "+3"]

    a = ag.build_agenda(protocol=Protocol(count_away_persistence=False), **kw)
    s = {sec.number: sec for sec in a.sections}
    assert s[2].rows == []  # two missing episodes only
    assert s[3].rows[0][-1] == "not recorded"  # away episodes do ask for a strategy meeting here


def test_words_for_every_code():
    assert [words.placement_word(p) for p in words.PLACEMENT_TYPES] == [
        "LA residential", "foster care", "independent residential", "semi-independent", "unregulated", "secure",
        "home", "other"]
    assert [words.risk_word(r) for r in (*words.RISK_GRADES, None)] == [
        "no apparent risk", "low", "medium", "high", "not graded"]
    assert [words.episode_word(e) for e in words.EPISODE_TYPES] == ["missing", "away from placement"]
    assert [words.held_meeting_word(k) for k in words.HELD_MEETING_KINDS] == [
        "strategy meeting", "intervention planning meeting", "strategy discussion"]
    assert [words.outcome_word(o) for o in words.RI_OUTCOMES] == ["completed", "declined", "voided"]
    assert [words.gender_word(g) for g in words.GENDERS] == list(words.GENDERS)
    with pytest.raises(KeyError):
        words.PLACEMENT_WORDS["la residential"]


def test_return_interview_alerts_and_due_say_the_child_was_away(app, services, slack_stub, clock):
    command(app, "child C160 label AL")
    command(app, "report C160 at 2026-11-15 10:00 away")
    command(app, "found C160 at 2026-11-16 09:00")
    assert "C160 (AL) (away from placement): *overdue by" in command(app, "due")["text"]
    sweep(services)
    [post] = [p for p in alert_posts(slack_stub) if p["text"].startswith("Return interview overdue")]
    assert "*What happened:* returned from being away from placement; the return interview deadline" in body(post)
