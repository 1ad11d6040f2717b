"""The append-only audit log: who changed what, when, before and after."""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from store.models import AuditRecord

# On every change's path: a Core INSERT built once (no ORM object, no unit of work at the next
# flush), executed at once in the caller's transaction. The rows are the same as the ORM wrote.
INSERT_AUDIT = insert(AuditRecord.__table__)


@lru_cache(maxsize=None)
def _recorded(model: type) -> tuple[str, ...]:
    """The model's columns an audit snapshot holds (every change snapshots twice: worked out once)."""
    return tuple(c.key for c in model.__table__.columns if not c.info.get("derived"))


def snapshot(obj: Any, fields: tuple[str, ...] | None = None) -> dict:
    """The column values of a model instance, JSON-ready (not the `derived` ones the database keeps
    from the others: the record is what people wrote)."""
    names = fields or _recorded(type(obj))
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        out[name] = value
    return out


def audit(session: Session, *, actor: str, action: str, entity: str, entity_id: int | None,
          now: datetime, before: dict | None = None, after: dict | None = None) -> None:
    if before is not None and after is not None:
        changed = {k for k in after if before.get(k) != after.get(k)}
        before = {k: before.get(k) for k in changed}
        after = {k: after[k] for k in changed}
    session.execute(INSERT_AUDIT, dict(at=now, actor=actor, action=action, entity=entity, entity_id=entity_id,
                                       before=before, after=after))
