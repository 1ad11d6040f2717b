"""Queries that load `EpisodeFact` rows for the figures and the statutory exports.

One SELECT of the needed columns (episodes joined to children), bounded by the indexed
`episodes.started_at` / `returned_at`; no ORM objects. The board figures go further
(`stream_keys`): the database computes each episode's keys (`episode_keys` of
bot/protocol/figures.py, in SQL) and they stream in chunks straight from the driver into
`tally_keys`: a report over a million episodes holds tallies, not episodes."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal_column, or_, select, true
from sqlalchemy.orm import Session

from bot.protocol import exports
from bot.protocol.exports import ChildFact
from bot.protocol.figures import EpisodeFact, MeetingFact, period_bounds
from store.models import Child, Episode, HeldMeeting

# Looked after *at the episode* (rows from before migration 0004 fall back to the child's status).
LOOKED_AFTER = func.coalesce(Episode.looked_after, Child.looked_after)
# Whether a reason was recorded, computed in the database: the free text itself is never loaded.
REASON_RECORDED = func.length(func.trim(func.coalesce(Episode.reasons, ""))) > 0
_COLUMNS = (Child.child_ref, Child.date_of_birth, Child.gender, LOOKED_AFTER, Episode.placement_type,
            Episode.episode_type, Episode.started_at, Episode.returned_at, Episode.found_location,
            Episode.cse_concern, Episode.cce_concern, Episode.ri_outcome, Episode.ri_at,
            REASON_RECORDED, Episode.factors, Episode.ri_independent, Episode.ri_signed_off_at.is_not(None),
            Child.placed_by)


def _facts(session: Session, *where) -> list[EpisodeFact]:
    q = select(*_COLUMNS).join(Child, Child.id == Episode.child_id).where(*where)
    return [_fact(row) for row in session.execute(q)]


def _fact(row) -> EpisodeFact:
    *head, reason, factors, independent, signed, placed_by = row
    return EpisodeFact(*head, reason_recorded=bool(reason),
                       factors=tuple(str(f) for f in factors) if isinstance(factors, list) else (),
                       ri_independent=independent, ri_signed_off=bool(signed), placed_by=placed_by)


def _zone_spans(zone: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offset (seconds) over [lo, hi]: [(from, minutes), ...], the first from None,
    each change found to the second (zoneinfo's rules, the ones `astimezone` uses)."""
    def offset(t: datetime) -> int:
        return int(t.astimezone(zone).utcoffset().total_seconds())

    spans: list[tuple[datetime | None, int]] = [(None, offset(lo))]
    t = lo
    while t < hi:
        step = min(t + timedelta(days=1), hi)
        if offset(step) != spans[-1][1]:
            a, b = t, step  # offset(a) is the last one; offset(b) the new one
            while (b - a) > timedelta(seconds=1):
                mid = a + (b - a) / 2
                mid = mid.replace(microsecond=0)
                if offset(mid) == spans[-1][1]:
                    a = mid
                else:
                    b = mid
            spans.append((b, offset(b)))
        t = step
    return spans


def _key_columns(dialect: str, zone: ZoneInfo, lo: datetime, hi: datetime, interview_hours: int, now: datetime):
    """The SQL of each per-episode key of `bot.protocol.figures.episode_keys` (KEY_FIELDS), for
    `dialect`: local dates from the zone's offsets over [lo, hi] (the period's first and last
    starts), the rest by exact timestamp arithmetic (no floating point)."""
    from sqlalchemy import Integer, String, bindparam, case, cast, literal, literal_column, type_coerce
    from sqlalchemy.types import NullType

    from store.models import UTCDateTime

    def at(t: datetime):
        return bindparam(None, t, type_=UTCDateTime())

    def plus(col, minutes: int):  # col + minutes, as stored
        if dialect == "sqlite":  # exact: whole seconds shifted, the stored fraction kept as written
            return func.strftime("%Y-%m-%d %H:%M:%S", func.substr(col, 1, 19), f"{minutes:+d} minutes").concat(
                func.substr(col, 20))
        return col + literal_column(f"interval '{int(minutes)} minutes'")

    def day_of(col, seconds: int):
        if dialect != "sqlite":
            return func.to_char(col + literal_column(f"interval '{int(seconds)} seconds'"), "YYYY-MM-DD")
        # The stored text's date, unless the offset crosses midnight (string compares, no parsing).
        utc_day, clock = func.substr(col, 1, 10), func.substr(col, 12, 8)
        if seconds == 0:
            return utc_day
        if seconds > 0:
            crossing = clock >= (datetime.min + timedelta(seconds=86400 - seconds)).strftime("%H:%M:%S")
            return case((crossing, func.date(utc_day, "+1 day")), else_=utc_day)
        crossing = clock < (datetime.min + timedelta(seconds=-seconds)).strftime("%H:%M:%S")
        return case((crossing, func.date(utc_day, "-1 day")), else_=utc_day)

    spans = _zone_spans(zone, lo, hi)
    started = Episode.started_at
    if len(spans) == 1:
        day = day_of(started, spans[0][1])
    else:
        day = case(*[(started < at(spans[i + 1][0]), day_of(started, m)) for i, (_, m) in enumerate(spans[:-1])],
                   else_=day_of(started, spans[-1][1]))
    dob = Child.date_of_birth if dialect == "sqlite" else func.to_char(Child.date_of_birth, "YYYY-MM-DD")
    year = lambda text: cast(func.substr(text, 1, 4), Integer)  # noqa: E731
    age = year(day) - year(dob) - case((func.substr(day, 6, 5) < func.substr(dob, 6, 5), 1), else_=0)
    # age_band: the age computed once (CASE <value> WHEN), clamped to -1..18.
    low, high = (func.max, func.min) if dialect == "sqlite" else (func.greatest, func.least)
    bands = {-1: "unknown", 13: "13_15", 14: "13_15", 15: "13_15", 16: "16_17", 17: "16_17", 18: "18_plus"}
    band = case((Child.date_of_birth.is_(None), "unknown"),
                else_=case(bands, value=low(high(age, 18), -1), else_="under_13"))
    returned = Episode.returned_at
    duration = case((returned.is_(None), "ongoing"), (returned < plus(started, 24 * 60), "under_24h"),
                    (returned < plus(started, 72 * 60), "24h_to_72h"), (returned < plus(started, 7 * 24 * 60), "72h_to_7d"),
                    else_="over_7d")
    deadline = plus(returned, interview_hours * 60)
    interview = case(
        (returned.is_(None), None),
        (Episode.ri_outcome == "completed",
         case(((Episode.ri_at.is_not(None)) & (Episode.ri_at <= deadline), "in_timescale"), else_="out_of_timescale")),
        (Episode.ri_outcome.in_(("declined", "voided")), Episode.ri_outcome),
        (returned < at(now - timedelta(hours=interview_hours)), "incomplete"),
        else_="pending")
    interview_by = case(
        ((returned.is_not(None)) & (Episode.ri_outcome == "completed"),
         case((Episode.ri_independent.is_(None), "not_recorded"), (Episode.ri_independent, "independent"),
              else_="not_independent")),
        else_=None)
    raw = lambda col: type_coerce(col, NullType())  # noqa: E731 - as the driver gives it: no per-row conversion
    return (Episode.child_id, Child.child_ref, Episode.episode_type, Child.gender, Episode.placement_type,
            Child.placed_by, func.substr(day, 1, 7), band, duration, interview,
            case((returned.is_not(None), Episode.found_location), else_=literal("", String)), raw(started),
            raw(Episode.cse_concern), raw(Episode.cce_concern), raw(REASON_RECORDED), raw(Episode.factors),
            interview_by, raw(Episode.ri_signed_off_at.is_not(None)))


def stream_keys(session: Session, start: datetime, end: datetime, zone: ZoneInfo, interview_hours: int,
                now: datetime, *, looked_after_only: bool = False, chunk: int = 10_000) -> Iterator[list[tuple]]:
    """The rows of keys (`bot.protocol.figures.KEY_FIELDS`) of the live episodes that started in
    [start, end), computed by the database and fetched `chunk` rows at a time (a server-side
    cursor on PostgreSQL: call it in a transaction), for `tally_keys`. The same values as
    `episode_keys` gives (tests/test_figures_sql.py): `started_at` is only compared, and comes as
    the driver gives it."""
    import json

    where = [Episode.started_at >= start, Episode.started_at < end, Episode.withdrawn_at.is_(None)]
    if looked_after_only:
        where.append(LOOKED_AFTER == true())
    conn = session.connection()
    # The zone's offsets are needed over the starts actually there: min and max from the index.
    in_period = (Episode.started_at >= start, Episode.started_at < end)
    lo, hi = conn.execute(select(func.min(Episode.started_at), func.max(Episode.started_at)).where(*in_period)).one()
    if lo is None:
        return
    dialect = conn.dialect.name
    q = (select(*_key_columns(dialect, zone, lo, hi, interview_hours, now))
         .select_from(Episode).join(Child, Child.id == Episode.child_id).where(*where))
    sql = str(q.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if dialect == "sqlite":
        # Episodes are the outer loop (CROSS JOIN fixes the order in SQLite); over much of the
        # history one pass over the table beats walking the started_at index and fetching each
        # row by its rowid (4x faster at 1e6 episodes).
        whole = conn.scalar(select(func.count()).select_from(Episode))
        many = conn.scalar(select(func.count()).select_from(Episode).where(*in_period)) > whole // 8
        joined = "FROM episodes JOIN children ON"
        assert sql.count(joined) == 1, "the figures' query changed shape"
        sql = sql.replace(joined, f"FROM episodes {'NOT INDEXED ' if many else ''}CROSS JOIN children ON")
    # Straight from the driver: every column is a key already, so no Row objects and no
    # conversions; a named (server-side) cursor on PostgreSQL. The values bound are the period's
    # bounds and the zone's offsets, rendered as literals.
    driver = conn.connection.driver_connection
    cursor = driver.cursor("figures_keys") if dialect == "postgresql" else driver.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk):
            if any(r[15] is not None for r in rows):
                rows = [r if r[15] is None else r[:15] + (_factors(r[15]),) + r[16:] for r in rows]
            yield rows
    finally:
        cursor.close()


def first_starts(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False):
    """For `tally_keys`: a function giving, for some children (ids), each placement type's first
    start among their live episodes that started in [start, end)."""
    def firsts(children: list[int]) -> dict[int, dict[str, datetime]]:
        out: dict[int, dict[str, datetime]] = {c: {} for c in children}
        where = [Episode.child_id.in_(children), Episode.started_at >= start, Episode.started_at < end]
        if looked_after_only:
            where.append(LOOKED_AFTER == true())
        q = (select(Episode.child_id, Episode.placement_type, func.min(Episode.started_at))
             .join(Child, Child.id == Episode.child_id).where(*where).group_by(Episode.child_id, Episode.placement_type))
        for child, placement, first in session.execute(q):
            out[child][placement] = first
        return out

    return firsts


def _factors(value) -> tuple[str, ...] | None:
    import json

    if isinstance(value, str):
        value = json.loads(value)
    return tuple(str(f) for f in value) if isinstance(value, list) and value else None


def started_between(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False
                    ) -> list[EpisodeFact]:
    """Episodes that started in [start, end) (UTC): what a report period counts."""
    where = [Episode.started_at >= start, Episode.started_at < end]
    if looked_after_only:
        where.append(LOOKED_AFTER == true())
    return _facts(session, *where)


def withdrawn_started_between(session: Session, start: datetime, end: datetime, *,
                              looked_after_only: bool = False) -> int:
    """How many withdrawn episodes (recorded in error) started in [start, end): the board figures
    count them apart, and nowhere else."""
    where = [Episode.withdrawn_at.is_not(None), Episode.started_at >= start, Episode.started_at < end]
    if looked_after_only:
        where.append(LOOKED_AFTER == true())
    q = (select(func.count()).select_from(Episode).join(Child, Child.id == Episode.child_id).where(*where)
         .execution_options(include_withdrawn=True))
    return session.scalar(q) or 0


def held_between(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False
                 ) -> list[MeetingFact]:
    """Strategy meetings, IPMs and strategy discussions held in [start, end), each with the time
    its alert was raised (None when recorded without one). A meeting about an episode later
    withdrawn is left out with the episode; looked after = the episode's status (or the child's)."""
    from store.alerts import Alert

    # Two steps rather than an outer join to `episodes`: withdrawn episodes are filtered out of
    # every ORM query (store/db.py), which on an outer join would only blank the columns.
    live = set(session.scalars(select(Episode.id).join(HeldMeeting, HeldMeeting.episode_id == Episode.id)
                               .where(HeldMeeting.held_at >= start, HeldMeeting.held_at < end)))
    q = (select(HeldMeeting.kind, HeldMeeting.held_at, Alert.created_at, HeldMeeting.episode_id, Child.looked_after)
         .join(Child, Child.id == HeldMeeting.child_id)
         .outerjoin(Alert, Alert.id == HeldMeeting.alert_id)
         .where(HeldMeeting.held_at >= start, HeldMeeting.held_at < end))
    rows = [r for r in session.execute(q) if r.episode_id is None or r.episode_id in live]
    if looked_after_only:
        at_episode = dict(session.execute(select(Episode.id, LOOKED_AFTER).join(Child, Child.id == Episode.child_id)
                                          .where(Episode.id.in_([r.episode_id for r in rows if r.episode_id]))).all())
        rows = [r for r in rows if (at_episode.get(r.episode_id) if r.episode_id else r.looked_after)]
    return [MeetingFact(r.kind, r.held_at, r.created_at) for r in rows]


def open_during(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False
                ) -> list[EpisodeFact]:
    """Episodes open at any time in [start, end): what the SSDA903 year holds."""
    where = [Episode.started_at < end, or_(Episode.returned_at.is_(None), Episode.returned_at >= start)]
    if looked_after_only:
        where.append(LOOKED_AFTER == true())
    return _facts(session, *where)


def looked_after_children(session: Session) -> list[ChildFact]:
    """Children we look after: not those placed here by another council (theirs to return)."""
    q = select(Child.child_ref, Child.gender, Child.date_of_birth, Child.placement_type, Child.placed_in,
               Child.placed_by).where(Child.looked_after.is_(True), Child.placed_by.is_(None))
    return [ChildFact(*row) for row in session.execute(q)]


def ssda903_rows(session: Session, year: int, zone: ZoneInfo
                 ) -> tuple[list[dict[str, str]], list[exports.Finding] | None]:
    """The SSDA903 Missing table of collection year `year` and its findings against the DfE rules
    (None: the validator is not installed, the table is unchecked)."""
    start, end = period_bounds(*exports.collection_year(year), zone)
    rows = exports.ssda903_missing(open_during(session, start, end, looked_after_only=True), year, zone)
    return rows, exports.validate_ssda903(rows, year)


def annex_a_rows(session: Session, now: datetime, *, council: str | None = None, zone: ZoneInfo | None = None
                 ) -> list[dict[str, str]]:
    """Annex A List 8 missing columns for every child we look after, as at `now`."""
    facts = started_between(session, now - timedelta(days=366), now + timedelta(seconds=1), looked_after_only=True)
    return exports.annex_a_missing(looked_after_children(session), facts, now, council=council, zone=zone)
