"""Queries that load `EpisodeFact` rows for the figures and the statutory exports.

One SELECT of the needed columns (episodes joined to children), bounded by the indexed
`episodes.started_at` / `returned_at`; no ORM objects."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from bot.protocol import exports
from bot.protocol.exports import ChildFact
from bot.protocol.figures import EpisodeFact, period_bounds
from store.models import Child, Episode

# Looked after *at the episode* (rows from before migration 0004 fall back to the child's status).
LOOKED_AFTER = func.coalesce(Episode.looked_after, Child.looked_after)
_COLUMNS = (Child.child_ref, Child.date_of_birth, Child.gender, LOOKED_AFTER, Episode.placement_type,
            Episode.episode_type, Episode.started_at, Episode.returned_at, Episode.found_location,
            Episode.cse_concern, Episode.cce_concern, Episode.ri_outcome, Episode.ri_at)


def _facts(session: Session, *where) -> list[EpisodeFact]:
    q = select(*_COLUMNS).join(Child, Child.id == Episode.child_id).where(*where)
    return [EpisodeFact(*row) for row in session.execute(q)]


def started_between(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False
                    ) -> list[EpisodeFact]:
    """Episodes that started in [start, end) (UTC): what a report period counts."""
    where = [Episode.started_at >= start, Episode.started_at < end]
    if looked_after_only:
        where.append(LOOKED_AFTER == true())
    return _facts(session, *where)


def open_during(session: Session, start: datetime, end: datetime, *, looked_after_only: bool = False
                ) -> list[EpisodeFact]:
    """Episodes open at any time in [start, end): what the SSDA903 year holds."""
    where = [Episode.started_at < end, or_(Episode.returned_at.is_(None), Episode.returned_at >= start)]
    if looked_after_only:
        where.append(LOOKED_AFTER == true())
    return _facts(session, *where)


def looked_after_children(session: Session) -> list[ChildFact]:
    q = select(Child.child_ref, Child.gender, Child.date_of_birth).where(Child.looked_after.is_(True))
    return [ChildFact(*row) for row in session.execute(q)]


def ssda903_rows(session: Session, year: int, zone: ZoneInfo) -> tuple[list[dict[str, str]], list[exports.Finding]]:
    """The SSDA903 Missing table of collection year `year` and its findings against the DfE rules."""
    start, end = period_bounds(*exports.collection_year(year), zone)
    rows = exports.ssda903_missing(open_during(session, start, end, looked_after_only=True), year, zone)
    return rows, exports.validate_ssda903(rows, year)


def annex_a_rows(session: Session, now: datetime) -> list[dict[str, str]]:
    """Annex A List 8 missing columns for every looked-after child, as at `now`."""
    facts = started_between(session, now - timedelta(days=366), now + timedelta(seconds=1), looked_after_only=True)
    return exports.annex_a_missing(looked_after_children(session), facts, now)
