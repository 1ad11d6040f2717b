"""`missing-bot tick [--at ISO]`: one full sweep of the protocol clock as of an instant, then exit.

For cron-style deployments (run it every minute instead of the in-process scheduler), for
catching up after downtime, and for tests that drive time."""
from __future__ import annotations

import argparse
from datetime import datetime, timezone


def _instant(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-20T14:30:00+00:00)") from None
    if dt.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset: {text!r} (e.g. 2026-11-20T14:30:00Z)")
    return dt.astimezone(timezone.utc)


def register(sub) -> None:
    p = sub.add_parser("tick", help="run one sweep of the protocol clock (alerts, reminders, delivery) and exit")
    p.add_argument("--at", type=_instant, default=None, metavar="ISO",
                   help="sweep as of this instant (ISO 8601 with offset); default now")
    p.set_defaults(func=_tick)


def _tick(args, services) -> int:
    from scheduler.sweep import sweep

    if args.at is not None:
        at = args.at
        services.clock = lambda: at
    result = sweep(services, services.now())
    print(result.summary())
    return 1 if result.errors else 0

