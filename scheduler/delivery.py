"""Delivery of outbox rows: each row delivered once, none lost.

The database is the queue. A row is claimed by one conditional UPDATE (pending -> sending; on
PostgreSQL the candidate is picked with FOR UPDATE SKIP LOCKED, so concurrent deliverers take
different rows instead of queueing on the same one), handed to its platform's transport
(scheduler/transports/: Slack, email), then marked sent with where it landed (Slack's channel and
ts). Two processes never deliver the same row. The transports know their wire and error codes
and raise one `TransportError`; this module knows only its classes.

A pass (`deliver_due`) goes on until nothing is due, so a burst (a thousand alerts falling due in
one sweep) goes out as fast as the platform answers, not a batch per wake-up. Per message it
costs one durable commit: a row's outcome is written in the transaction that claims the next one
(nothing is posted in between, so at most one row per process is claimed and not yet settled).
The order (next_attempt_at, id) is read a hundred due rows at a time and each row claimed by id.

Failures:
- rate limited: the row waits for Retry-After (next_attempt_at; the deliverer never sleeps).
- transient (5xx, connection errors, timeouts): retried with exponential backoff (5 s, 10 s, ...
  capped at 15 min); after 24 h the row is marked failed.
- permanent (channel_not_found, not_in_channel, invalid_auth, SMTP 5xx, ...): marked failed at once,
  shown by `/missing health`, and each admin gets one direct message per channel, error and day.
- A process killed between claiming and recording the result leaves a row in `sending`; after
  SENDING_TIMEOUT another deliverer puts it back to pending, as an unknown outcome (below).

Unknown outcomes are reconciled, not guessed: every chat.postMessage carries Slack message
metadata with the row's key. When a post's outcome is unknown (a timeout after Slack may have
accepted it, a 200 answer that is not JSON, e.g. a proxy's error page, or a claim recovered from
a killed process), the next attempt first looks for that key among the channel's (or the thread's)
messages since the row was created, and marks the row sent if it finds it. This needs the
`channels:history`, `groups:history` and `im:history` scopes; a workspace that refuses them falls
back to the bound above (at most the one message in flight repeated), and `/missing health` says so.
Files (files_upload_v2) carry no metadata: they keep that bound.

Messages are neutral (bot/messages.py) and rendered by the row's platform's transport when
delivered. An alert's row names the alert and renders it as it is at that moment (acknowledged,
answered), so a post that waited out an outage never shows stale buttons. A row with payload
{"update": id} replaces the message that row `id` posted (an alert after someone acted); it waits
while that row is still on its way.

Threads: a row with `thread_key` is posted in the thread of the first sent row with the same key in
the same channel; while an earlier row of the thread is still pending it waits for it, so the first
message of a thread is its root. The first alert row of a thread is also broadcast to the channel
(reply_broadcast), later ones stay in the thread. Messages with attachments are uploaded as files."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.context import Services
from bot.messages import Message, Person, Place
from bot.platforms import EMAIL, is_user
from scheduler import transports
from scheduler.transports import TransportError
from store.alerts import alert_message
from store.models import Episode, Outbox
from store.outbox import UNCHECKED, enqueue

log = logging.getLogger(__name__)

SENDING_TIMEOUT = timedelta(minutes=2)  # well above the WebClient's 10 s timeout
GIVE_UP_AFTER = timedelta(hours=24)
BACKOFF_FIRST, BACKOFF_MAX = 5, 15 * 60  # seconds
PICK = 100  # due rows looked up at once (`_pick`)
RI_KINDS = ("alert.ri_reminder", "alert.ri_overdue")
LONG_MISSING_KIND = "alert.long_missing"
UNKNOWN = "unknown outcome"  # the prefix of `error` on a row whose last post may have reached its platform
NO_HISTORY = "the platform keeps no history to look in"


def recover_stale(services: Services, now: datetime) -> int:
    """Put back rows left in `sending` by a process that died mid-delivery."""
    with services.sessions.begin() as s:
        res = s.execute(update(Outbox).where(Outbox.status == "sending", Outbox.claimed_at <= now - SENDING_TIMEOUT)
                        .values(status="pending", next_attempt_at=now, error=f"{UNKNOWN}: claim recovered"))
    if res.rowcount:
        log.warning("outbox: recovered %d stale claim(s)", res.rowcount)
    return res.rowcount


def claim_next(services: Services, now: datetime, settle: list | None = None,
               row_id: int | None = None) -> Outbox | None:
    """Claim the next due row for this process, or None when nothing is due; with `row_id`, that
    row if it is still pending and due (`_pick`), else None. `settle`: the outcome of the row this
    process delivered just before (`_set`), written in the same transaction."""
    with services.sessions.begin() as s:
        for settled_id, values in settle or ():
            s.execute(update(Outbox).where(Outbox.id == settled_id).values(**values))
        pick = select(Outbox.id).where(Outbox.status == "pending", Outbox.next_attempt_at <= now)
        pick = pick.where(Outbox.id == row_id) if row_id is not None else (
            pick.order_by(Outbox.next_attempt_at, Outbox.id).limit(1))
        if s.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)  # a row another process is claiming is skipped
        # The claimed row comes back from the UPDATE itself (RETURNING): one statement.
        row = s.scalars(
            update(Outbox).where(Outbox.id == pick.scalar_subquery(), Outbox.status == "pending")
            .values(status="sending", claimed_at=now, claimed_by=services.worker_id[:64], attempts=Outbox.attempts + 1)
            .returning(Outbox)
        ).first()
    if settle:
        settle.clear()  # committed
    return row


def _pick(services: Services, now: datetime) -> list[int]:
    """The next PICK due rows, in the order they are delivered. Sorting the due rows (PostgreSQL
    sorts them all for `next_attempt_at, id`) is done once per PICK claims instead of once per claim;
    each row is still claimed on its own."""
    with services.reads() as s:
        return list(s.scalars(select(Outbox.id).where(Outbox.status == "pending", Outbox.next_attempt_at <= now)
                              .order_by(Outbox.next_attempt_at, Outbox.id).limit(PICK)))


def claim(services: Services, row_id: int, now: datetime) -> bool:
    """Claim one given row (pending -> sending) if nobody else has."""
    with services.sessions.begin() as s:
        res = s.execute(
            update(Outbox).where(Outbox.id == row_id, Outbox.status == "pending")
            .values(status="sending", claimed_at=now, claimed_by=services.worker_id[:64], attempts=Outbox.attempts + 1)
        )
        return res.rowcount == 1


def _set(services: Services, row_id: int, settle: list | None, **values) -> None:
    """Record a row's outcome: at once, or, inside a delivery pass (`settle`, a list), with the pass's
    next claim: one commit per message instead of two. Nothing is posted between the two, so at most
    one row of this process is ever claimed and not yet settled, as when each had its own commit."""
    if settle is not None:
        settle.append((row_id, values))
        return
    with services.sessions.begin() as s:
        s.execute(update(Outbox).where(Outbox.id == row_id).values(**values))


def _thread_root(s: Session, row: Outbox) -> tuple[str | None, datetime | None]:
    """(ts of the thread's root, or None) and, when an earlier row of the thread is not yet sent,
    the time to wait until."""
    if not row.thread_key:
        return None, None
    earlier = s.execute(
        select(Outbox.status, Outbox.sent_ref, Outbox.next_attempt_at)
        .where(Outbox.thread_key == row.thread_key, Outbox.platform == row.platform, Outbox.address == row.address,
               Outbox.id < row.id,
               Outbox.status.in_(["sent", "pending", "sending"]))
        .order_by(Outbox.id).limit(1)
    ).first()
    if earlier is None:
        return None, None
    if earlier.status == "sent":
        return earlier.sent_ref, None
    return None, earlier.next_attempt_at


def _first_alert_of_thread(s: Session, row: Outbox) -> bool:
    """Whether `row` is the first alert of its thread: it is then also shown in the channel
    (reply_broadcast), so the team sees it rather than a reply count under the report's line;
    later alerts about the episode stay in the thread."""
    if not row.kind.startswith("alert."):
        return False
    return s.scalar(
        select(Outbox.id).where(Outbox.thread_key == row.thread_key, Outbox.platform == row.platform,
                                Outbox.address == row.address,
                                Outbox.id < row.id, Outbox.kind.like("alert.%"),
                                Outbox.status.in_(["sent", "pending", "sending"])).limit(1)) is None


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_FIRST * 2 ** max(0, attempts - 1), BACKOFF_MAX))


def _retry_later(services: Services, row: Outbox, now: datetime, when: datetime, error: str,
                 settle: list | None = None) -> None:
    if now - row.created_at >= GIVE_UP_AFTER:
        _fail(services, row, now, f"gave up after {row.attempts} attempts: {error}")
        return
    _set(services, row.id, settle, status="pending", next_attempt_at=when, error=error[:200])


def _fail(services: Services, row: Outbox, now: datetime, error: str) -> None:
    log.warning("outbox %s (%s): delivery failed: %s", row.id, row.kind, error)
    with services.sessions.begin() as s:
        s.execute(update(Outbox).where(Outbox.id == row.id).values(status="failed", error=error[:200]))
        if not row.kind.startswith("admin."):
            day = now.astimezone(services.zone).date().isoformat()
            for admin in services.settings.admin_users:
                cause = error.rsplit(": ", 1)[-1][:40]  # "gave up after N attempts: http_503" -> http_503
                enqueue(s, key=f"delivery-failed:{row.address[:60]}:{cause}:{day}:{admin}", kind="admin.delivery_failed",
                        channel=admin, now=now, message=_failure_notice(row, error))


def _failure_notice(row: Outbox, error: str) -> Message:
    if row.platform == EMAIL:
        return Message(f":warning: missing-bot could not send an email (an invite, an agenda or a council notification): "
                       f"`{error[:80]}`. It is marked failed; `/missing health` lists it. Check SMTP_URL and the "
                       "addresses (attendees, `[[authorities]]`).")
    where = Person(row.address) if is_user(row.address) else Place(row.address)
    return Message(":warning: missing-bot could not post to " + where + f": `{error[:80]}`. Messages for it are "
                   "marked failed; `/missing health` lists them. Check that the bot is in the channel and its token "
                   "is valid.")


def _moot(s: Session, row: Outbox) -> str | None:
    """Why an alert no longer asks anything of anyone by the time it can be posted (e.g. it waited
    out a Slack outage), or None. A reminder stored by a sweep that read the episode before its
    interview outcome committed; a long-missing alert about a child who has since returned."""
    if row.episode_id is None or not row.kind.startswith(("alert.", "council.")):  # council.: an email to a council
        return None
    found = s.execute(select(Episode.ri_outcome, Episode.returned_at).where(Episode.id == row.episode_id)).one_or_none()
    if found is None:  # live episodes only (store/db.py): this one was withdrawn, recorded in error
        return "episode withdrawn"
    outcome, returned = found
    if row.kind in RI_KINDS and outcome is not None:
        return "interview recorded"
    if row.kind == LONG_MISSING_KIND and returned is not None:
        return "returned before the alert could be posted"
    return None


def _message(s: Session, services: Services, row: Outbox) -> Message | None:
    """The neutral message to send now: an alert as it is now, else the stored message."""
    if row.alert_id is not None:
        return alert_message(s, row.alert_id, services.protocol, services.zone, visibility=row.message.get("visibility"))
    return Message.from_json(row.message)


def _update_target(s: Session, row: Outbox) -> tuple[Outbox | None, str | None]:
    """For an update row: the row whose post it replaces, or why it waits or is moot."""
    target = s.get(Outbox, (row.payload or {}).get("update"))
    if target is None or target.status in ("failed", "cancelled"):
        return None, "cancelled"
    if target.status != "sent":
        return None, "wait"
    if not target.sent_ref:
        return None, "cancelled"  # a file upload: nothing to update in place
    return target, None


def deliver_one(services: Services, row: Outbox, now: datetime, settle: list | None = None) -> bool:
    """Deliver one claimed row through its platform's transport; True when it was delivered.
    `settle`: see `_set`."""
    is_update = bool((row.payload or {}).get("update"))
    with services.reads() as s:  # reads only: no write lock while rendering
        # A sweep that read the episode before its interview outcome committed may have stored a
        # reminder after the outcome's transaction cancelled the pending ones: cancel it here.
        moot = None if is_update else _moot(s, row)
        thread_ts, wait_until = (None, None) if is_update else _thread_root(s, row)
        broadcast = thread_ts is not None and _first_alert_of_thread(s, row)
        target, why = _update_target(s, row) if is_update else (None, None)
        message = None if moot or why else _message(s, services, row)
    if moot or why == "cancelled" or (message is None and not why):
        _set(services, row.id, settle, status="cancelled", error=moot or ("nothing to update" if is_update else "alert gone"))
        return False
    if why == "wait":  # the post it updates is not out yet: it will render as things are when it goes
        _set(services, row.id, settle, status="pending", attempts=row.attempts - 1, next_attempt_at=now + timedelta(seconds=5))
        return False
    if wait_until is not None:  # the thread's first message is not out yet: go after it
        _set(services, row.id, settle, status="pending", attempts=row.attempts - 1,
             next_attempt_at=max(now, wait_until) + timedelta(seconds=1))
        return False
    transport = transports.for_services(services)[row.platform]
    if is_update:
        try:
            transport.update(target.sent_address, target.sent_ref, message)
        except TransportError as exc:
            return _failed_attempt(services, row, now, exc, settle)
        _set(services, row.id, settle, status="sent", sent_at=now, sent_address=target.sent_address, sent_ref=target.sent_ref,
             error=None)
        return True
    unchecked = None
    if (row.error or "").startswith(UNKNOWN) and not transport.can_find(row):
        unchecked = NO_HISTORY  # Teams, files: nothing to look in; at most this one message repeats
    elif (row.error or "").startswith(UNKNOWN):
        try:
            found = transport.find_sent(row, thread_ts)
        except TransportError as exc:
            if not exc.permanent:  # cannot look right now: still unknown, try again later
                _retry_later(services, row, now, now + _backoff(row.attempts),
                             f"{UNKNOWN}: could not check ({exc.code[:40]})", settle)
                return False
            unchecked = exc.code[:60]  # e.g. missing_scope: send anyway, within the old bound
            log.warning("outbox %s (%s): could not look for an earlier copy: %s", row.id, row.kind, unchecked)
        else:
            if found is not None:
                _set(services, row.id, settle, status="sent", sent_at=now, sent_address=found.address, sent_ref=found.ref,
                     error=None)
                return True
    try:
        delivered = transport.send(row, message, thread_ts, broadcast)
    except TransportError as exc:
        return _failed_attempt(services, row, now, exc, settle)
    _set(services, row.id, settle, status="sent", sent_at=now, sent_address=delivered.address, sent_ref=delivered.ref,
         error=f"{UNCHECKED}: {unchecked}" if unchecked else None)
    return True


def _failed_attempt(services: Services, row: Outbox, now: datetime, exc: TransportError,
                    settle: list | None = None) -> bool:
    if exc.retry_after is not None:  # at least a second: a pass never spins on a "Retry-After: 0"
        _retry_later(services, row, now, now + timedelta(seconds=max(1, exc.retry_after)), exc.code, settle)
    elif exc.permanent:
        _fail(services, row, now, exc.code)
    else:
        cause = f"{UNKNOWN}: {exc.code}" if exc.unknown else exc.code
        _retry_later(services, row, now, now + _backoff(row.attempts), cause, settle)
        log.warning("outbox %s (%s): will retry: %s", row.id, row.kind, cause)
    return False


def deliver_due(services: Services, now: datetime | None = None, *, budget: float | None = None) -> int:
    """Deliver every row that is due, one claim at a time until none is left (a burst of alerts
    goes out in one pass, as fast as the platform answers, not a batch per wake-up); returns how
    many were sent. Each claim is as of the moment it is made (`now`, if given, is the earliest:
    tests and `tick --at` pin it), so rows claimed late in a long pass are not taken for stale
    claims by another process. `budget`: stop claiming after that many seconds of wall time (the
    sweep, so that a long burst never holds up the next sweep: the deliverer carries on)."""
    started = time.monotonic()
    recover_stale(services, now or services.now())
    sent, settle, picked, claimed = 0, [], [], True
    try:
        while budget is None or time.monotonic() - started < budget:
            at = services.now() if now is None else max(now, services.now())
            if not picked:
                if not claimed:  # another process took (or is taking) every row of the last pick: leave it to it
                    break
                picked, claimed = _pick(services, at), False
                if not picked:
                    break
            row = claim_next(services, at, settle, picked.pop(0))
            if row is not None:  # else another process took it, or it is no longer due
                claimed = True
                sent += deliver_one(services, row, at, settle)
    finally:
        if settle:  # the last outcome of the pass, on its own
            with services.sessions.begin() as s:
                for row_id, values in settle:
                    s.execute(update(Outbox).where(Outbox.id == row_id).values(**values))
    return sent
