"""Background work inside `run` and `serve`: the sweep every minute, and a deliverer that posts
within a second of a command.

APScheduler's in-memory job store is enough: every piece of delivery state lives in the bot's
own tables, so a restart loses nothing, and several replicas may run this at once (claims and
unique keys keep each message single)."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from bot.context import Services
from scheduler.delivery import deliver_due
from scheduler.sweep import sweep

log = logging.getLogger(__name__)
logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per minute


class Deliverer:
    """A thread that delivers due outbox rows when woken (`wake`), and every `idle` seconds anyway
    (rows waiting for Retry-After or backoff)."""

    def __init__(self, services: Services, idle: float = 5.0) -> None:
        self.services = services
        self.idle = idle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="missing-bot-deliverer", daemon=True)

    def start(self) -> "Deliverer":
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.idle)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                deliver_due(self.services)
            except Exception as exc:  # the database may be briefly away; try again next time
                log.error("deliverer: %s", type(exc).__name__)


def _sweep_job(services: Services) -> None:
    result = sweep(services, services.now())
    if result.enqueued or result.errors:
        log.info("%s", result.summary())


def start_scheduler(services: Services, *, sweep_seconds: int = 60) -> BackgroundScheduler:
    """Start the minute sweep and the deliverer; sets `services.on_enqueued` to wake the deliverer.

    The returned scheduler has `.deliverer`; `shutdown_background(scheduler)` stops both."""
    deliverer = Deliverer(services).start()
    services.on_enqueued = deliverer.wake
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_job(_sweep_job, "interval", seconds=sweep_seconds, args=[services], id="sweep",
                      coalesce=True, max_instances=1, misfire_grace_time=sweep_seconds,
                      next_run_time=datetime.now(timezone.utc))
    scheduler.start()
    scheduler.deliverer = deliverer  # type: ignore[attr-defined]
    deliverer.wake()  # anything left from before a restart goes out now
    return scheduler


def shutdown_background(scheduler: BackgroundScheduler) -> None:
    scheduler.shutdown(wait=True)
    deliverer = getattr(scheduler, "deliverer", None)
    if deliverer is not None:
        deliverer.stop()
