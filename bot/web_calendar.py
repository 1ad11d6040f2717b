"""`GET /calendar/<token>.ics` (and HEAD): a read-only subscription feed of every meeting series.

Served in HTTP mode (bot/serve.py mounts `router`; the services are on `app.state`). The
token is compared with CALENDAR_TOKEN in constant time; an empty setting, a wrong token or
anything else is a plain 404, so the URL reveals nothing. The feed holds what invites hold:
the series and their cancelled dates, never an agenda or a child.

Calendar apps poll feeds often: the body of an unchanged calendar is the same bytes (DTSTAMP is
each series' last change), its ETag is their hash and Last-Modified the latest change, so a
poll with If-None-Match or If-Modified-Since gets 304 Not Modified and no body."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from bot import ics
from store import meetings as sm

router = APIRouter()


def feed_bytes(services) -> tuple[bytes, datetime]:
    """The feed and when any series (cancelled ones too: they leave the feed) last changed."""
    with services.sessions() as session:
        every = sm.all_series(session, include_cancelled=True)
        series = [sm.series_data(s) for s in every if s.cancelled_at is None]
        changed = max((s.updated_at for s in every), default=datetime(2026, 1, 1, tzinfo=timezone.utc))
    return ics.feed(series), changed.astimezone(timezone.utc).replace(microsecond=0)


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
        return match.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in match.split(",")]
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


@router.api_route("/calendar/{token}.ics", methods=["GET", "HEAD"])
async def calendar_feed(token: str, request: Request) -> Response:
    services = request.app.state.services
    expected = services.settings.calendar_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        return Response("Not Found", status_code=404, media_type="text/plain")
    body, modified = await run_in_threadpool(feed_bytes, services)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "private, max-age=300", "ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = 'inline; filename="meetings.ics"'
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, media_type="text/calendar; charset=utf-8", headers=headers)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
