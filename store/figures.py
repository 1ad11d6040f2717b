"""Queries that load `EpisodeFact` rows for the figures and the statutory exports.

One SELECT of the needed columns (episodes joined to children), bounded by the indexed
`episodes.started_at` / `returned_at`; no ORM objects. The board figures go further
(`stream_packed`): the database computes each episode's keys (`episode_keys` of
bot/protocol/figures.py, in SQL), numbered and packed into one integer (`pack_keys`), and they
stream in chunks straight from the driver into `tally_packed`: a report over a million episodes
holds a few integer columns, not episodes."""
from __future__ import annotations

from datetime import datetime, timedelta
from operator import itemgetter
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


def first_starts(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False):
    """For `tally_packed`: a function giving, for some children (ids), each placement type's first
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


def _packed_columns(dialect: str, zone: ZoneInfo, lo: datetime, hi: datetime, interview_hours: int, now: datetime,
                    vocab, where: list):
    """The SQL of `bot.protocol.figures.pack_keys(episode_keys(...))` over the episodes `where`
    selects, for `dialect`: each key of `episode_keys` as its number, packed into one integer
    (CODE_LAYOUT), and the month as a number. Local dates from the zone's offsets over [lo, hi]
    (the period's first and last starts), the rest by exact timestamp arithmetic (no floating
    point: durations and interview delays are the database's own microsecond columns). The
    start's local date is computed once per row (a subquery kept apart by OFFSET 0)
    and read by the month and the age band; every other key is computed once, as its number."""
    from sqlalchemy import BigInteger, Date, Integer, String, bindparam, case, cast, literal, type_coerce
    from sqlalchemy.types import NullType

    from bot.protocol.figures import AGE_BANDS, CODE_LAYOUT, DURATION_BANDS, INTERVIEW_BY, RI_KEYS
    from store.models import UTCDateTime

    def at(t: datetime):
        return bindparam(None, t, type_=UTCDateTime())

    def day_of(col, seconds: int):
        if dialect != "sqlite":
            return cast(col + literal_column(f"interval '{int(seconds)} seconds'"), Date)
        # The stored text's date, unless the offset crosses midnight (string compares, no parsing).
        utc_day, clock = func.substr(col, 1, 10), func.substr(col, 12, 8)
        if seconds == 0:
            return utc_day
        if seconds > 0:
            crossing = clock >= (datetime.min + timedelta(seconds=86400 - seconds)).strftime("%H:%M:%S")
            return case((crossing, func.date(utc_day, "+1 day")), else_=utc_day)
        crossing = clock < (datetime.min + timedelta(seconds=-seconds)).strftime("%H:%M:%S")
        return case((crossing, func.date(utc_day, "-1 day")), else_=utc_day)

    def numbered(col, names: tuple, first: int = 0):
        return case({name: first + i for i, name in enumerate(names)}, value=col)  # NULL: not in `names`

    def bit(name: str):
        return literal(1 << CODE_LAYOUT[name][0], BigInteger)

    spans = _zone_spans(zone, lo, hi)
    started, returned = Episode.started_at, Episode.returned_at
    if len(spans) == 1:
        day = day_of(started, spans[0][1])
    else:
        day = case(*[(started < at(spans[i + 1][0]), day_of(started, m)) for i, (_, m) in enumerate(spans[:-1])],
                   else_=day_of(started, spans[-1][1]))
    dur = DURATION_BANDS.index
    hour = 3600 * 1_000_000  # away_us, ri_after_us: microseconds, kept by the database (migration 0013)
    away = Episode.away_us
    duration = case((returned.is_(None), dur("ongoing")), (away < 24 * hour, dur("under_24h")),
                    (away < 72 * hour, dur("24h_to_72h")), (away < 7 * 24 * hour, dur("72h_to_7d")),
                    else_=dur("over_7d"))
    ri = lambda key: 1 + RI_KEYS.index(key)  # noqa: E731 - 0: no interview status (still missing)
    interview = case(
        (returned.is_(None), 0),
        (Episode.ri_outcome == "completed",
         case(((Episode.ri_at.is_not(None)) & (Episode.ri_after_us <= interview_hours * hour), ri("in_timescale")),
              else_=ri("out_of_timescale"))),
        (Episode.ri_outcome == "declined", ri("declined")), (Episode.ri_outcome == "voided", ri("voided")),
        (returned < at(now - timedelta(hours=interview_hours)), ri("incomplete")),
        else_=ri("pending"))
    # Returned with a completed interview: who held it (0: not completed).
    by = lambda key: 1 + INTERVIEW_BY.index(key)  # noqa: E731
    interview_by = case(
        ((returned.is_not(None)) & (Episode.ri_outcome == "completed"),
         case((Episode.ri_independent.is_(None), by("not_recorded")), (Episode.ri_independent, by("independent")),
              else_=by("not_independent"))),
        else_=0)
    # REASON_RECORDED and a council's name, without coalesce and length: NULL is no WHEN either.
    flags = (case((Episode.cse_concern, bit("cse")), else_=0) + case((Episode.cce_concern, bit("cce")), else_=0)
             + case((func.trim(Episode.reasons) != "", bit("reason_recorded")), else_=0)
             + case((Episode.ri_signed_off_at.is_not(None), bit("signed_off")), else_=0)
             + case((Child.placed_by != "", bit("placed")), else_=0))
    code = (numbered(Episode.episode_type, vocab.episode_types) * bit("episode_type")
            + numbered(Child.gender, vocab.genders) * bit("gender")
            + numbered(Episode.placement_type, vocab.placement_types) * bit("placement_type")
            + duration * bit("duration") + interview * bit("return_interview")
            + interview_by * bit("interview_by") + flags)
    raw = lambda col: type_coerce(col, NullType())  # noqa: E731 - as the driver gives it: no per-row conversion
    dob = Child.date_of_birth
    if dialect == "sqlite":  # 'YYYY-MM-DD' text as the integer YYYYMMDD, once per row: the outer query is integer arithmetic
        day, dob = (cast(func.replace(d, "-", ""), Integer) for d in (day, dob))
    inner = (select(Episode.child_id.label("child"), code.label("code"), day.label("day"), dob.label("dob"),
                    case((returned.is_not(None), Episode.found_location), else_=literal("", String)).label("found"),
                    raw(Episode.factors).label("factors"))
             .select_from(Episode).join(Child, Child.id == Episode.child_id).where(*where)
             .offset(literal_column("0")))
    if dialect == "sqlite":  # SQLite writes an offset after a limit (-1: none)
        inner = inner.limit(literal_column("-1"))
    e = inner.subquery("e").c
    if dialect == "sqlite":  # dates are the integers YYYYMMDD
        # Age in whole years = (day - dob) // 10000 (month and day take 4 digits < 10000), so
        # each band is a range of the difference: no text, no function call per row.
        since = e.day - e.dob
        band = case((e.dob.is_(None), AGE_BANDS.index("unknown")), (since < 0, AGE_BANDS.index("unknown")),
                    (since < 130000, AGE_BANDS.index("under_13")), (since < 160000, AGE_BANDS.index("13_15")),
                    (since < 180000, AGE_BANDS.index("16_17")), else_=AGE_BANDS.index("18_plus"))
        month = (e.day // 10000) * 12 + (e.day // 100) % 100 - 1
        return select(e.child, e.code + band * bit("age_band") + month * bit("month"), e.found, e.factors)
    # dates are dates
    def year(d): return cast(func.date_part("year", d), Integer)
    def month_of(d): return cast(func.date_part("month", d), Integer)
    def month_day(d): return cast(func.date_part("month", d) * 100 + func.date_part("day", d), Integer)
    age = year(e.day) - year(e.dob) - case((month_day(e.day) < month_day(e.dob), 1), else_=0)
    # age_band: the age computed once (CASE <value> WHEN), clamped to -1..18.
    bands = {-1: "unknown", 13: "13_15", 14: "13_15", 15: "13_15", 16: "16_17", 17: "16_17", 18: "18_plus"}
    band = case((e.dob.is_(None), AGE_BANDS.index("unknown")),
                else_=case({a: AGE_BANDS.index(b) for a, b in bands.items()}, value=func.greatest(func.least(age, 18), -1),
                           else_=AGE_BANDS.index("under_13")))
    month = year(e.day) * 12 + month_of(e.day) - 1
    return select(e.child, e.code + band * bit("age_band") + month * bit("month"), e.found, e.factors)


class OutsideVocab(Exception):
    """A packed row met an episode type, gender or placement type its vocabulary does not number."""


def packed_vocab(session: Session, start: datetime, end: datetime):
    """The numbering of episode types, genders and placement types for the period's packed rows:
    the protocol's codes, then any other value the record holds."""
    from bot.protocol.figures import Vocab

    v = Vocab()
    in_period = (Episode.started_at >= start, Episode.started_at < end)
    others = session.execute(select(Episode.episode_type, Episode.placement_type).distinct().where(
        *in_period, or_(Episode.episode_type.not_in(v.episode_types), Episode.placement_type.not_in(v.placement_types)))
        .execution_options(include_withdrawn=True)).all()
    genders = session.scalars(select(Child.gender).distinct().where(Child.gender.not_in(v.genders))).all()
    return v.extended([e for e, _ in others], genders, [p for _, p in others])


def stream_packed(session: Session, start: datetime, end: datetime, zone: ZoneInfo, interview_hours: int,
                  now: datetime, vocab, *, looked_after_only: bool = False, chunk: int = 10_000
                  ) -> Iterator[list[tuple]]:
    """The packed rows (`bot.protocol.figures.PACKED_FIELDS`, numbered by `vocab`) of the live
    episodes that started in [start, end), computed by the database and fetched `chunk` rows at a
    time (a server-side cursor on PostgreSQL: call it in a transaction), for `tally_packed`. The
    same values as `pack_keys(episode_keys(...))` gives (tests/test_figures_sql.py). Raises
    OutsideVocab on a value `vocab` does not number (`packed_vocab` gives one that does)."""
    where = [Episode.started_at >= start, Episode.started_at < end, Episode.withdrawn_at.is_(None)]
    if looked_after_only:
        where.append(LOOKED_AFTER == true())
    conn = session.connection()
    in_period = (Episode.started_at >= start, Episode.started_at < end)
    lo, hi = conn.execute(select(func.min(Episode.started_at), func.max(Episode.started_at)).where(*in_period)).one()
    if lo is None:
        return
    dialect = conn.dialect.name
    q = _packed_columns(dialect, zone, lo, hi, interview_hours, now, vocab, where)
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
    driver = conn.connection.driver_connection
    cursor = driver.cursor("figures_packed") if dialect == "postgresql" else driver.cursor()
    code_of, factors_of = itemgetter(1), itemgetter(3)  # column checks without a Python step per row
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk):
            if None in map(code_of, rows):  # a value the CASEs do not number: packed_vocab has it
                raise OutsideVocab
            factors = list(map(factors_of, rows))
            if any(factors) or [] in factors:  # PostgreSQL gives an empty list as [], falsy: None as pack_keys has it
                rows = [r if r[3] is None else r[:3] + (_factors(r[3]),) for r in rows]
            yield rows
    finally:
        cursor.close()


def found_firsts(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False):
    """For `tally_packed`: a function giving, for some places as written, the (start, case
    reference) of the first live ended episode of the period found there."""
    def firsts(places: list[str]) -> dict[str, tuple]:
        out = {}
        for place in places:  # each along the index of starts, to its first
            where = [Episode.found_location == place, Episode.returned_at.is_not(None), Episode.started_at >= start,
                     Episode.started_at < end]
            if looked_after_only:
                where.append(LOOKED_AFTER == true())
            first = session.scalar(select(Episode.started_at).join(Child, Child.id == Episode.child_id).where(*where)
                                   .order_by(Episode.started_at).limit(1))
            if first is not None:
                out[place] = (first, session.scalar(select(func.min(Child.child_ref))
                                                    .join(Episode, Episode.child_id == Child.id)
                                                    .where(*where, Episode.started_at == first)))
        return out

    return firsts


def placing_councils(session: Session):
    """For `tally_packed`: a function giving some children's (ids) placing councils."""
    def councils(children: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for i in range(0, len(children), 1000):
            out.update(session.execute(select(Child.id, Child.placed_by).where(Child.id.in_(children[i:i + 1000]))).all())
        return out

    return councils


def child_refs(session: Session):
    """For `tally_packed`: a function giving some children's (ids) case references."""
    def refs(children: list[int]) -> dict[int, str]:
        if len(children) > 1000:  # many ties: one pass over the children beats long IN lists
            wanted = set(children)
            return {c: ref for c, ref in session.execute(select(Child.id, Child.child_ref)) if c in wanted}
        return dict(session.execute(select(Child.id, Child.child_ref).where(Child.id.in_(children))).all())

    return refs
