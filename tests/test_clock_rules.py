"""The clock's pure rules at their boundaries (bot/protocol/clock.py): no database, no Slack."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.protocol import clock as rules
from bot.protocol.config import PersistenceRule, Protocol, ProtocolError, parse_protocol

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
P = Protocol()
R30, R90 = P.persistence


def utc(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


def london(*a) -> datetime:
    return datetime(*a, tzinfo=LONDON).astimezone(UTC)


def keys(dues) -> list[str]:
    return [d.key for d in dues]


# -- return interviews -------------------------------------------------------------------------
RET = utc(2026, 11, 16, 14, 30)
EP = rules.Ep(id=7, child_id=1, started_at=utc(2026, 11, 16, 9, 0), returned_at=RET)
DEADLINE = RET + timedelta(hours=72)


def test_reminder_at_24h_left_not_a_minute_before():
    assert rules.interview_due(EP, P, DEADLINE - timedelta(hours=24, minutes=1)) == []
    due = rules.interview_due(EP, P, DEADLINE - timedelta(hours=24))
    assert keys(due) == ["ri_reminder:24h:ep:7"]
    assert due[0].at == DEADLINE - timedelta(hours=24)


def test_overdue_at_deadline_not_a_minute_before():
    assert keys(rules.interview_due(EP, P, DEADLINE - timedelta(minutes=1))) == ["ri_reminder:24h:ep:7"]
    due = rules.interview_due(EP, P, DEADLINE)
    assert keys(due) == ["ri_overdue:ep:7:0"] and due[0].at == DEADLINE


def test_daily_repeat_at_each_24h_and_only_the_latest():
    assert keys(rules.interview_due(EP, P, DEADLINE + timedelta(hours=23, minutes=59))) == ["ri_overdue:ep:7:0"]
    assert keys(rules.interview_due(EP, P, DEADLINE + timedelta(hours=24))) == ["ri_overdue:ep:7:1"]
    # three days of downtime: one alert, the latest occurrence, not a burst of old ones
    late = rules.interview_due(EP, P, DEADLINE + timedelta(days=3, hours=5))
    assert keys(late) == ["ri_overdue:ep:7:3"] and late[0].at == DEADLINE + timedelta(days=3)


def test_outcome_stops_reminders_and_repeats_end_after_the_configured_days():
    done = rules.Ep(**{**EP.__dict__, "ri_outcome": "completed"})
    assert rules.interview_due(done, P, DEADLINE + timedelta(days=1)) == []
    assert rules.interview_due(EP, P, DEADLINE + timedelta(days=P.overdue_reminder_days) - timedelta(minutes=1))
    assert rules.interview_due(EP, P, DEADLINE + timedelta(days=P.overdue_reminder_days)) == []
    still_open = rules.Ep(id=8, child_id=1, started_at=RET)
    assert rules.interview_due(still_open, P, RET + timedelta(days=10)) == []


def test_deadline_is_elapsed_hours_across_the_clock_change():
    # Returned 12:00 BST on Sat 24 Oct 2026; clocks go back on Sun 25 Oct: due 11:00 GMT Tue 27 Oct.
    ep = rules.Ep(id=9, child_id=1, started_at=london(2026, 10, 24, 8, 0), returned_at=london(2026, 10, 24, 12, 0))
    deadline = rules.ri_deadline(ep.returned_at, P)
    assert deadline == london(2026, 10, 27, 11, 0)
    assert keys(rules.interview_due(ep, P, london(2026, 10, 27, 10, 59))) == ["ri_reminder:24h:ep:9"]
    assert keys(rules.interview_due(ep, P, london(2026, 10, 27, 11, 0))) == ["ri_overdue:ep:9:0"]


def test_several_reminder_offsets_only_the_latest_passed():
    p = Protocol(interview_reminder_hours_before=[48, 24])
    assert keys(rules.interview_due(EP, p, DEADLINE - timedelta(hours=30))) == ["ri_reminder:48h:ep:7"]
    assert keys(rules.interview_due(EP, p, DEADLINE - timedelta(hours=2))) == ["ri_reminder:24h:ep:7"]


# -- long missing ------------------------------------------------------------------------------
START = utc(2026, 11, 18, 22, 15)
OPEN = rules.Ep(id=3, child_id=2, started_at=START)


def test_long_missing_23_59_against_24_00_and_72_h():
    assert rules.long_missing_due(OPEN, P, START + timedelta(hours=23, minutes=59)) == []
    due = rules.long_missing_due(OPEN, P, START + timedelta(hours=24))
    assert keys(due) == ["long_missing:24h:ep:3"] and due[0].detail["action"] == "strategy meeting required"
    assert keys(rules.long_missing_due(OPEN, P, START + timedelta(hours=71, minutes=59))) == ["long_missing:24h:ep:3"]
    assert keys(rules.long_missing_due(OPEN, P, START + timedelta(hours=72))) == [
        "long_missing:24h:ep:3", "long_missing:72h:ep:3"]


def test_long_missing_is_elapsed_hours_across_spring_forward():
    # Reported 02:30 GMT... clocks go forward at 01:00 UTC on 29 Mar 2026: 24 h later is 03:30 BST.
    ep = rules.Ep(id=4, child_id=2, started_at=utc(2026, 3, 28, 2, 30))
    assert rules.long_missing_due(ep, P, london(2026, 3, 29, 3, 29)) == []
    assert keys(rules.long_missing_due(ep, P, london(2026, 3, 29, 3, 30))) == ["long_missing:24h:ep:4"]


def test_long_missing_ends_with_the_episode_and_away_follows_the_flag():
    closed = rules.Ep(id=3, child_id=2, started_at=START, returned_at=START + timedelta(hours=30))
    assert rules.long_missing_due(closed, P, START + timedelta(hours=40)) == []
    away = rules.Ep(id=5, child_id=2, started_at=START, episode_type="away")
    assert rules.long_missing_due(away, P, START + timedelta(hours=24))
    assert rules.long_missing_due(away, Protocol(count_away_episodes=False), START + timedelta(hours=24)) == []


# -- persistence -------------------------------------------------------------------------------
def eps(*starts: datetime, child_id: int = 1, types: tuple[str, ...] = ()) -> list[rules.Ep]:
    return [rules.Ep(id=i + 1, child_id=child_id, started_at=s, returned_at=s + timedelta(hours=2),
                     episode_type=types[i] if i < len(types) else "missing") for i, s in enumerate(starts)]


def due30(episodes, now, last=None, protocol=P):
    return rules.persistence_due(1, episodes, R30, protocol, LONDON, now, last)


def test_two_episodes_no_alert_three_alert():
    a, b, c = utc(2026, 11, 1, 10), utc(2026, 11, 10, 10), utc(2026, 11, 19, 10)
    assert due30(eps(a, b), c) is None
    due = due30(eps(a, b, c), c)
    assert due is not None and due.episode_id == 3 and due.at == c and due.detail["count"] == 3
    assert due.key == f"persistence:3in30d:child:1:{c.isoformat()}"


def test_window_edge_exactly_30_days_is_outside():
    a = utc(2026, 11, 1, 10)
    c_in = a + timedelta(days=30) - timedelta(minutes=1)
    assert due30(eps(a, utc(2026, 11, 15), c_in), c_in) is not None
    c_out = a + timedelta(days=30)
    assert due30(eps(a, utc(2026, 11, 15), c_out), c_out) is None  # (t - 30 days, t]: a has left
    # the 90-day rule still sees three
    assert rules.persistence_due(1, eps(a, utc(2026, 11, 15), c_out), R90, P, LONDON, c_out, None) is not None


def test_window_is_calendar_days_across_the_autumn_change():
    # First episode 10:00 BST 28 Sep; 30 days later is 10:00 GMT 28 Oct, 30 days and 1 hour elapsed.
    a = london(2026, 9, 28, 10, 0)
    b = london(2026, 10, 10, 10, 0)
    just_in = london(2026, 10, 28, 9, 59)  # 30 days elapsed (+59 min) but before 10:00 local
    assert just_in - a > timedelta(days=30)
    assert due30(eps(a, b, just_in), just_in) is not None
    at_ten = london(2026, 10, 28, 10, 0)
    assert due30(eps(a, b, at_ten), at_ten) is None


def test_window_is_calendar_days_across_the_spring_change():
    # First episode 10:00 GMT 10 Mar; 30 days later is 10:00 BST 9 Apr, only 29 d 23 h elapsed.
    a = london(2026, 3, 10, 10, 0)
    b = london(2026, 3, 20, 10, 0)
    before_ten = london(2026, 4, 9, 9, 59)
    assert due30(eps(a, b, before_ten), before_ten) is not None
    at_ten = london(2026, 4, 9, 10, 0)
    assert at_ten - a < timedelta(days=30)  # in elapsed time it would still be inside
    assert due30(eps(a, b, at_ten), at_ten) is None


def test_fires_once_per_crossing_and_rearms_only_after_falling_below():
    s = [utc(2026, 1, 1), utc(2026, 1, 5), utc(2026, 1, 9)]
    first = due30(eps(*s), s[2])
    assert first is not None
    # a fourth episode while still at 3+: no new alert
    s4 = s + [utc(2026, 1, 20)]
    assert due30(eps(*s4), s4[3], last=first.at) is None
    # count falls to 1 by mid-February, then rises to 3 again: a new crossing, a new key
    s7 = s4 + [utc(2026, 3, 1), utc(2026, 3, 5), utc(2026, 3, 9)]
    again = due30(eps(*s7), s7[-1], last=first.at)
    assert again is not None and again.at == s7[-1] and again.key != first.key
    # still above after a 2nd, overlapping count drop? (count 2 -> 3 -> still 3): nothing more
    assert due30(eps(*s7), utc(2026, 3, 10), last=again.at) is None


def test_back_dated_episode_does_not_fire_the_same_crossing_twice():
    a, b, c = utc(2026, 11, 1), utc(2026, 11, 10), utc(2026, 11, 19)
    first = due30(eps(a, b, c), c)
    # an episode between a and b is recorded late: the crossing moves to it, earlier than `first`
    late = eps(a, utc(2026, 11, 5), b, c)
    assert due30(late, utc(2026, 11, 20), last=first.at) is None


def test_stale_crossing_not_alerted_once_the_count_has_fallen():
    history = eps(utc(2025, 1, 1), utc(2025, 1, 2), utc(2025, 1, 3))  # imported, long ago
    assert due30(history, utc(2026, 11, 19)) is None
    recent = eps(utc(2026, 11, 1), utc(2026, 11, 2), utc(2026, 11, 3))  # imported, still current
    assert due30(recent, utc(2026, 11, 19)) is not None


def test_away_episodes_count_only_when_configured():
    three = eps(utc(2026, 11, 1), utc(2026, 11, 5), utc(2026, 11, 9), types=("missing", "away", "missing"))
    assert due30(three, utc(2026, 11, 9)) is not None
    assert due30(three, utc(2026, 11, 9), protocol=Protocol(count_away_episodes=False)) is None


# -- high risk ---------------------------------------------------------------------------------
def test_high_risk_on_report_and_regrade_not_on_high_to_high():
    ep = rules.Ep(id=1, child_id=1, started_at=START, risk_grade="high")
    now = START + timedelta(minutes=5)
    assert rules.high_risk_due(ep, P, None, now).key == f"high_risk:ep:1:{now.isoformat()}"
    assert rules.high_risk_due(ep, P, "medium", now) is not None
    assert rules.high_risk_due(ep, P, "high", now) is None
    assert rules.high_risk_due(rules.Ep(id=1, child_id=1, started_at=START, risk_grade="medium"), P, None, now) is None
    assert rules.high_risk_due(ep, Protocol(high_risk_alert=False), None, now) is None


# -- protocol file -----------------------------------------------------------------------------
def test_protocol_file_errors_name_the_key():
    with pytest.raises(ProtocolError, match="key overdue_reminder_days"):
        parse_protocol({"overdue_reminder_days": 0})
    with pytest.raises(ProtocolError, match="long_missing_hours: 0"):
        parse_protocol({"long_missing_hours": [0, 72]})
    with pytest.raises(ProtocolError, match=r"key persistence\.0\.episodes"):
        parse_protocol({"persistence": [{"episodes": 1, "days": 30, "action": "x"}]})
    p = parse_protocol({"persistence": [{"episodes": 4, "days": 28, "action": "review"}], "count_away_episodes": False})
    assert p.persistence == [PersistenceRule(episodes=4, days=28, action="review")] and not p.count_away_episodes


def test_protocol_file_round_trip_and_a_bad_file_names_the_key(tmp_path):
    from bot.protocol.config import load_protocol

    good = tmp_path / "protocol.toml"
    good.write_text('interview_hours = 72\ninterview_reminder_hours_before = [48, 24]\noverdue_repeat_hours = 24\n'
                    'overdue_reminder_days = 14\nlong_missing_hours = [24, 72]\n'
                    'long_missing_actions = ["strategy meeting required", "escalate to head of service"]\n'
                    'count_away_episodes = false\n\n[[persistence]]\nepisodes = 3\ndays = 30\n'
                    'action = "missing intervention planning meeting"\n', encoding="utf-8")
    p = load_protocol(good)
    assert p.interview_reminder_hours_before == [48, 24] and p.overdue_reminder_days == 14
    assert [rules.rule_name(r) for r in p.persistence] == ["3in30d"] and not p.count_away_episodes
    bad = tmp_path / "bad.toml"
    bad.write_text("interview_hours = 72\ninterview_reminder_hours_before = [80]\n", encoding="utf-8")
    with pytest.raises(ProtocolError) as err:
        load_protocol(bad)
    assert str(err.value.code).count("\n") == 0
    assert "interview_reminder_hours_before: 80 must be between 1 and interview_hours - 1" in str(err.value.code)
    typo = tmp_path / "typo.toml"
    typo.write_text("interview_hour = 72\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match="key interview_hour: Extra inputs are not permitted"):
        load_protocol(typo)
