"""The clock's own tables and the hooks the record calls inside each change's transaction.

Filled in step by step; the hook signatures are stable."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from bot.context import Ctx
    from store.models import Child, Episode


def on_episode_opened(ctx: "Ctx", child: "Child", episode: "Episode") -> None:
    """An episode was reported (or imported): high-risk and persistence alerts."""


def on_episode_closed(ctx: "Ctx", child: "Child", episode: "Episode") -> None:
    """The child returned: the return-interview clock starts (the sweep picks it up)."""


def on_interview_recorded(ctx: "Ctx", child: "Child", episode: "Episode") -> None:
    """An RI outcome was recorded: pending reminders for the episode stop."""


def on_risk_changed(ctx: "Ctx", child: "Child", episode: "Episode", old_grade: str | None) -> None:
    """The police risk grade changed: re-graded `high` alerts at once."""


def on_child_changed(ctx: "Ctx", child: "Child") -> None:
    """Child details changed (e.g. the allocated worker)."""
