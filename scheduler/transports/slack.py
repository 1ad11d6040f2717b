"""Slack through the Web API (slack_sdk's WebClient): neutral messages rendered as Block Kit at
send time (handlers/slack/render.py), posts, updates in place, file uploads, and finding a post by
the outbox key it carries in its message metadata."""
from __future__ import annotations

import socket
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.messages import Message
from handlers.slack.render import mrkdwn, render
from scheduler.transports.base import Delivered, TransportError
from store.models import Outbox

METADATA_TYPE = "missing_bot_outbox"
NON_JSON = "Received a response in a non-JSON format"  # slack_sdk's error for a body that is not JSON
PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "no_permission", "missing_scope", "user_not_found", "user_disabled",
    "cannot_dm_bot", "invalid_blocks", "invalid_arguments", "msg_too_long", "no_text", "restricted_action",
    "ekm_access_denied", "team_access_not_granted", "channel_is_archived", "not_allowed_token_type",
}
TRANSIENT = {"ratelimited", "rate_limited", "service_unavailable", "request_timeout"}
MAYBE_DONE = {"internal_error", "fatal_error"}  # Slack may have posted before it failed


def _has_files(row: Outbox) -> bool:
    return bool((row.message or {}).get("attachments"))


def _header(headers, name: str) -> str | None:
    for k, v in (headers or {}).items():
        if k.lower() == name.lower():
            return v[0] if isinstance(v, list) else v
    return None


def classify(exc: SlackApiError) -> TransportError:
    status = exc.response.status_code
    error = str(exc.response.get("error") or f"http_{status}")
    if error.startswith(NON_JSON):
        # A proxy's error page, or Slack half-answering: it may or may not have posted.
        return TransportError(f"answer not JSON (http_{status})", unknown=True)
    if status == 429 or error in ("ratelimited", "rate_limited"):
        wait = _header(exc.response.headers, "Retry-After")
        return TransportError("ratelimited", retry_after=int(wait) if wait and str(wait).isdigit() else 30)
    if status >= 500 or error in MAYBE_DONE:
        # Slack's own words for internal_error: "it's possible some aspect of the operation
        # succeeded before the error was raised". Look before posting again.
        return TransportError(error, unknown=True)
    if error in TRANSIENT or (error not in PERMANENT and status != 200):
        return TransportError(error)
    return TransportError(error, permanent=True)


def _never_reached(exc: BaseException) -> bool:
    """A connection Slack never accepted: nothing can have been posted."""
    seen: BaseException | None = exc
    for _ in range(5):
        if isinstance(seen, (ConnectionRefusedError, socket.gaierror)):
            return True
        seen = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if seen is None:
            return False
    return False


class SlackTransport:
    name = "slack"

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SlackApiError as exc:
            raise classify(exc) from exc
        except Exception as exc:  # connection refused/reset, timeouts, DNS
            raise TransportError(type(exc).__name__, unknown=not _never_reached(exc)) from exc

    def send(self, row: Outbox, message: Message, thread_ref: str | None, broadcast: bool) -> Delivered:
        resp = self._call(self._send, row, message, thread_ref, broadcast)
        if message.attachments:
            return Delivered(row.address, None)
        return Delivered(resp.get("channel") or row.address, resp.get("ts"))

    def _send(self, row: Outbox, message: Message, thread_ts: str | None, broadcast: bool):
        if message.attachments:  # one upload, the text as its comment (e.g. a CANCEL, then the whole series)
            return self.client.files_upload_v2(
                channel=row.address, initial_comment=mrkdwn(message.text), thread_ts=thread_ts,
                file_uploads=[{"content": a.content, "filename": a.name, "title": a.title or a.name}
                              for a in message.attachments])
        text, blocks = render(message)
        kwargs = {"channel": row.address, "text": text,
                  "metadata": {"event_type": METADATA_TYPE, "event_payload": {"key": row.key}}}
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
            if broadcast:
                kwargs["reply_broadcast"] = True
        return self.client.chat_postMessage(**kwargs)

    def update(self, address: str, ref: str, message: Message) -> None:
        text, blocks = render(message)
        self._call(self.client.chat_update, channel=address, ts=ref, text=text, blocks=blocks or [])

    def is_private(self, address: str) -> bool:
        if address[:1] not in ("C", "G"):
            return True  # a direct message or a user
        info = self._call(self.client.conversations_info, channel=address).get("channel") or {}
        return bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim"))

    def can_find(self, row: Outbox) -> bool:
        """Posts carry their key in the message metadata; files (files_upload_v2) cannot."""
        return not _has_files(row)

    def find_sent(self, row: Outbox, thread_ref: str | None) -> Delivered | None:
        """The message this row already posted, found by its key among the channel's (or the
        thread's) messages since the row was queued. Needs channels:history, groups:history and
        im:history; without them Slack answers missing_scope (permanent: we cannot look)."""
        try:
            return self._find(row, thread_ref)
        except SlackApiError as exc:
            raise classify(exc) from exc
        except Exception as exc:  # noqa: BLE001 - Slack unreachable: still unknown
            raise TransportError(type(exc).__name__, unknown=True) from exc

    def _find(self, row: Outbox, thread_ts: str | None) -> Delivered | None:
        channel = row.address
        if channel[:1] in ("U", "W"):  # a direct message: its history is the IM channel's
            channel = self.client.conversations_open(users=channel)["channel"]["id"]
        oldest = f"{(row.created_at - timedelta(minutes=1)).timestamp():.6f}"
        cursor = None
        for _ in range(5):  # up to 1,000 messages since the row was queued
            args = dict(channel=channel, oldest=oldest, include_all_metadata=True, limit=200, cursor=cursor)
            resp = (self.client.conversations_replies(ts=thread_ts, **args) if thread_ts
                    else self.client.conversations_history(**args))
            for message in resp.get("messages") or []:
                meta = message.get("metadata") or {}
                if meta.get("event_type") == METADATA_TYPE and (meta.get("event_payload") or {}).get("key") == row.key:
                    return Delivered(channel, message["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None
