"""One sweep of the protocol clock: find what is due, store it, run the other areas' steps, deliver.

Only what could be due is loaded: open episodes, ended episodes still within the return
interview horizon without an outcome, and (for persistence) children whose episodes changed
since the last sweep. Each due alert is inserted under its unique key, so any number of sweeps,
in any number of processes, fire it once. Other areas add steps with `register_step(fn)`;
`fn(services, now)` runs after the clock and before delivery, and a failing step is logged
(its exception type only: never child details) without stopping the others."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select

from bot.context import Services
from scheduler.delivery import deliver_due
from store import alerts
from store.models import Episode

log = logging.getLogger(__name__)

SweepStep = Callable[[Services, datetime], None]
SWEEP_STEPS: list[SweepStep] = []


def register_step(fn: SweepStep) -> SweepStep:
    """Add a step to every sweep (usable as a decorator); registering twice is a no-op."""
    if fn not in SWEEP_STEPS:
        SWEEP_STEPS.append(fn)
    return fn


# Every sweep's steps, listed here: meetings (agendas, action reminders, invites) and the daily
# retention report (never erases; see scheduler/retention_job.py).
from scheduler.meetings_job import meetings_step  # noqa: E402
from scheduler.retention_job import retention_report  # noqa: E402

register_step(meetings_step)
register_step(retention_report)


@dataclass
class SweepResult:
    at: datetime
    enqueued: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        s = f"sweep at {self.at.isoformat()}: {self.enqueued} alert(s) due, {self.delivered} message(s) delivered"
        return s + (f"; errors: {', '.join(self.errors)}" if self.errors else "")


BATCH = 100
# Seconds a sweep spends delivering before it stops claiming (half the minute between sweeps):
# what is left goes out from the deliverer thread of `serve`, or the next `tick`.
DELIVERY_BUDGET = 30.0


def evaluate(services: Services, now: datetime) -> int:
    """Store every alert due at `now`; returns how many were new.

    The work goes in short transactions of BATCH episodes or children: a first sweep after a
    large import may look at many thousands, and must not hold the database (on SQLite, the one
    writer) for long while people are recording episodes."""
    env = alerts.Env(now, services.protocol, services.zone, services.settings.alert_channel)
    longest = max([r.days for r in services.protocol.persistence], default=1)
    with services.sessions.begin() as s:
        last = alerts.last_sweep_at(s)
        # Persistence only changes when an episode is added or moved; look back one hour past
        # the last good sweep (or a whole window on the first) for changed episodes.
        since = min(last, now) - timedelta(hours=1) if last else now - timedelta(days=longest)
        episode_ids, children = alerts.candidates(s, env, since)
    fired = 0
    for i in range(0, len(episode_ids), BATCH):
        with services.sessions.begin() as s:
            for e in s.scalars(select(Episode).where(Episode.id.in_(episode_ids[i:i + BATCH])).order_by(Episode.id)):
                fired += alerts.evaluate_episode(s, e, env)
        time.sleep(0.001)
    child_ids = sorted(children)
    for i in range(0, len(child_ids), BATCH):
        with services.sessions.begin() as s:
            for child_id in child_ids[i:i + BATCH]:
                fired += alerts.evaluate_persistence(s, child_id, env)
        time.sleep(0.001)  # let a waiting request have the connection between batches
    return fired


def sweep(services: Services, now: datetime | None = None) -> SweepResult:
    now = now or services.now()
    result = SweepResult(at=now)
    try:
        result.enqueued = evaluate(services, now)
    except Exception as exc:  # keep going: delivery of what is already stored matters most
        log.error("sweep: clock evaluation failed: %s", type(exc).__name__)
        result.errors.append(f"clock:{type(exc).__name__}")
    for step in list(SWEEP_STEPS):
        try:
            step(services, now)
        except Exception as exc:
            name = getattr(step, "__name__", "step")
            log.error("sweep: step %s failed: %s", name, type(exc).__name__)
            result.errors.append(f"{name}:{type(exc).__name__}")
    try:
        started = time.monotonic()
        result.delivered = deliver_due(services, now, budget=DELIVERY_BUDGET)
        if time.monotonic() - started >= DELIVERY_BUDGET:
            services.on_enqueued()  # a burst longer than the budget: the deliverer (serve) goes on with it
    except Exception as exc:
        log.error("sweep: delivery failed: %s", type(exc).__name__)
        result.errors.append(f"delivery:{type(exc).__name__}")
    try:
        with services.sessions.begin() as s:
            alerts.record_sweep(s, services.worker_id, now, result.enqueued, result.delivered,
                                "; ".join(result.errors)[:200] or None)
    except Exception as exc:
        log.error("sweep: could not record the heartbeat: %s", type(exc).__name__)
    return result
