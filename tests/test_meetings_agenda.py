"""The agenda of a seeded month, section by section, against figures worked out by hand.

Invented data. The series meets on the third Thursday (15 Oct, 19 Nov, 17 Dec 2026); the
agenda of Thu 17 Dec 2026 is built two working days before, Tue 15 Dec 09:00 GMT, and reviews
from where the previous meeting's agenda stopped (Tue 17 Nov 09:00 GMT) to then. The previous
period is Tue 13 Oct 09:00 BST to Tue 17 Nov 09:00 GMT."""
from __future__ import annotations

from bot.render_agenda import agenda_message
from handlers.slack.render import blocks_of
from bot.messages import Person
import json
import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.protocol import agenda as ag
from bot.protocol import meetings as pm
from bot.protocol.config import Protocol
from store import meetings as sm
from store.models import Child, Episode, HeldMeeting

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
MEETING = datetime(2026, 12, 17, 10, 0, tzinfo=LONDON)
BUILD = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)


def t(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


CHILDREN = {  # ref: (label, looked after, placement)
    "T100": ("AA", True, "foster_care"),
    "T200": ("BB", True, "la_residential"),
    "T300": ("CC", False, "home"),
    "T400": ("DD", False, "home"),
    "T500": ("EE", True, "foster_care"),
}
EPISODES = [  # ref, start, return, extra
    ("T100", t(11, 20, 22), t(11, 21, 8), dict(risk_grade="medium", found_location="Bus Station", ri_outcome="completed", ri_at=t(11, 22, 10))),
    ("T100", t(11, 28, 20), t(11, 30, 9), dict(risk_grade="high", found_location="bus  station ", cse_concern=True,
                                                held=("strategy", t(11, 29, 12)))),
    ("T100", t(12, 5, 18), t(12, 5, 23), dict(risk_grade="low", found_location="Friend's house", ri_outcome="declined", ri_at=t(12, 6, 12))),
    ("T200", t(10, 20, 10), t(10, 20, 18), dict(risk_grade="low", found_location="Home", ri_outcome="completed", ri_at=t(10, 21, 12))),
    ("T200", t(11, 25, 15), t(11, 26, 1), dict(risk_grade="low", found_location="Bus Station", cce_concern=True)),
    ("T200", t(12, 10, 12), t(12, 14, 12), dict()),
    ("T300", t(11, 1, 12), t(11, 1, 20), dict(risk_grade="high", found_location="Park", ri_outcome="completed", ri_at=t(11, 5, 12))),
    ("T300", t(11, 18, 22), t(11, 19, 14), dict(risk_grade="medium", found_location="Park", ri_outcome="completed", ri_at=t(11, 20, 10))),
    ("T400", t(12, 13, 21), None, dict(risk_grade="high")),
    ("T500", t(10, 30, 10), t(11, 2, 10), dict(risk_grade="low", found_location="Town Centre", cce_concern=True)),
]


@pytest.fixture
def seeded(services):
    now = t(11, 1)
    with services.sessions.begin() as s:
        ids = {}
        for ref, (label, lac, placement) in CHILDREN.items():
            c = Child(child_ref=ref, label=label, looked_after=lac, placement_type=placement, created_at=now, updated_at=now)
            s.add(c)
            s.flush()
            ids[ref] = c.id
        for ref, start, end, extra in EPISODES:
            extra = dict(extra)
            held = extra.pop("held", None)
            e = Episode(child_id=ids[ref], started_at=start, returned_at=end, placement_type=CHILDREN[ref][2],
                        created_at=now, updated_at=now, **extra)
            s.add(e)
            if held:
                s.flush()
                s.add(HeldMeeting(child_id=ids[ref], episode_id=e.id, kind=held[0], held_at=held[1],
                                  recorded_by="UDUTY00001", created_at=held[1]))
        series, _ = sm.save_series(s, pm.SeriesConfig(first_date=date(2026, 10, 15)), actor="UADMIN0001", now=t(10, 1))
        sm.add_action(s, child=s.get(Child, ids["T100"]), text="Refer to youth alliance", owner="U0OWNER01",
                      due_on=date(2026, 12, 1), actor="UADMIN0001", now=t(11, 19, 11), series=series)
        sm.add_action(s, child=None, text="Map hot spots with police", owner="U0OWNER02", due_on=date(2026, 12, 20),
                      actor="UADMIN0001", now=t(11, 19, 11), series=series)
        done = sm.add_action(s, child=None, text="Done already", owner="U0OWNER02", due_on=date(2026, 12, 1),
                             actor="UADMIN0001", now=t(11, 19, 11), series=series)
        sm.complete_action(s, done, actor="UADMIN0001", now=t(11, 30))
        series_id = series.id
    return services, series_id


def built(seeded) -> ag.Agenda:
    services, series_id = seeded
    with services.sessions() as s:
        return sm.build_agenda(s, s.get(sm.MeetingSeries, series_id), MEETING, protocol=services.protocol, now=BUILD)


def rows(agenda: ag.Agenda, n: int) -> list[list[str]]:
    return agenda.sections[n - 1].rows


def test_period_and_lead_time(seeded):
    assert pm.agenda_due_at(pm.SeriesConfig(), MEETING) == BUILD
    a = built(seeded)
    assert a.period_start == datetime(2026, 11, 17, 9, 0, tzinfo=UTC)  # the 19 Nov meeting's agenda build
    assert a.period_end == BUILD
    assert [s.number for s in a.sections] == list(range(1, 10))


def test_section_1_children_missing_looked_after_first(seeded):
    a = built(seeded)
    assert rows(a, 1) == [
        ["T100 (AA)", "yes", "foster care", "3", "1d 13h", "high", "completed 1, declined 1, overdue 1"],
        ["T200 (BB)", "yes", "LA residential", "2", "4d 0h", "low", "due 1, overdue 1"],
        ["T300 (CC)", "no", "home", "1", "16h 0m", "medium", "completed 1"],
        ["T400 (DD)", "no", "home", "1", "1d 12h (still missing)", "high", "still missing 1"],
    ]
    assert a.sections[0].note == "4 children, 7 episodes."


def test_section_2_persistence_crossings(seeded):
    assert rows(built(seeded), 2) == [
        ["T100 (AA)", "3 in 30 days: missing intervention planning meeting", "Sat 05 Dec 2026 18:00 GMT", "3"],
        ["T100 (AA)", "3 in 90 days: strategy meeting", "Sat 05 Dec 2026 18:00 GMT", "3"],
        ["T200 (BB)", "3 in 90 days: strategy meeting", "Thu 10 Dec 2026 12:00 GMT", "3"],
    ]


def test_section_3_episodes_over_24_hours(seeded):
    assert rows(built(seeded), 3) == [
        ["T100 (AA)", "missing", "Sat 28 Nov 2026 20:00 GMT", "1d 13h", "strategy meeting held Sun 29 Nov 2026 12:00 GMT"],
        ["T200 (BB)", "missing", "Thu 10 Dec 2026 12:00 GMT", "4d 0h", "not recorded"],
        ["T400 (DD)", "missing", "Sun 13 Dec 2026 21:00 GMT", "1d 12h (still missing)", "not recorded"],
    ]


def test_section_4_return_interviews(seeded):
    assert rows(built(seeded), 4) == [
        ["T500 (EE)", "Mon 02 Nov 2026 10:00 GMT", "Thu 05 Nov 2026 10:00 GMT", "overdue by 39d 23h"],
        ["T200 (BB)", "Thu 26 Nov 2026 01:00 GMT", "Sun 29 Nov 2026 01:00 GMT", "overdue by 16d 8h"],
        ["T100 (AA)", "Mon 30 Nov 2026 09:00 GMT", "Thu 03 Dec 2026 09:00 GMT", "overdue by 12d 0h"],
        ["T200 (BB)", "Mon 14 Dec 2026 12:00 GMT", "Thu 17 Dec 2026 12:00 GMT", "due in 2d 3h"],
    ]


def test_section_5_still_missing(seeded):
    assert rows(built(seeded), 5) == [["T400 (DD)", "missing", "Sun 13 Dec 2026 21:00 GMT", "1d 12h", "high"]]


def test_section_6_where_found(seeded):
    a = built(seeded)
    assert rows(a, 6) == [["Bus Station", "3", "2"], ["Friend's house", "1", "1"], ["Park", "1", "1"]]
    assert a.sections[5].note == "Not recorded for 1 return."


def test_section_7_cse_cce(seeded):
    assert rows(built(seeded), 7) == [["T100 (AA)", "yes", "no", "1"], ["T200 (BB)", "no", "yes", "1"]]


def test_section_8_open_actions(seeded):
    assert [r[1:] for r in rows(built(seeded), 8)] == [
        ["T100 (AA)", "Refer to youth alliance", Person("U0OWNER01"), "Tue 01 Dec 2026 (overdue)"],
        ["general", "Map hot spots with police", Person("U0OWNER02"), "Sun 20 Dec 2026"],
    ]


def test_section_9_headline_against_previous_period(seeded):
    a = built(seeded)
    assert rows(a, 9) == [
        ["Episodes started", "7", "3", "+4"],  # T300's of 18 Nov is in this period now
        ["of which away from placement", "0", "0", "0"],
        ["Children", "4", "3", "+1"],
        ["Looked-after children", "2", "2", "0"],
        ["Children with 3+ episodes", "1", "0", "+1"],
        ["High-risk episodes", "2", "1", "+1"],
        ["Episodes over 24 hours", "3", "1", "+2"],
        ["CSE/CCE concerns", "2", "1", "+1"],
        ["Returns in the period", "6", "3", "+3"],
        ["Return interviews within 72 h", "2", "1", "+1"],
    ]
    assert a.sections[8].note == "Previous period Tue 13 Oct 2026 09:00 BST to Tue 17 Nov 2026 09:00 GMT."


def test_renderings_carry_only_reference_and_label(seeded):
    a = built(seeded)
    md, page, blocks = ag.to_markdown(a), ag.to_html(a), json.dumps(blocks_of(agenda_message(a)))
    for text in (md, page, blocks):
        assert "T100 (AA)" in text and "T400 (DD)" in text
    assert "| T100 (AA) | yes | foster care | 3 | 1d 13h | high | completed 1, declined 1, overdue 1 |" in md
    assert "<td>Friend&#x27;s house</td>" in page and page.startswith("<!DOCTYPE html>")
    assert "## 9. Headline figures" in md


def test_cancelled_previous_meeting_widens_the_period(seeded):
    services, series_id = seeded
    with services.sessions.begin() as s:
        series = s.get(sm.MeetingSeries, series_id)
        sm.cancel_occurrence(s, series, datetime(2026, 11, 19, 10, 0, tzinfo=LONDON), actor="UADMIN0001",
                             now=t(11, 1), channel="C0ALERTS01")
    a = built(seeded)
    assert a.period_start == datetime(2026, 10, 13, 8, 0, tzinfo=UTC)  # the 15 Oct agenda: Tue 13 Oct 09:00 BST
    assert len(rows(a, 1)) == 5


# -- scale ------------------------------------------------------------------------------
def test_a_month_of_500_episodes_stays_within_slack_limits():
    rng = random.Random(7)
    start = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    children = [ag.ChildInfo(ref=f"LCS{n:06d}", label=f"Z{n % 97:02d}", looked_after=n % 3 != 0,
                             placement_type=rng.choice(["foster_care", "la_residential", "home", "semi_independent"]))
                for n in range(180)]
    episodes = []
    for i in range(500):
        c = rng.choice(children)
        s = start + timedelta(minutes=rng.randrange(0, 26 * 24 * 60))
        back = None if i % 40 == 0 else s + timedelta(hours=rng.choice([2, 6, 20, 30, 80]))
        episodes.append(ag.EpisodeInfo(id=i, child=c, started_at=s, returned_at=back, risk_grade=rng.choice(list(ag.RISK_ORDER)[1:]),
                                       found_location=f"Place {rng.randrange(60)} <&> \"quoted\"", cse_concern=i % 7 == 0,
                                       cce_concern=i % 11 == 0))
    actions = [ag.ActionInfo(id=n, child=children[n], text="x" * 480, owner_user_id="U0OWNER01",
                             due_on=date(2026, 12, 1), created_at=start) for n in range(60)]
    agenda = ag.build_agenda(series="Missing Children Monitoring Meeting", meeting=MEETING, period_start=start,
                             previous_start=datetime(2026, 10, 15, 9, 0, tzinfo=UTC), episodes=episodes,
                             actions=actions, protocol=Protocol(), now=BUILD, zone=LONDON)
    assert len(agenda.sections[0].rows) > 150
    blocks = blocks_of(agenda_message(agenda))  # the neutral summary, rendered for Slack
    assert len(blocks) <= 50
    for b in blocks:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
    assert any("more. Full agenda attached." in b["text"]["text"] for b in blocks if b["type"] == "section")
    assert len(json.dumps(blocks)) < 40_000
    assert len(ag.summary_text(agenda)) <= 3000
    md = ag.to_markdown(agenda)
    assert all(c.ref in md for c in {e.child for e in episodes})  # the document holds everyone
    assert "&lt;&amp;&gt;" in json.dumps(blocks)  # Slack control characters escaped


def test_an_episode_between_an_agenda_and_its_meeting_is_on_the_next_agenda(seeded):
    # November's agenda is built Tue 17 Nov 09:00; T400 goes missing and comes back on Wed 18 Nov,
    # before November's meeting: too late for that agenda, so December's must carry it.
    services, series_id = seeded
    with services.sessions.begin() as s:
        child = s.scalar(sm.select(Child).where(Child.child_ref == "T400"))
        s.add(Episode(child_id=child.id, started_at=t(11, 18, 9, 30), returned_at=t(11, 18, 12), placement_type="home",
                      created_at=t(11, 18, 13), updated_at=t(11, 18, 13)))
    with services.sessions() as s:
        series = s.get(sm.MeetingSeries, series_id)
        nov = sm.build_agenda(s, series, datetime(2026, 11, 19, 10, 0, tzinfo=LONDON), protocol=services.protocol,
                              now=t(11, 17, 9))
    assert "T400 (DD)" not in [r[0] for r in rows(nov, 1)]
    [dec_row] = [r for r in rows(built(seeded), 1) if r[0] == "T400 (DD)"]
    assert dec_row[3] == "2"  # the 18 Nov episode and the open one of 13 Dec
