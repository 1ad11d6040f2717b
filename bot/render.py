"""Small renderers shared by every surface: local times, durations, labels."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def local(dt: datetime | None, zone: ZoneInfo, *, with_day: bool = True) -> str:
    """`Thu 19 Nov 2026 14:30 GMT` in the council's zone."""
    if dt is None:
        return "-"
    d = dt.astimezone(zone)
    fmt = "%a %d %b %Y %H:%M %Z" if with_day else "%d/%m/%Y %H:%M %Z"
    return d.strftime(fmt)


def duration(delta: timedelta) -> str:
    """`3d 4h`, `5h 20m`, `12m`."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rem = divmod(minutes, 24 * 60)
    hours, mins = divmod(rem, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m"


def who(child_ref: str, label: str) -> str:
    """How a child appears in a channel: case reference and label only."""
    return f"{child_ref} ({label})" if label else child_ref
