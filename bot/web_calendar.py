"""`GET /calendar/<token>.ics`: a read-only subscription feed of every meeting series.

Served in HTTP mode (bot/serve.py mounts `router`; the services are on `app.state`). The
token is compared with CALENDAR_TOKEN in constant time; an empty setting, a wrong token or
anything else is a plain 404, so the URL reveals nothing. The feed holds what invites hold:
series, cancellations and each built agenda (case references and labels only)."""
from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from bot import ics
from store import meetings as sm

router = APIRouter()


def feed_bytes(services) -> bytes:
    with services.sessions() as session:
        series = [sm.series_data(s) for s in sm.all_series(session)]
    return ics.feed(series, services.now())


@router.get("/calendar/{token}.ics")
async def calendar_feed(token: str, request: Request) -> Response:
    services = request.app.state.services
    expected = services.settings.calendar_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        return Response("Not Found", status_code=404, media_type="text/plain")
    body = await run_in_threadpool(feed_bytes, services)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300", "Content-Disposition": 'inline; filename="meetings.ics"'})
