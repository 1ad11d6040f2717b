"""Helpers for the clock tests: make changes through store/records.py as a user would."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from bot.context import Ctx, Services
from store import records
from store.models import Outbox
from tests.conftest import ALERT_CHANNEL, DUTY_USER


@contextmanager
def change(services: Services, *, user: str = DUTY_USER, now: datetime | None = None):
    with services.sessions.begin() as s:
        yield Ctx(services=services, session=s, user_id=user, channel_id=ALERT_CHANNEL, now=now or services.now())


def child(services: Services, ref: str = "C100", label: str = "AB", worker: str | None = None) -> int:
    with change(services) as ctx:
        return records.upsert_child(ctx, ref, {"label": label, "worker_user_id": worker, "looked_after": True}).child.id


def report(services: Services, ref: str, at: datetime, *, risk: str | None = None, away: bool = False) -> int:
    with change(services) as ctx:
        c = records.require_child(ctx.session, ref)
        return records.report_missing(ctx, c, started_at=at, risk_grade=risk,
                                      episode_type="away" if away else "missing").id


def found(services: Services, ref: str, at: datetime) -> None:
    with change(services) as ctx:
        records.record_found(ctx, records.require_child(ctx.session, ref), returned_at=at)


def interview(services: Services, ref: str, at: datetime, outcome: str = "completed") -> None:
    with change(services) as ctx:
        records.record_interview(ctx, records.require_child(ctx.session, ref), outcome=outcome, at=at)


def regrade(services: Services, ref: str, grade: str) -> None:
    with change(services) as ctx:
        records.regrade(ctx, records.require_child(ctx.session, ref), grade)


def alert_posts(stub, channel: str = ALERT_CHANNEL) -> list[dict]:
    """Alert messages posted (channel or DM), in order; other channel lines left out."""
    return [p for p in stub.posts() if p.get("channel") == channel and _is_alert(p)]


def _is_alert(post: dict) -> bool:
    blocks = post.get("blocks") or []
    return any(b.get("type") == "actions" and str(b.get("block_id", "")).startswith("alert:") for b in blocks)


def outbox(services: Services) -> list[Outbox]:
    with services.sessions() as s:
        return list(s.query(Outbox).order_by(Outbox.id))
