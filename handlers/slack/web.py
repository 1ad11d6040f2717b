"""Slack's events over HTTP: a Starlette request handed to the Bolt app, its answer handed back."""
from __future__ import annotations

from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool


async def dispatch(bolt_app, request, body: bytes):
    # The Bolt app and the database are synchronous: run them off the event loop.
    response = await run_in_threadpool(bolt_app.dispatch, to_bolt_request(request, body))
    return to_starlette_response(response)
