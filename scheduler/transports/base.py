"""What every delivery transport offers the deliverer, and the one error it raises.

A transport turns one neutral message (bot/messages.py) into a message on its platform,
rendering it at send time (Healthchecks' shape: one small class per channel). It knows its
platform's wire and its error codes; the deliverer (scheduler/delivery.py) knows the outbox,
claims, retries and threads, and never a platform."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.messages import Message
from store.models import Outbox


class TransportError(Exception):
    """A send that did not succeed, classified for the deliverer.

    - `retry_after`: the platform asked us to wait this many seconds (rate limit).
    - `permanent`: it will fail the same way again (bad channel, revoked token): mark failed.
    - `unknown`: the message may have been delivered all the same (a timeout after the platform
      accepted it, an answer that is not the platform's): reconcile before sending again.
    Anything else is transient: retried with backoff."""

    def __init__(self, code: str, *, permanent: bool = False, retry_after: float | None = None,
                 unknown: bool = False) -> None:
        super().__init__(code)
        self.code = code[:120]
        self.permanent = permanent
        self.retry_after = retry_after
        self.unknown = unknown


@dataclass(frozen=True)
class Delivered:
    """Where the message landed: the platform's address (conversation) and reference (Slack ts, Teams activity id)."""

    address: str | None
    ref: str | None


class Transport(Protocol):
    name: str

    def send(self, row: Outbox, message: Message, thread_ref: str | None, broadcast: bool) -> Delivered:
        """Deliver `message` to the row's address (as a reply in `thread_ref` when given); raise TransportError."""

    def update(self, address: str, ref: str, message: Message) -> None:
        """Replace a delivered message in place (an alert after someone acted); raise TransportError."""

    def can_find(self, row: Outbox) -> bool:
        """Whether `find_sent` can tell if this row was already delivered."""

    def find_sent(self, row: Outbox, thread_ref: str | None) -> Delivered | None:
        """The row's earlier delivery, if any; raise TransportError (permanent: cannot look)."""

    def is_private(self, address: str) -> bool:
        """Whether only invited members read the address (agendas and board summaries go only there);
        raise TransportError when it cannot be checked."""


class NotPrivate(Exception):
    """The address is read by anyone in the organisation (or cannot be checked): details may not go there."""
