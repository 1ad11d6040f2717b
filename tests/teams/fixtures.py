"""Fixtures for the Teams edge and transports: the fake issuer and connector, settings pointed at
them, and the bot's own web app (bot/serve.py: /slack/events and /api/messages) on uvicorn.
Test modules import these names (`from tests.teams.fixtures import *`)."""
from __future__ import annotations

import socket
import threading
import time
import warnings

import pytest
import uvicorn

from bot.settings import entra_user_id
from tests.conftest import ADMIN_USER, DUTY_USER, make_settings
from tests.teams.connector import FakeConnector
from tests.teams.issuer import FakeIssuer

# Invented Entra object ids and Teams ids of three people.
WORKER = ("29:1fake-worker", "Test Worker", "00000000-0000-4000-8000-00000000a11c")
ADMIN = ("29:1fake-admin", "Test Admin", "00000000-0000-4000-8000-0000000000ad")
STRANGER = ("29:1fake-stranger", "Someone Else", "00000000-0000-4000-8000-0000000000ff")
WORKER_ID, ADMIN_ID, STRANGER_ID = (entra_user_id(p[2]) for p in (WORKER, ADMIN, STRANGER))
CHANNEL = "19:fake-channel@thread.tacv2"


@pytest.fixture
def issuer():
    fake = FakeIssuer().start()
    yield fake
    fake.stop()


@pytest.fixture
def connector(issuer):
    fake = FakeConnector(issuer).start()
    yield fake
    fake.stop()


def teams_settings(issuer: FakeIssuer, **extra) -> dict:
    return dict(teams_client_id=issuer.client_id, teams_client_secret=issuer.client_secret,
                teams_tenant_id=issuer.tenant_id, teams_token_url=f"{issuer.base}/{{tenant}}/oauth2/v2.0/token",
                teams_openid_url=issuer.openid_metadata_url, teams_token_issuer=issuer.issuer, **extra)


@pytest.fixture
def settings(db_url, slack_stub, issuer):
    """The conftest settings plus Teams, with two Teams users authorised (one an admin)."""
    return make_settings(db_url, slack_stub, authorized_users=[DUTY_USER, ADMIN_USER, WORKER[2]],
                         admin_users=[ADMIN_USER, ADMIN[2]], **teams_settings(issuer))


def run_server(web) -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", srv, thread


@pytest.fixture
def server(services, app):
    """The serve process's web app (bot/serve.py) with the Teams edge mounted, on uvicorn."""
    from bot.serve import create_web_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        web = create_web_app(services, app)
    assert getattr(web.state, "teams", None) is not None
    url, srv, thread = run_server(web)
    yield url
    srv.should_exit = True
    thread.join(5)


@pytest.fixture(autouse=True)
def _close_teams_clients():
    yield
    from scheduler.transports.teams import close_clients

    close_clients()
