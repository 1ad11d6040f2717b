"""Microsoft Teams through the Bot Connector (the Teams SDK's API client, handlers/teams/sdk.py).

An outbox row's address (platform "teams") is a conversation id (an alert channel stored by `alerts here`) or a
user's Entra object id (a personal message: the bot's one-to-one chat, opened when it does not
exist yet). The service URL and tenant come from `teams_conversations` (store/teams.py), since
Teams only tells a bot where to post in an activity. The neutral message is rendered as an
Adaptive Card 1.5 at send time (handlers/teams/cards.py).

- send: POST an activity; with `thread_ref` (the thread's first message) a reply in its thread.
  Teams has no "also send to the channel" for a thread reply: `broadcast` is ignored.
- update: PUT the activity in place (an acknowledged alert for everyone).
- find_sent: the Bot Connector cannot list a conversation's messages, so an unknown outcome
  cannot be reconciled: `can_find` is False and the deliverer keeps its bound (at most the one
  message in flight repeated). docs/TEAMS.md says what Graph would need to close that.
- errors: 429 + Retry-After, 5xx transient; 403 (the bot was removed), 404, other 4xx permanent;
  a timeout after the request went out is unknown (see `handlers.teams.sdk.classify`)."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Callable
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import Message
from handlers.teams import cards, files
from handlers.teams.sdk import ConversationRef, TeamsClient, card_activity, classify, cloud_for
from scheduler.transports.base import Delivered, TransportError
from store import teams as directory
from store.models import Outbox


class TeamsTransport:
    name = "teams"

    def __init__(self, client: TeamsClient, sessions: sessionmaker[Session], settings=None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.client = client
        self.sessions = sessions
        self.settings = settings  # for file links (TEAMS_PUBLIC_URL); None: files are only named
        self.clock = clock

    # -- where --------------------------------------------------------------------------------
    def resolve(self, address: str) -> ConversationRef:
        """The conversation an address names; a personal chat is opened (and stored) if needed."""
        with self.sessions.begin() as s:
            row = directory.find(s, address)
            if row is not None and row.conversation_id:
                return ConversationRef(row.conversation_id, row.service_url, row.tenant_id)
            if not directory.is_entra_id(address):
                raise TransportError("conversation unknown (no `alerts here` or message from it)", permanent=True)
            entra = str(uuid.UUID(address))  # the connector takes the Entra object id as a GUID
            if row is not None:
                where, member = (row.service_url, row.tenant_id), row.teams_user_id or entra
            else:  # a user the bot never heard from: open the chat where the bot last heard anyone
                where, member = directory.any_service_url(s), entra
            if where is None:
                raise TransportError("no Teams conversation known yet: nobody has written to the bot", permanent=True)
        try:
            conversation_id = self.client.open_personal(where[0], where[1], member)
        except Exception as exc:  # noqa: BLE001 - classified: SDK and HTTP errors
            raise classify(exc) from exc
        try:
            with self.sessions.begin() as s:
                found = directory.find(s, address)
                if found is not None:
                    found.conversation_id = conversation_id
        except IntegrityError:  # another deliverer stored the same chat first
            pass
        return ConversationRef(conversation_id, where[0], where[1])

    def _names(self) -> dict[str, str]:
        with self.sessions() as s:
            return directory.names(s)

    # -- transport ----------------------------------------------------------------------------
    def send(self, row: Outbox, message: Message, thread_ref: str | None, broadcast: bool) -> Delivered:
        ref = self.resolve(row.address)
        msg = message
        links = files.links_for(self.settings, row, msg, self.clock()) if self.settings and self.clock else {}
        activity = card_activity(cards.card(msg, names=self._names(), links=links), summary=msg.summary())
        try:
            activity_id = self.client.send(ref, activity, thread_root=thread_ref)
        except Exception as exc:  # noqa: BLE001 - classified: SDK and HTTP errors
            raise classify(exc) from exc
        return Delivered(ref.conversation_id, activity_id)

    def update(self, address: str, ref: str, message: Message) -> None:
        """Replace a sent card (e.g. an alert now acknowledged) for everyone in the conversation."""
        conversation = self.resolve(address)
        activity = card_activity(cards.card(message, names=self._names()), summary=message.summary())
        try:
            self.client.update(conversation, ref, activity)
        except Exception as exc:  # noqa: BLE001
            raise classify(exc) from exc

    def can_find(self, row: Outbox) -> bool:
        return False

    def find_sent(self, row: Outbox, thread_ref: str | None) -> Delivered | None:
        return None

    def is_private(self, address: str) -> bool:
        """A personal chat (or a user) is private. Whether a channel is a private channel the Bot
        Connector does not say: it cannot be checked, so details never go to a Teams channel."""
        if directory.is_entra_id(address) or address.startswith("a:"):
            return True
        raise TransportError("Teams cannot tell whether a channel is private", permanent=True)


TIMEOUT = 10.0  # seconds the Bot Connector has to answer a send before the outcome is unknown
_clients: dict[tuple, TeamsClient] = {}
_lock = threading.Lock()


def client_for(settings) -> TeamsClient:
    """One Teams client (and its event loop thread) per process and configuration."""
    key = (settings.teams_client_id, settings.teams_client_secret, settings.teams_tenant_id,
           settings.teams_token_url, settings.teams_openid_url, settings.teams_token_issuer)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = TeamsClient(
                client_id=settings.teams_client_id, client_secret=settings.teams_client_secret,
                tenant_id=settings.teams_tenant_id, cloud=cloud_for(settings), token_url=settings.teams_token_url,
                timeout=TIMEOUT)
        return client


def close_clients() -> None:
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
