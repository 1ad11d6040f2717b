"""HTTP mode: a FastAPI app on uvicorn.

`POST /slack/events` takes Slack commands, interactivity and events; `GET /healthz` answers
for load balancers. FastAPI is what the Microsoft Teams SDK (microsoft-teams-apps 2.x) is
built on: with TEAMS_* settings its `POST /api/messages` is mounted beside these routes
(handlers/teams/app.py)."""
from __future__ import annotations

import json
import logging
import time
from typing import Callable

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from starlette.background import BackgroundTask

from bot import web_calendar
from bot.edge import REPLAY_TEXT, Edge, Refused, db_first_time
from bot.context import WAKE_AFTER_ANSWER, Services
from handlers.slack.web import dispatch as slack_dispatch

log = logging.getLogger(__name__)

def create_web_app(services: Services, bolt_app, *, wall: Callable[[], float] = time.time) -> FastAPI:
    """`wall` is the clock signatures are checked against (Slack's timestamps are real time).
    Without a Bolt app (a Teams-only installation) there is no /slack/events; without Teams
    settings there is no /api/messages."""
    web = FastAPI(title="missing-bot", docs_url=None, redoc_url=None, openapi_url=None)
    web.state.services = services
    if bolt_app is not None:
        _slack_events(web, services, bolt_app, wall)

    @web.get("/healthz")
    async def healthz() -> Response:
        def check() -> bool:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True

        try:
            await run_in_threadpool(check)
        except Exception:  # noqa: BLE001 - a health check reports, it does not raise
            return Response('{"ok": false, "database": "unavailable"}', status_code=503, media_type="application/json")
        return Response('{"ok": true}', media_type="application/json")

    web.include_router(web_calendar.router)  # GET /calendar/<token>.ics
    if services.settings.teams_enabled:  # POST /api/messages: the Teams edge (issue 11, handlers/teams/app.py)
        from handlers.teams.app import initialise, mount

        web.state.teams = mount(web, services)
        initialise(web.state.teams)
    return web


def _slack_events(web: FastAPI, services: Services, bolt_app, wall: Callable[[], float]) -> None:
    edge = Edge(services.settings.slack_signing_secret, db_first_time(services, wall), wall)

    @web.post("/slack/events")
    async def slack_events(request: Request) -> Response:
        # Size, signature, parse, replay: bot/edge.py. Nothing unsigned reaches Bolt or a parser.
        try:
            checked = await edge.check(request.method, request.url.path, request.headers, request.stream())
        except Refused as exc:
            return Response(json.dumps({"error": exc.reason}), status_code=exc.status, media_type="application/json")
        if checked.replay:
            if checked.parsed.get("command"):
                return Response(json.dumps({"response_type": "ephemeral", "text": REPLAY_TEXT}),
                                media_type="application/json")
            return Response(status_code=200)
        # A change that queued messages wakes the deliverer once this answer has gone (bot/context.py).
        queued: list = []
        token = WAKE_AFTER_ANSWER.set(queued)
        try:
            response = await slack_dispatch(bolt_app, request, checked.body)
        finally:
            WAKE_AFTER_ANSWER.reset(token)
        if queued:
            response.background = BackgroundTask(services.on_enqueued)
        return response


def serve(services: Services, bolt_app, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_web_app(services, bolt_app), host=host, port=port, log_level="warning", access_log=False)
