"""Board figures of what practice records (issue 8): missing vs away, reasons and push/pull factors,
concerns by type, who held the interviews, meetings held and how soon after their alert, withdrawn
episodes counted apart. Invented data; every expectation below was counted by hand from the
tables in this file. Through the pure function, `missing-bot report` and `/missing stats`."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.protocol.config import Protocol
from bot.protocol.figures import EpisodeFact, MeetingFact, compute_figures, one_working_day_after, to_csv, to_markdown
from store.alerts import Alert
from store.models import Child, Episode, HeldMeeting, Outbox
from tests.conftest import ALERT_CHANNEL
from tests.slack import command

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
SECRET = "INVENTED-REASON"  # every reason below starts with it: it must never leave the record


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- the pure function -------------------------------------------------------------------------------
def test_one_working_day_skips_weekends_and_english_bank_holidays():
    # Thu 24 Dec 2026 15:00: Fri 25 Christmas, the weekend, Mon 28 the Boxing Day substitute -> Tue 29 Dec
    assert one_working_day_after(z("2026-12-24 15:00"), LONDON) == z("2026-12-29 15:00")
    # Fri 4 Sep 2026 16:00 BST -> Mon 7 Sep 16:00 BST
    assert one_working_day_after(z("2026-09-04 15:00"), LONDON) == z("2026-09-07 15:00")


def fact(ref, etype, start, hours, **kw):
    started = z(start)
    return EpisodeFact(ref, None, "female", True, "foster_care", etype, started,
                       started + timedelta(hours=hours) if hours is not None else None, **kw)


def test_practice_figures_by_hand():
    facts = [
        fact("P1", "missing", "2026-09-02 10:00", 4, reason_recorded=True, factors=("family_conflict", "peers"),
             cse=True, ri_outcome="completed", ri_at=z("2026-09-03 10:00"), ri_independent=True, ri_signed_off=True),
        fact("P1", "away", "2026-09-10 10:00", 2, factors=("peers", "peers"), cce=True, ri_outcome="completed",
             ri_at=z("2026-09-10 18:00"), ri_independent=False),
        fact("P1", "missing", "2026-09-20 10:00", 1, cse=True, cce=True, ri_outcome="completed",
             ri_at=z("2026-09-25 10:00"), ri_signed_off=True),
        fact("P2", "missing", "2026-10-05 08:00", 1, reason_recorded=True, ri_outcome="declined",
             ri_at=z("2026-10-05 12:00"), ri_independent=True),
        fact("P3", "away", "2026-10-12 08:00", None),
        fact("P3", "missing", "2026-08-20 08:00", 1, factors=("peers",), cse=True),  # before the period
    ]
    meetings = [
        MeetingFact("strategy", z("2026-09-07 08:00"), z("2026-09-04 15:00")),  # 65 h; within (Mon 7 Sep 15:00)
        MeetingFact("ipm", z("2026-09-14 12:00"), z("2026-09-10 12:00")),  # 96 h; later (Fri 11 Sep 12:00)
        MeetingFact("strategy", z("2026-10-01 09:00")),  # recorded without an alert
        MeetingFact("strategy", z("2026-10-06 15:00"), z("2026-10-06 09:00")),  # 6 h; within
        MeetingFact("strategy", z("2026-10-06 08:00"), z("2026-10-06 09:00")),  # before its (late) alert: 0 h
        MeetingFact("strategy", z("2026-11-02 09:00"), z("2026-11-01 09:00")),  # after the period
    ]
    proto = Protocol()
    fig = compute_figures(facts, date(2026, 9, 1), date(2026, 10, 31), LONDON, proto, z("2026-11-20 12:00"),
                          meetings=meetings, withdrawn=4)
    assert fig["episodes"] == 5
    mis, away = fig["by_episode_type"]["missing"], fig["by_episode_type"]["away"]
    assert (mis["episodes"], mis["children"], away["episodes"], away["children"]) == (3, 2, 2, 2)
    assert mis["by_gender"]["female"] == {"children": 2, "episodes": 3}
    assert away["durations"] == {"under_24h": 1, "24h_to_72h": 0, "72h_to_7d": 0, "over_7d": 0, "ongoing": 1}
    # e1 in 24 h, e3 after 5 days, e4 declined; e2 (away) in 8 h, e5 (away) still missing
    assert mis["return_interviews"] == {"in_timescale": 1, "out_of_timescale": 1, "declined": 1, "voided": 0,
                                        "incomplete": 0, "pending": 0}
    assert away["return_interviews"]["in_timescale"] == 1 and away["concerns"] == {"cse": 0, "cce": 1}
    assert fig["reasons"] == {"recorded": 2, "not_recorded": 3}
    pp = fig["push_pull_factors"]
    assert (pp["episodes_with_factors"], pp["episodes_without"]) == (2, 3)
    assert {k: v for k, v in pp["by_factor"].items() if v["episodes"]} == {
        "family_conflict": {"children": 1, "episodes": 1}, "peers": {"children": 1, "episodes": 2}}
    assert fig["concerns_by_type"] == {"cse_only": {"children": 1, "episodes": 1},
                                       "cce_only": {"children": 1, "episodes": 1},
                                       "both": {"children": 1, "episodes": 1},
                                       "none": {"children": 2, "episodes": 2}}
    assert fig["return_interviews_completed"] == {
        "completed": 3, "by_independent_person": {"independent": 1, "not_independent": 1, "not_recorded": 1},
        "signed_off": {"signed_off": 2, "not_signed_off": 1}}
    assert fig["meetings_held"] == {
        "strategy": {"held": 4, "after_alert": 3, "median_hours_after_alert": 6.0, "within_1_working_day": 3,
                     "later": 0},
        "ipm": {"held": 1, "after_alert": 1, "median_hours_after_alert": 96.0, "within_1_working_day": 0,
                "later": 1},
        "discussion": {"held": 0, "after_alert": 0, "median_hours_after_alert": None, "within_1_working_day": 0,
                       "later": 0}}
    assert fig["withdrawn"] == {"episodes": 4}

    rows = list(csv.reader(io.StringIO(to_csv(fig))))
    assert ["Missing episodes", "3"] in rows and ["Away-from-placement episodes", "2"] in rows
    assert ["Withdrawn episodes (recorded in error; counted in nothing above)", "4"] in rows
    assert ["CSE and CCE", "1", "1"] in rows and ["Factor: Peers", "1", "2"] in rows
    assert ["Strategy meeting", "4", "3", "6", "3", "0"] in rows
    assert ["Intervention planning meeting", "1", "1", "96", "0", "1"] in rows
    assert ["By the carer or placement (not independent)", "1"] in rows
    assert "| Under 24 hours | 4 | 3 | 1 |" in to_markdown(fig)  # all, missing, away side by side


# -- through the database: `missing-bot report` and `/missing stats` ------------------------------------
# ref, looked after, type, start (UTC), hours, extra
EPISODES = [
    ("P1", True, "missing", "2026-09-02 10:00", 4,
     dict(reasons=f"{SECRET}-ALPHA", factors=["family_conflict", "peers"], cse_concern=True, ri_outcome="completed",
          ri_at=z("2026-09-03 10:00"), ri_independent=True, ri_signed_off_at=z("2026-09-04 10:00"))),
    ("P1", True, "away", "2026-09-10 10:00", 2,
     dict(factors=["peers"], cce_concern=True, ri_outcome="completed", ri_at=z("2026-09-10 18:00"),
          ri_independent=False)),
    ("P1", True, "missing", "2026-09-20 10:00", 1,
     dict(reasons="   ", cse_concern=True, cce_concern=True, ri_outcome="completed", ri_at=z("2026-09-21 10:00"),
          ri_signed_off_at=z("2026-09-22 10:00"))),
    ("P2", False, "missing", "2026-10-05 08:00", 1, dict(reasons=f"{SECRET}-BETA", factors=[], ri_outcome="declined",
                                                         ri_at=z("2026-10-05 12:00"))),
    ("P3", True, "away", "2026-10-12 08:00", 12, dict()),
    ("P3", True, "missing", "2026-08-20 08:00", 1, dict(factors=["peers"])),  # before the period
    # withdrawn (recorded in error): one in the period, one after it
    ("P2", False, "missing", "2026-10-20 08:00", 1,
     dict(reasons=f"{SECRET}-GAMMA", factors=["exploitation"], cse_concern=True, withdrawn_at=z("2026-10-21 09:00"),
          withdrawn_by="UDUTY00001", withdrawn_reason="wrong child")),
    ("P3", True, "missing", "2026-11-01 08:00", 1, dict(withdrawn_at=z("2026-11-02 09:00"))),
]
# kind, held (UTC), episode index or None, alert raised (UTC) or None
MEETINGS = [
    ("strategy", "2026-09-07 08:00", 0, "2026-09-04 15:00"),  # 65 h, within 1 working day
    ("ipm", "2026-09-14 12:00", 1, "2026-09-10 12:00"),  # 96 h, later
    ("strategy", "2026-10-01 09:00", None, None),  # no alert
    ("strategy", "2026-10-06 15:00", 3, "2026-10-06 09:00"),  # 6 h, within; P2 is not looked after
    ("discussion", "2026-10-20 12:00", 6, "2026-10-20 10:00"),  # about the withdrawn episode: left out
    ("strategy", "2026-11-02 09:00", 4, "2026-11-01 09:00"),  # after the period
]


@pytest.fixture
def seeded(services):
    now = z("2026-08-01 09:00")
    with services.sessions.begin() as s:
        kids = {}
        for ref, la in (("P1", True), ("P2", False), ("P3", True)):
            kids[ref] = Child(child_ref=ref, label=f"L{ref}", gender="female", looked_after=la,
                              placement_type="foster_care", created_at=now, updated_at=now)
            s.add(kids[ref])
        s.flush()
        eps = []
        for ref, la, etype, start, hours, extra in EPISODES:
            e = Episode(child_id=kids[ref].id, episode_type=etype, started_at=z(start), looked_after=la,
                        returned_at=z(start) + timedelta(hours=hours), placement_type="foster_care", created_at=now,
                        updated_at=now, **extra)
            s.add(e)
            s.flush()
            eps.append(e)
        for n, (kind, held, index, raised) in enumerate(MEETINGS):
            e = eps[index] if index is not None else None
            child_id = e.child_id if e is not None else kids["P1"].id
            alert_id = None
            if raised:
                alert = Alert(key=f"test:{n}", rule="long_missing", variant="24h", child_id=child_id,
                              episode_id=e.id if e else None, due_at=z(raised), created_at=z(raised), detail={})
                s.add(alert)
                s.flush()
                alert_id = alert.id
            s.add(HeldMeeting(child_id=child_id, episode_id=e.id if e else None, alert_id=alert_id, kind=kind,
                              held_at=z(held), note="", recorded_by="UDUTY00001", created_at=z(held)))
    return services


def test_report_json_csv_md_through_the_cli(seeded, db_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TIMEZONE", "Europe/London")
    assert main(["report", "--from", "2026-09-01", "--to", "2026-10-31"]) == 0
    fig = json.loads(capsys.readouterr().out)
    assert fig["episodes"] == 5 and fig["children"] == 3  # the withdrawn episode counts in none of it
    assert fig["withdrawn"] == {"episodes": 1}
    assert {k: (v["episodes"], v["children"]) for k, v in fig["by_episode_type"].items()} == {
        "missing": (3, 2), "away": (2, 2)}
    assert fig["reasons"] == {"recorded": 2, "not_recorded": 3}  # whitespace is no reason
    assert {k: v["episodes"] for k, v in fig["push_pull_factors"]["by_factor"].items() if v["episodes"]} == {
        "family_conflict": 1, "peers": 2}
    assert {k: v["episodes"] for k, v in fig["concerns_by_type"].items()} == {
        "cse_only": 1, "cce_only": 1, "both": 1, "none": 2}
    assert fig["concerns"] == {"cse": 2, "cce": 2}
    assert fig["return_interviews_completed"]["by_independent_person"] == {
        "independent": 1, "not_independent": 1, "not_recorded": 1}
    assert fig["return_interviews_completed"]["signed_off"] == {"signed_off": 2, "not_signed_off": 1}
    strategy, ipm, discussion = (fig["meetings_held"][k] for k in ("strategy", "ipm", "discussion"))
    assert strategy == {"held": 3, "after_alert": 2, "median_hours_after_alert": 35.5, "within_1_working_day": 2,
                        "later": 0}
    assert ipm == {"held": 1, "after_alert": 1, "median_hours_after_alert": 96.0, "within_1_working_day": 0,
                   "later": 1}
    assert discussion["held"] == 0

    assert main(["report", "--from", "2026-09-01", "--to", "2026-10-31", "--looked-after-only"]) == 0
    la = json.loads(capsys.readouterr().out)
    assert la["episodes"] == 4 and la["withdrawn"] == {"episodes": 0}  # P2 was not looked after
    assert la["meetings_held"]["strategy"]["held"] == 2  # P2's meeting of 6 Oct left out

    for fmt in ("csv", "md"):
        assert main(["report", "--from", "2026-09-01", "--to", "2026-10-31", "--format", fmt]) == 0
        text = capsys.readouterr().out
        assert SECRET not in text
        assert "Withdrawn episodes" in text and "Strategy meeting" in text and "Peers" in text


def test_stats_in_slack_says_the_new_figures_and_never_a_reason(seeded, app, slack_stub):
    reply = command(app, "stats 2026-09-01 2026-10-31")["text"]
    assert "5 episodes, 3 children" in reply
    assert ("Missing 3 episodes (2 children); away from placement 2 (2 children). "
            "Withdrawn as recorded in error (not counted): 1.") in reply
    assert "Concerns by type: CSE only 1, CCE only 1, both 1." in reply
    assert "Reason recorded for 2 of 5 episodes; push/pull factors for 2." in reply
    assert "Factors: peers 2, family conflict 1." in reply
    assert ("Completed return interviews 3: by an independent person 1, by the carer or placement 1, "
            "not recorded 1; signed off 2.") in reply
    assert ("Meetings held: strategy meetings 3 (median 35.5 h after the alert, 2 of 2 within 1 working day); "
            "intervention planning meetings 1 (median 96 h after the alert, 0 of 1 within 1 working day).") in reply
    [summary] = [p for p in slack_stub.posts() if p.get("channel") == ALERT_CHANNEL and "Missing 3 episodes" in p["text"]]
    assert "Meetings held: strategy meetings 3" in summary["text"]
    # no reason text anywhere Slack was sent anything, nor in any queued message or file
    assert SECRET not in json.dumps([c.args for c in slack_stub.calls], ensure_ascii=False, default=repr)
    with seeded.sessions() as s:
        for row in s.scalars(select(Outbox)):
            assert SECRET not in row.text and SECRET not in json.dumps(row.payload or {})
