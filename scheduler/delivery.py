"""Delivery of outbox rows: each row delivered once, none lost.

The database is the queue. Rows are claimed a batch at a time (up to BATCH, in the order
next_attempt_at, id) by one conditional UPDATE (pending -> sending; on PostgreSQL the candidates
are picked with FOR UPDATE SKIP LOCKED, so concurrent deliverers take different rows instead of
queueing on the same ones), each handed in turn to its platform's transport (scheduler/transports/:
Slack, email), then marked sent with where it landed (Slack's channel and ts). Two processes never
deliver the same row. The transports know their wire and error codes and raise one
`TransportError`; this module knows only its classes.

A pass (`deliver_due`) goes on until nothing is due, so a burst (a thousand alerts falling due in
one sweep) goes out as fast as the platform answers, not a batch per wake-up. Per batch it costs
one durable commit: the outcomes of a batch are written in the transaction that claims the next
one, and what the batch needs to know (episodes, threads, the alerts to render) is read for all its
rows in one read session. So a process has at most one batch claimed and not yet settled: a crash
leaves at most BATCH rows in `sending`, some of them perhaps posted. Each is an unknown outcome,
recovered after SENDING_TIMEOUT and looked for by its key before it is posted again (below), so
none is doubled where the platform keeps history. Where it does not (Teams, files, email), a sent
row is settled at once with its own commit, keeping the bound at the one message in flight. A row
is not posted more than HOLD seconds after its batch was claimed, nor after the pass's `budget`:
the rest of the batch is handed back (pending, as before the claim), so a slow platform never lets
a claim grow stale under a live process (SENDING_TIMEOUT is well above HOLD plus a post's lookup
and timeouts).

Order: within a batch rows go in claim order, one at a time, and a row sees the outcome of the
earlier rows of its batch as if each had been committed first (threads, below).

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
`channels:history`, `groups:history` and `im:history` scopes; a workspace that refuses them cannot
be looked in: a crash may then repeat the posts of the batch in flight whose outcome was not yet
written (at most BATCH), and `/missing health` says so. Files (files_upload_v2) carry no metadata: each is settled at
once, so at most the one file in flight repeats.

Messages are neutral (bot/messages.py) and rendered by the row's platform's transport when
delivered. An alert's row names the alert and renders it as it is when its batch is read (at
most FRESH seconds before its post: acknowledged, answered; a reminder whose interview was
recorded meanwhile is cancelled), so a post that waited out an outage never shows stale buttons; acting on
an alert while its batch goes out queues an update of every copy sent or on its way. A row with payload
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

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bot.context import Services
from bot.messages import Message, Person, Place
from bot.platforms import EMAIL, is_user
from scheduler import transports
from scheduler.transports import TransportError
from store.alerts import alert_messages
from store.models import Episode, Outbox
from store.outbox import UNCHECKED, enqueue

log = logging.getLogger(__name__)

SENDING_TIMEOUT = timedelta(minutes=2)  # well above the WebClient's 10 s timeout
GIVE_UP_AFTER = timedelta(hours=24)
BACKOFF_FIRST, BACKOFF_MAX = 5, 15 * 60  # seconds
BATCH = 50  # due rows claimed at once (`claim_batch`): a crash leaves at most these unsettled
HOLD = 20  # seconds after its batch was claimed past which a row is handed back rather than posted
FRESH = 1.0  # seconds a batch's reads stay good for: older, they are read again before the next post
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
    row if it is still pending and due. `settle`: outcomes to write in the same transaction."""
    rows = claim_batch(services, now, settle, limit=1, row_id=row_id)
    return rows[0] if rows else None


def claim_batch(services: Services, now: datetime, settle: list | None = None, *, limit: int = BATCH,
                row_id: int | None = None) -> list[Outbox]:
    """Claim up to `limit` due rows for this process (pending -> sending) in one transaction, in
    delivery order (next_attempt_at, id); [] when nothing is due. `settle`: the outcomes of the rows
    this process delivered before (`_set`), written in the same transaction (and then emptied)."""
    with services.sessions.begin() as s:
        _write(s, settle)
        pick = select(Outbox.id).where(Outbox.status == "pending", Outbox.next_attempt_at <= now)
        pick = pick.where(Outbox.id == row_id) if row_id is not None else (
            pick.order_by(Outbox.next_attempt_at, Outbox.id).limit(limit))
        if s.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)  # rows another process is claiming are skipped
        # The ids first, then the UPDATE: PostgreSQL may run a LIMIT subquery inside an UPDATE once
        # per row it scans (a nested-loop semi-join), claiming far more than `limit` rows.
        ids = list(s.scalars(pick))
        # The claimed rows come back from the UPDATE itself (RETURNING).
        rows = list(s.scalars(
            update(Outbox).where(Outbox.id.in_(ids), Outbox.status == "pending")
            .values(status="sending", claimed_at=now, claimed_by=services.worker_id[:64], attempts=Outbox.attempts + 1)
            .returning(Outbox)
        )) if ids else []
    if settle:
        settle.clear()  # committed
    return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))  # RETURNING keeps no order


def _write(s: Session, settle: list | None) -> None:
    """Write settled outcomes: one executemany per set of columns (sent, retry, wait...), not a
    statement per row. A row settled twice in one list keeps the later outcome."""
    latest = dict(settle or ())
    groups: dict[tuple, list[dict]] = {}
    for row_id, values in latest.items():
        groups.setdefault(tuple(sorted(values)), []).append({"row_id": row_id, **{f"v_{k}": v for k, v in values.items()}})
    table = Outbox.__table__
    for columns, params in groups.items():
        s.connection().execute(update(table).where(table.c.id == bindparam("row_id"))
                               .values({c: bindparam(f"v_{c}") for c in columns}), params)


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
    next claim (or at the end of the pass): one commit per batch instead of one per message."""
    if settle is not None:
        settle.append((row_id, values))
        return
    with services.sessions.begin() as s:
        s.execute(update(Outbox).where(Outbox.id == row_id).values(**values))


LIVE = ("sent", "pending", "sending")  # the statuses that make a row part of its thread


class _Batch:
    """What delivering a batch of claimed rows needs from the database, read for all of them at once
    in one read session (a few queries, not several per row), and the outcomes this pass has given
    its rows but not yet committed (`note`): a later row of the batch sees an earlier one as it now
    is (sent, with its ts; waiting; failed), exactly as if that outcome had been committed first.

    Read when the batch is claimed, and read again for the rows still to go whenever the last read
    is more than FRESH seconds old (a platform answering in tenths of a second), so no row is
    checked (moot) or rendered on reads older than that; an interview recorded meanwhile still
    cancels its reminder. Someone acting on an alert also refreshes every copy `sent` or
    `sending` (store/alerts.py `queue_refresh`)."""

    def __init__(self, services: Services, rows: list[Outbox], outcomes: dict[int, dict] | None = None) -> None:
        self.outcomes: dict[int, dict] = outcomes if outcomes is not None else {}
        self.read_at = time.monotonic()
        plain = [r for r in rows if not _is_update(r)]
        self.moot: dict[int, str | None] = {}
        self.messages: dict[int, Message | None] = {}
        self.earlier: dict[tuple, list] = {}  # (thread, platform, address) -> its live rows, by id
        with services.reads() as s:  # reads only: no write lock while rendering
            episodes = {r.episode_id for r in plain if r.episode_id is not None and r.kind.startswith(("alert.", "council."))}
            found = {e.id: e for e in s.execute(select(Episode.id, Episode.ri_outcome, Episode.returned_at)
                                                .where(Episode.id.in_(episodes)))} if episodes else {}
            threads = {r.thread_key for r in plain if r.thread_key}
            if threads:
                for e in s.execute(select(Outbox.id, Outbox.thread_key, Outbox.platform, Outbox.address, Outbox.kind,
                                          Outbox.status, Outbox.sent_ref, Outbox.next_attempt_at)
                                   .where(Outbox.thread_key.in_(threads), Outbox.id < max(r.id for r in plain),
                                          Outbox.status.in_(LIVE)).order_by(Outbox.id)):
                    self.earlier.setdefault((e.thread_key, e.platform, e.address), []).append(e)
            render = alert_messages(s, [r.alert_id for r in plain if r.alert_id is not None], services.protocol,
                                    services.zone)
            for r in plain:
                # A sweep that read the episode before its interview outcome committed may have stored a
                # reminder after the outcome's transaction cancelled the pending ones: cancel it here.
                self.moot[r.id] = _moot(r, found)
                if self.moot[r.id] is None:
                    self.messages[r.id] = _message(r, render)

    def note(self, row_id: int, values: dict) -> None:
        self.outcomes[row_id] = values

    def _now(self, e) -> tuple[str, str | None, datetime]:
        """A thread row's status, ts and next attempt, with this pass's outcome if it has one."""
        o = self.outcomes.get(e.id, {})
        return o.get("status", e.status), o.get("sent_ref", e.sent_ref), o.get("next_attempt_at", e.next_attempt_at)

    def thread_root(self, row: Outbox) -> tuple[str | None, datetime | None]:
        """(ts of the thread's root, or None) and, when an earlier row of the thread is not yet sent,
        the time to wait until."""
        if not row.thread_key:
            return None, None
        for e in self.earlier.get((row.thread_key, row.platform, row.address), ()):
            if e.id >= row.id:
                break
            status, ref, when = self._now(e)
            if status == "sent":
                return ref, None
            if status in LIVE:
                return None, when
        return None, None

    def first_alert_of_thread(self, row: Outbox) -> bool:
        """Whether `row` is the first alert of its thread: it is then also shown in the channel
        (reply_broadcast), so the team sees it rather than a reply count under the report's line;
        later alerts about the episode stay in the thread."""
        if not row.kind.startswith("alert."):
            return False
        return not any(e.id < row.id and e.kind.startswith("alert.") and self._now(e)[0] in LIVE
                       for e in self.earlier.get((row.thread_key, row.platform, row.address), ()))


def _is_update(row: Outbox) -> bool:
    return bool((row.payload or {}).get("update"))


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


def _moot(row: Outbox, episodes: dict) -> str | None:
    """Why an alert no longer asks anything of anyone by the time it can be posted (e.g. it waited
    out a Slack outage), or None. A reminder stored by a sweep that read the episode before its
    interview outcome committed; a long-missing alert about a child who has since returned.
    `episodes`: the live episodes of the batch by id (ri_outcome, returned_at)."""
    if row.episode_id is None or not row.kind.startswith(("alert.", "council.")):  # council.: an email to a council
        return None
    found = episodes.get(row.episode_id)
    if found is None:  # live episodes only (store/db.py): this one was withdrawn, recorded in error
        return "episode withdrawn"
    if row.kind in RI_KINDS and found.ri_outcome is not None:
        return "interview recorded"
    if row.kind == LONG_MISSING_KIND and found.returned_at is not None:
        return "returned before the alert could be posted"
    return None


def _message(row: Outbox, alerts: dict) -> Message | None:
    """The neutral message to send now: an alert as it is now (`alerts`: `alert_messages`), else the
    stored message."""
    if row.alert_id is not None:
        render = alerts.get(row.alert_id)
        return None if render is None else render((row.message or {}).get("visibility"))
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


def deliver_one(services: Services, row: Outbox, now: datetime, settle: list | None = None,
                batch: _Batch | None = None) -> bool:
    """Deliver one claimed row through its platform's transport; True when it was delivered.
    `settle`: see `_set`; `batch`: what was read for the row's batch (read for this row alone if None)."""
    is_update = _is_update(row)
    batch = batch or _Batch(services, [row])
    if is_update:
        with services.reads() as s:
            target, why = _update_target(s, row)
            message = None if why else _message(row, alert_messages(s, [row.alert_id] if row.alert_id else [],
                                                                    services.protocol, services.zone))
        moot, thread_ts, wait_until, broadcast = None, None, None, False
    else:
        target, why = None, None
        moot, message = batch.moot[row.id], batch.messages.get(row.id)
        thread_ts, wait_until = batch.thread_root(row)
        broadcast = thread_ts is not None and batch.first_alert_of_thread(row)
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
    cause = f"{UNKNOWN}: {exc.code}" if exc.unknown else exc.code
    if exc.retry_after is not None:  # at least a second: a pass never spins on a "Retry-After: 0"
        _retry_later(services, row, now, now + timedelta(seconds=max(1, exc.retry_after)), cause, settle)
    elif exc.permanent:
        _fail(services, row, now, exc.code)
    else:
        _retry_later(services, row, now, now + _backoff(row.attempts), cause, settle)
        log.warning("outbox %s (%s): will retry: %s", row.id, row.kind, cause)
    return False


def deliver_due(services: Services, now: datetime | None = None, *, budget: float | None = None) -> int:
    """Deliver every row that is due, a batch of claims at a time until none is left (a burst of
    alerts goes out in one pass, as fast as the platform answers, not a batch per wake-up); returns
    how many were sent. Each batch is claimed as of the moment it is claimed (`now`, if given, is the
    earliest: tests and `tick --at` pin it), so rows claimed late in a long pass are not taken for
    stale claims by another process. `budget`: stop posting after that many seconds of wall time
    (the sweep, so that a long burst never holds up the next sweep: the deliverer carries on); the
    rows of the batch not yet posted are handed back, as are those still waiting HOLD seconds
    after their batch was claimed."""
    started = time.monotonic()
    recover_stale(services, now or services.now())
    sent, settle, unstarted = 0, [], []
    try:
        while budget is None or time.monotonic() - started < budget:
            at = services.now() if now is None else max(now, services.now())
            unstarted = claim_batch(services, at, settle)
            claimed = time.monotonic()
            if not unstarted:  # nothing due, or another process took (or is taking) every due row
                break
            batch = _Batch(services, unstarted)
            first = True
            while unstarted:
                # The first row of a batch always goes (each batch makes progress); later ones only
                # within the budget, and while their claim is well short of SENDING_TIMEOUT (HOLD).
                if not first and (time.monotonic() - claimed > HOLD or
                                  (budget is not None and time.monotonic() - started >= budget)):
                    break
                first = False
                if time.monotonic() - batch.read_at > FRESH:
                    # A slow platform (a real one answers in tenths of a second): what the rest of the
                    # batch shows and whether it is still wanted (an interview recorded meanwhile
                    # cancels its reminder) is read again, as close to each post as it was per row.
                    batch = _Batch(services, unstarted, batch.outcomes)
                row = unstarted.pop(0)
                mark = len(settle)
                sent += deliver_one(services, row, at, settle, batch)
                # deliver_one settles its row once (or fails it at once, `_fail`): later rows of the
                # batch see that outcome (threads) before it is committed.
                batch.note(row.id, next((v for i, v in reversed(settle[mark:]) if i == row.id), {"status": "failed"}))
                if settle and settle[-1][0] == row.id and settle[-1][1]["status"] == "sent" and \
                        not transports.for_services(services)[row.platform].can_find(row):
                    _flush(services, settle)  # nothing to look in after a crash: keep it to this one message
            _release(unstarted, settle)
            unstarted = []
    finally:
        _release(unstarted, settle)  # an error mid-batch: the rows not yet posted go back as they were
        _flush(services, settle)  # the last outcomes of the pass
    return sent


def _release(rows: list[Outbox], settle: list) -> None:
    """Hand back claimed rows that were never posted: pending again, as they were before the claim."""
    for row in rows:
        settle.append((row.id, dict(status="pending", attempts=row.attempts - 1)))


def _flush(services: Services, settle: list) -> None:
    if settle:
        with services.sessions.begin() as s:
            _write(s, settle)
        settle.clear()
