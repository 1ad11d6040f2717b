"""Files in Teams: short-lived signed download links served by the bot.

A Teams card cannot carry a file, and a bot's file upload needs the user's consent per file (the
file consent card) plus OneDrive; the bot instead gives, in the personal chat only, a link to
`GET /teams/files/<outbox row>/<attachment>?exp=<unix time>&sig=<HMAC>`. The file itself stays
where the outbox keeps it (the row's neutral message); the link names the row and the attachment,
expires after `LIFETIME`, and is signed with a key derived from TEAMS_CLIENT_SECRET, so nobody can
mint or alter one. Served only for rows addressed to one person (a Teams user) and sent; a bad,
altered or expired link gets 403 or 410 and nothing else. Each download is logged by row and
attachment number only."""
from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timedelta

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from bot.context import Services
from bot.messages import Message
from bot.platforms import TEAMS, is_user

log = logging.getLogger(__name__)

LIFETIME = timedelta(hours=24)
PATH = "/teams/files"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"missing-bot teams file links", hashlib.sha256).digest()


def signature(secret: str, row_id: int, index: int, expires: int) -> str:
    return hmac.new(_key(secret), f"{row_id}:{index}:{expires}".encode(), hashlib.sha256).hexdigest()


def link(base_url: str, secret: str, row_id: int, index: int, now: datetime) -> str:
    expires = int((now + LIFETIME).timestamp())
    return (f"{base_url.rstrip('/')}{PATH}/{row_id}/{index}?exp={expires}"
            f"&sig={signature(secret, row_id, index, expires)}")


def links_for(settings, row, message: Message, now: datetime) -> dict[int, str]:
    """Download links for a row's files: only in a personal chat, only with TEAMS_PUBLIC_URL set."""
    if not (settings.teams_public_url and message.attachments and is_user(row.address)):
        return {}
    return {i: link(settings.teams_public_url, settings.teams_client_secret, row.id, i, now)
            for i in range(len(message.attachments))}


def mount(web: FastAPI, services: Services) -> None:
    secret = services.settings.teams_client_secret

    def find(row_id: int, index: int) -> tuple[bytes, str, str] | None:
        from store.models import Outbox

        with services.sessions() as s:
            row = s.get(Outbox, row_id)
            if row is None or row.platform != TEAMS or not is_user(row.address) or row.status != "sent":
                return None
            attachments = Message.from_json(row.message).attachments
        if not 0 <= index < len(attachments):
            return None
        att = attachments[index]
        return att.content, att.media_type, att.name

    @web.get(PATH + "/{row_id}/{index}")
    async def download(row_id: int, index: int, request: Request) -> Response:
        exp, sig = request.query_params.get("exp", ""), request.query_params.get("sig", "")
        if not (exp.isdigit() and len(exp) < 12 and sig.isascii()) or not hmac.compare_digest(
                signature(secret, row_id, index, int(exp)), sig):
            return Response(status_code=403)
        if int(exp) < services.now().timestamp():
            return Response("This link has expired: ask the bot again.", status_code=410, media_type="text/plain")
        found = await run_in_threadpool(find, row_id, index)
        if found is None:
            return Response(status_code=404)
        content, media_type, name = found
        log.info("teams file served: outbox %s attachment %s", row_id, index)
        safe = "".join(c for c in name if c.isalnum() or c in "._-")[:100] or "file"
        return Response(content, media_type=media_type, headers={
            "Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff"})
