"""Queries that load `EpisodeFact` rows for the figures and the statutory exports.

One SELECT of the needed columns (episodes joined to children), bounded by the indexed
`episodes.started_at` / `returned_at`; no ORM objects. The board figures stream their rows
(`stream_started_between`): a report over a million episodes holds tallies, not episodes."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, true
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


def stream_started_between(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False,
                           chunk: int = 10_000) -> Iterator[EpisodeFact]:
    """What `started_between` returns, one `EpisodeFact` at a time, fetched `chunk` rows at a time
    and in no particular order (`compute_figures` needs none): memory stays flat however many
    episodes the period holds (a server-side cursor on PostgreSQL: call it in a transaction)."""
    # Core, not ORM, execution (the ORM's row handling cost more than the figures' arithmetic),
    # so the live-episodes filter of store/db.py does not apply: it is written here.
    where = [Episode.started_at >= start, Episode.started_at < end, Episode.withdrawn_at.is_(None)]
    if looked_after_only:
        where.append(LOOKED_AFTER == true())
    q = select(*_COLUMNS).join(Child, Child.id == Episode.child_id).where(*where)
    for row in session.connection().execute(q.execution_options(yield_per=chunk)):
        yield _fact(row)


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
