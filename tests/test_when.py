"""`parse_when`: examples (including the 2026 clock changes) and hypothesis properties."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.protocol.when import ACCEPTED_FORMS, WhenError, format_examples, parse_when

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
# Friday 20 November 2026, 12:00 GMT (London = UTC in winter).
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Friday 10 July 2026, 12:00 BST (11:00 UTC).
SUMMER = datetime(2026, 7, 10, 11, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def parse(text: str, now: datetime = NOW, **kw) -> datetime:
    return parse_when(text, now, LONDON, **kw)


def refused(text: str, now: datetime = NOW, **kw) -> WhenError:
    with pytest.raises(WhenError) as info:
        parse(text, now, **kw)
    err = info.value
    assert err.message and err.example and str(err) == err.message
    return err


# --- accepted forms -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("now", NOW),
        ("  NOW ", NOW),
        ("11:30", utc(2026, 11, 20, 11, 30)),
        ("9:05", utc(2026, 11, 20, 9, 5)),
        ("09.05", utc(2026, 11, 20, 9, 5)),
        ("00:00", utc(2026, 11, 20, 0, 0)),
        ("11am", utc(2026, 11, 20, 11, 0)),
        ("11:30 AM", utc(2026, 11, 20, 11, 30)),
        ("12am", utc(2026, 11, 20, 0, 0)),
        ("12pm", utc(2026, 11, 20, 12, 0)),
        ("12:04pm", utc(2026, 11, 20, 12, 4)),  # within the 5-minute grace: today
        ("today 10:15", utc(2026, 11, 20, 10, 15)),
        ("Yesterday 22:15", utc(2026, 11, 19, 22, 15)),
        ("yesterday   2:30pm", utc(2026, 11, 19, 14, 30)),
        ("2h ago", utc(2026, 11, 20, 10, 0)),
        ("90m ago", utc(2026, 11, 20, 10, 30)),
        ("1d ago", utc(2026, 11, 19, 12, 0)),
        ("2 hours ago", utc(2026, 11, 20, 10, 0)),
        ("1 hour ago", utc(2026, 11, 20, 11, 0)),
        ("45 mins ago", utc(2026, 11, 20, 11, 15)),
        ("45 minutes ago", utc(2026, 11, 20, 11, 15)),
        ("1h30m ago", utc(2026, 11, 20, 10, 30)),
        ("1h 30m ago", utc(2026, 11, 20, 10, 30)),
        ("1 day 2 hrs ago", utc(2026, 11, 19, 10, 0)),
        ("0m ago", NOW),
        ("2026-11-19 14:30", utc(2026, 11, 19, 14, 30)),
        ("2026-11-19T14:30", utc(2026, 11, 19, 14, 30)),
        ("2026-11-19t14:30:15", utc(2026, 11, 19, 14, 30, 15)),
        ("2026-11-19 2:30pm", utc(2026, 11, 19, 14, 30)),
        ("19/11/2026 14:30", utc(2026, 11, 19, 14, 30)),
        ("19/11/2026, 14:30", utc(2026, 11, 19, 14, 30)),
        ("1/6/2026 9:00", utc(2026, 6, 1, 8, 0)),  # BST
        ("19/11/26 14:30", utc(2026, 11, 19, 14, 30)),
        ("2026-11-19T14:30:00+00:00", utc(2026, 11, 19, 14, 30)),
        ("2026-11-19T14:30:00Z", utc(2026, 11, 19, 14, 30)),
        ("2026-11-19T14:30Z", utc(2026, 11, 19, 14, 30)),
        ("2026-11-19T14:30:00+01:00", utc(2026, 11, 19, 13, 30)),
        ("2026-11-19T14:30:00-05:00", utc(2026, 11, 19, 19, 30)),
        ("2026-11-19T14:30:00.250+0530", datetime(2026, 11, 19, 9, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-20T14:30:00+05:00", utc(2026, 11, 20, 9, 30)),  # exact instant, even if the local day differs
    ],
)
def test_accepted_forms(text, expected):
    got = parse(text)
    assert got == expected
    assert got.tzinfo is UTC


def test_summer_times_are_bst():
    assert parse("10:00", SUMMER) == utc(2026, 7, 10, 9, 0)
    assert parse("yesterday 23:30", SUMMER) == utc(2026, 7, 9, 22, 30)
    assert parse("2026-07-01 00:30", SUMMER) == utc(2026, 6, 30, 23, 30)
    assert parse("01/07/2026 00:30", SUMMER) == utc(2026, 6, 30, 23, 30)


def test_accepted_forms_list_and_examples():
    assert "now" in ACCEPTED_FORMS
    text = format_examples()
    assert all(form in text for form in ACCEPTED_FORMS)


# --- the bare time of day -------------------------------------------------------------------

def test_bare_time_is_the_most_recent_occurrence():
    assert parse("11:59") == utc(2026, 11, 20, 11, 59)  # earlier today
    assert parse("12:00") == NOW  # exactly now
    assert parse("12:05") == utc(2026, 11, 20, 12, 5)  # within the grace: today
    assert parse("12:06") == utc(2026, 11, 19, 12, 6)  # beyond the grace: yesterday
    assert parse("23:59") == utc(2026, 11, 19, 23, 59)
    assert parse("12:06", grace_minutes=10) == utc(2026, 11, 20, 12, 6)
    assert parse("12:01", grace_minutes=0) == utc(2026, 11, 19, 12, 1)


def test_bare_time_uses_the_local_day_not_the_utc_day():
    # 23:30 UTC on 9 July is 00:30 BST on 10 July: "today" is the 10th in London.
    now = utc(2026, 7, 9, 23, 30)
    assert parse("00:10", now) == utc(2026, 7, 9, 23, 10)
    assert parse("23:50", now) == utc(2026, 7, 9, 22, 50)  # 23:50 on the 9th (London), yesterday
    assert parse("today 00:10", now) == utc(2026, 7, 9, 23, 10)
    assert parse("yesterday 00:10", now) == utc(2026, 7, 8, 23, 10)


# --- grace and the future -------------------------------------------------------------------

def test_grace_for_today_and_dates():
    assert parse("today 12:05") == utc(2026, 11, 20, 12, 5)
    assert parse("2026-11-20 12:05") == utc(2026, 11, 20, 12, 5)
    assert parse("2026-11-20T12:05:00Z") == utc(2026, 11, 20, 12, 5)


@pytest.mark.parametrize(
    "text",
    ["today 12:06", "today 23:00", "2026-11-20 14:30", "21/11/2026 09:00", "2027-01-01T00:00:00Z",
     "20/11/99 10:00", "2026-11-20T12:06:00+00:00"],
)
def test_future_is_refused(text):
    err = refused(text)
    assert err.message.startswith("that is in the future")


def test_grace_can_be_zero():
    assert parse("now", grace_minutes=0) == NOW
    assert refused("today 12:01", grace_minutes=0).message.startswith("that is in the future")


# --- clock changes (2026: BST starts Sun 29 March, ends Sun 25 October) ----------------------

def test_spring_forward_gap_is_refused():
    now = utc(2026, 3, 29, 12, 0)
    for text in ("2026-03-29 01:30", "29/03/2026 01:00", "29/03/2026 01:59", "today 01:30", "01:30"):
        err = refused(text, now)
        assert "did not happen" in err.message and "Europe/London" in err.message
        assert err.example == "2026-03-29 02:30" or err.example.startswith("2026-03-29 02:")


def test_spring_forward_edges():
    now = utc(2026, 3, 29, 12, 0)
    assert parse("2026-03-29 00:59", now) == utc(2026, 3, 29, 0, 59)  # GMT
    assert parse("2026-03-29 02:00", now) == utc(2026, 3, 29, 1, 0)  # BST
    assert parse("28/03/2026 01:30", now) == utc(2026, 3, 28, 1, 30)
    assert parse("yesterday 01:30", now) == utc(2026, 3, 28, 1, 30)
    # 3 hours after midnight on the short day is 04:00 BST
    assert parse("3h ago", utc(2026, 3, 29, 3, 0)) == utc(2026, 3, 29, 0, 0)


def test_autumn_repeated_hour_takes_the_first_occurrence():
    now = utc(2026, 10, 25, 12, 0)
    first = utc(2026, 10, 25, 0, 30)  # 01:30 BST; the second 01:30 (GMT) is 01:30 UTC
    assert parse("2026-10-25 01:30", now) == first
    assert parse("25/10/2026 01:30", now) == first
    assert parse("today 01:30", now) == first
    assert parse("01:30", now) == utc(2026, 10, 25, 1, 30)  # a bare time is the most recent: the second 01:30
    assert parse("2026-10-25 00:59", now) == utc(2026, 10, 24, 23, 59)  # BST
    assert parse("2026-10-25 02:00", now) == utc(2026, 10, 25, 2, 0)  # GMT
    # An explicit offset picks either occurrence.
    assert parse("2026-10-25T01:30+00:00", now) == utc(2026, 10, 25, 1, 30)
    assert parse("2026-10-25T01:30+01:00", now) == first


def test_repeated_hour_after_it_has_come_round_again():
    # 01:40 GMT (the second 01:40): "01:30" is the second 01:30, ten minutes ago, not seventy.
    now = utc(2026, 10, 25, 1, 40)
    assert parse("01:30", now) == utc(2026, 10, 25, 1, 30)
    assert parse("01:50", now) == utc(2026, 10, 25, 0, 50)  # the second 01:50 is still to come: the first
    # the next day, "yesterday"'s repeated hour is long past: a bare 01:30 is today's (one only)
    assert parse("01:30", utc(2026, 10, 26, 9, 0)) == utc(2026, 10, 26, 1, 30)


def test_repeated_hour_while_it_is_happening():
    # 01:10 GMT (the second 01:10): "01:30" means the first 01:30 (BST), 40 minutes ago.
    now = utc(2026, 10, 25, 1, 10)
    assert parse("01:30", now) == utc(2026, 10, 25, 0, 30)
    assert parse("now", now) == now


def test_other_zones():
    ny = ZoneInfo("America/New_York")
    assert parse_when("2026-11-19 14:30", NOW, ny) == utc(2026, 11, 19, 19, 30)
    with pytest.raises(WhenError):
        parse_when("2026-03-08 02:30", NOW, ny)  # US spring gap


# --- refusals -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, words",
    [
        ("", "no time"),
        ("   ", "no time"),
        ("yesterday", "ambiguous"),
        ("today", "ambiguous"),
        ("2026-11-19", "needs a time"),
        ("19/11/2026", "needs a time"),
        ("31/02/2026 10:00", "no date 31/02/2026"),
        ("2026-02-30 10:00", "no date"),
        ("29/02/2025 10:00", "no date"),
        ("2026-13-01 10:00", "no date"),
        ("0000-01-01 10:00", "no date"),
        ("24:00", "no hour 24"),
        ("25:30", "no hour 25"),
        ("yesterday 99:00", "no hour 99"),
        ("10:60", "59"),
        ("13pm", "1 to 12"),
        ("0am", "1 to 12"),
        ("1430", "colon"),
        ("930", "colon"),
        ("blah", "can't read"),
        ("14", "can't read"),
        ("tomorrow 10:00", "can't read"),
        ("ago", "how long ago"),
        ("2 fortnights ago", "how long ago"),
        ("h ago", "how long ago"),
        ("99999999h ago", "out of range"),
        ("999999999d ago", "out of range"),
        ("9999999999999999999999d ago", "too long ago"),
        ("9999-12-31T23:59:00-05:00", "out of range"),
        ("0001-01-01T00:00:00+05:00", "out of range"),
        ("2026-11-19T14:30+24:00", "offset"),
        ("10000-01-01 10:00", "can't read"),
        ("2" * 200, "too long"),
    ],
)
def test_refusals(text, words):
    err = refused(text)
    assert words in err.message
    # The example offered is itself accepted (late on a day well after the dates in the examples).
    parse(err.example, utc(2030, 1, 1, 23, 59))


def test_a_birthday_in_year_one_is_not_an_error_of_python():
    assert parse("01/01/0001 12:00") < NOW


def test_naive_now_is_a_programming_error():
    with pytest.raises(TypeError):
        parse_when("now", datetime(2026, 11, 20, 12, 0), LONDON)


# --- properties -----------------------------------------------------------------------------

TOKENS = ["now", "today", "yesterday", "ago", " ", " ", "h", "m", "d", "hours", "mins", "day", "am", "pm",
          ":", ":", ".", "/", "-", "t", "z", "+", ",", "0", "00", "1", "12", "23", "24", "29", "30", "31", "59",
          "60", "99", "02", "03", "10", "25", "2026", "0000", "0001", "9999", "10000", "99999999", "9" * 12,
          "\u0663", "\xa0", "İ"]
texts = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(TOKENS), max_size=10).map("".join),
)
nows = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC))
zones = st.sampled_from([LONDON, ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")])


@settings(max_examples=300, deadline=None)
@given(text=texts, now=nows, zone=zones, grace=st.integers(0, 60))
@example(text="99999999h ago", now=NOW, zone=LONDON, grace=5)
@example(text="0001-01-01T00:00+05:00", now=NOW, zone=LONDON, grace=5)
@example(text="9999-12-31 23:59", now=NOW, zone=ZoneInfo("America/New_York"), grace=5)
@example(text="01/01/0001 00:00", now=NOW, zone=ZoneInfo("Australia/Lord_Howe"), grace=5)
def test_any_text_gives_a_past_utc_time_or_a_when_error(text, now, zone, grace):
    try:
        got = parse_when(text, now, zone, grace_minutes=grace)
    except WhenError as err:
        assert isinstance(err.message, str) and err.message
        assert isinstance(err.example, str) and err.example
        return
    assert got.tzinfo is UTC
    assert got <= now + timedelta(minutes=grace)


def _transition_moments() -> list[datetime]:
    """Instants around every London clock change since 2000 (UTC, naive-free)."""
    out = []
    for year in range(2000, 2027):
        for month in (3, 10):
            last_sunday = max(d for d in range(25, 32) if datetime(year, month, d).weekday() == 6)
            out.append(datetime(year, month, last_sunday, 1, 0, tzinfo=UTC))  # the change is at 01:00 UTC
    return out


past = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 20, 12, 0), timezones=st.just(UTC)),
    st.builds(lambda t, m: t + timedelta(minutes=m), st.sampled_from(_transition_moments()), st.integers(-150, 150)),
)


@settings(max_examples=250, deadline=None)
@given(d=past)
@example(d=utc(2026, 10, 25, 1, 30))  # the second 01:30 → the first
@example(d=utc(2026, 10, 25, 0, 30))
@example(d=utc(2026, 3, 29, 1, 0))
def test_local_forms_round_trip_to_the_minute(d):
    d = d.replace(second=0, microsecond=0)
    local = d.astimezone(LONDON)
    wall = local.replace(tzinfo=None)
    repeated = wall.replace(tzinfo=LONDON, fold=0).utcoffset() != wall.replace(tzinfo=LONDON, fold=1).utcoffset()
    expected = wall.replace(tzinfo=LONDON, fold=0).astimezone(UTC) if repeated else d
    if not repeated:
        assert expected == d
    for text in (f"{local:%Y-%m-%d %H:%M}", f"{local:%d/%m/%Y %H:%M}", f"{local:%Y-%m-%dT%H:%M}"):
        assert parse(text) == expected


offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=300, deadline=None)
@given(d=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 19), timezones=offsets))
def test_iso_with_offset_round_trips_exactly(d):
    assert parse(d.isoformat()) == d
    assert parse(d.isoformat().upper()) == d
    if d.utcoffset() == timedelta(0):
        assert parse(d.isoformat().replace("+00:00", "Z")) == d


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 200_000), unit=st.sampled_from(["h", "m", "d", " hours", " mins", " minutes", "hrs"]),
       now=nows)
def test_relative_is_now_minus_the_span(n, unit, now):
    per = {"h": "hours", "hrs": "hours", " hours": "hours", "m": "minutes", " mins": "minutes",
           " minutes": "minutes", "d": "days"}[unit]
    text = f"{n}{unit} ago"
    try:
        expected = now - timedelta(**{per: n})
    except OverflowError:
        expected = None
    if expected is None:
        with pytest.raises(WhenError):
            parse(text, now)
    else:
        assert parse(text, now) == expected


@settings(max_examples=200, deadline=None)
@given(h=st.integers(0, 99), mi=st.integers(0, 99), now=nows)
def test_bare_time_is_never_in_the_future_beyond_grace_and_at_most_a_day_back(h, mi, now):
    try:
        got = parse(f"{h}:{mi:02d}", now)
    except WhenError as err:
        assert h > 23 or mi > 59 or "did not happen" in err.message
        return
    assert h <= 23 and mi <= 59
    assert now - timedelta(hours=25) <= got <= now + timedelta(minutes=5)
    assert got.astimezone(LONDON).strftime("%H:%M") == f"{h:02d}:{mi:02d}"


# `bot.render.local` builds what strftime gives, directly (it is on every row of `due`, `open`,
# `status`); and the stored times' type sets the zone with `combine`, not the slower `replace`.
@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)),
       st.sampled_from([LONDON, UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]), st.booleans())
@example(utc(2026, 3, 29, 0, 59, 59), LONDON, True)  # the last second of GMT, and the first of BST
@example(utc(2026, 3, 29, 1, 0), LONDON, True)
@example(utc(2026, 10, 25, 0, 30), LONDON, False)  # 01:30 BST, then 01:30 GMT an hour later
@example(utc(2026, 10, 25, 1, 30), LONDON, False)
def test_local_is_what_strftime_gives(instant, zone, with_day):
    from bot.render import local

    fmt = "%a %d %b %Y %H:%M %Z" if with_day else "%d/%m/%Y %H:%M %Z"
    assert local(instant, zone, with_day=with_day) == instant.astimezone(zone).strftime(fmt)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 12, 31),
                    timezones=st.sampled_from([UTC, LONDON, ZoneInfo("America/New_York")])))
@example(datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=LONDON))  # the second 01:30 (GMT)
def test_stored_times_go_in_naive_utc_and_come_back_aware_utc(instant):
    from store.models import UTCDateTime

    t = UTCDateTime()
    stored = t.process_bind_param(instant, None)
    assert stored == instant.astimezone(UTC).replace(tzinfo=None) and stored.tzinfo is None
    back = t.process_result_value(stored, None)
    # (compared in UTC: Python never calls a time in a fold equal to one in another zone)
    assert back == instant.astimezone(UTC) and back.tzinfo is UTC and back == stored.replace(tzinfo=UTC)
    assert (back.fold, back.microsecond) == (stored.fold, stored.microsecond)
