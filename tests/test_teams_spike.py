"""Teams spike (issue 11 groundwork): the real Microsoft Teams SDK hosted in our FastAPI app on
uvicorn, over real sockets, against a fake token issuer and a fake Bot Connector on 127.0.0.1.
Token validation is exercised, not switched off. See docs/TEAMS.md."""
from __future__ import annotations

import json
import socket
import threading
import time
import warnings
from pathlib import Path

import httpx
import jsonschema
import pytest
import uvicorn
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from tests.teams import spike_app
from scheduler.transports.base import TransportError
from tests.teams import activities as acts
from tests.teams.connector import Failure
from tests.teams.fixtures import connector, issuer  # noqa: F401 - fixtures
from tests.teams.issuer import FakeIssuer, new_key


def _options(issuer: FakeIssuer, **extra) -> dict:
    return dict(client_id=issuer.client_id, client_secret=issuer.client_secret, tenant_id=issuer.tenant_id,
                cloud=issuer.cloud(), token_url=f"{issuer.base}/{{tenant}}/oauth2/v2.0/token", **extra)


@pytest.fixture
def state():
    return spike_app.SpikeState()


@pytest.fixture
def server(issuer, state):
    web = FastAPI()

    @web.get("/healthz")
    async def healthz():  # a route of ours beside the SDK's
        return {"ok": True}

    spike_app.mount(web, state, **_options(issuer))
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
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


@pytest.fixture
def sender(issuer):
    s = spike_app.Sender(**_options(issuer, timeout=2.0))
    yield s
    s.close()


# -- inbound --------------------------------------------------------------------------------
def test_signed_message_is_accepted_and_the_reply_reaches_the_connector(server, issuer, connector, state):
    activity = acts.message("hello bot", issuer=issuer, service_url=connector.url)
    resp = acts.post_signed(server, activity, issuer)
    assert resp.status_code == 200
    # The SDK awaits the handler (and so its reply) before it answers the POST.
    [sent] = connector.delivered()
    assert (sent.method, sent.conversation_id) == ("POST", activity["conversation"]["id"])
    assert sent.body["text"] == "You said: hello bot"
    assert sent.body["type"] == "message"
    # The bot authenticated with a token from the client-credentials grant, for the connector.
    claims = issuer.verify_connector_token(sent.authorization.removeprefix("Bearer "))
    assert claims["appid"] == issuer.client_id
    [grant] = issuer.token_requests
    assert (grant.tenant, grant.form["grant_type"], grant.form["scope"]) == (
        issuer.tenant_id, "client_credentials", "https://api.botframework.com/.default")
    # The inbound token was checked against the fake's published keys, not skipped.
    assert issuer.jwks_fetches >= 1
    # The conversation reference was stored for proactive sends.
    ref = state.references[activity["conversation"]["id"]]
    assert ref.service_url.rstrip("/") == connector.url.rstrip("/") and ref.tenant_id == issuer.tenant_id
    # Our own route still answers beside the SDK's.
    assert httpx.get(f"{server}/healthz").json() == {"ok": True}


@pytest.mark.parametrize("case", [
    "no_header", "unsigned", "expired", "wrong_audience", "foreign_key", "wrong_issuer",
    "other_service_url", "no_serviceurl_claim", "no_exp",
])
def test_bad_tokens_get_401_and_nothing_is_sent(case, server, issuer, connector, monkeypatch):
    # Even with the SDK's "allow unauthenticated" environment switch on: we pass False explicitly.
    monkeypatch.setenv("DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS", "true")
    activity = acts.message("report C1234", issuer=issuer, service_url=connector.url)
    url = activity["serviceUrl"]
    token = {
        "no_header": None,
        "unsigned": _unsigned(issuer, url),
        # The SDK allows 300 s of clock skew: ten minutes past expiry is expired.
        "expired": issuer.mint(service_url=url, exp_in=-600),
        "wrong_audience": issuer.mint(service_url=url, aud="11111111-2222-4333-8444-555555555555"),
        # Same kid, another key: a forger who copied the key id from the public JWKS.
        "foreign_key": issuer.mint(service_url=url, key=new_key()),
        "wrong_issuer": issuer.mint(service_url=url, iss="https://api.botframework.com.evil.example"),
        # Signed for one serviceUrl, replayed with another: replies would go elsewhere.
        "other_service_url": issuer.mint(service_url="https://smba.trafficmanager.net/emea/"),
        "no_serviceurl_claim": issuer.mint(service_url=None),
        # The SDK alone accepts a token that never expires; the spike's adapter refuses it.
        "no_exp": issuer.mint(service_url=url, omit=("exp",)),
    }[case]
    resp = acts.post(server, activity, token)
    assert resp.status_code == 401
    assert connector.calls == []  # the SDK runs handlers before it answers: nothing will follow


def test_an_activity_from_another_tenant_is_refused(server, issuer, connector):
    """Bot Framework tokens are not tied to a tenant: a genuinely signed activity from another
    organisation's Teams must still be refused by a single-tenant bot."""
    activity = acts.message("status C1234", issuer=issuer, service_url=connector.url)
    activity["channelData"]["tenant"]["id"] = activity["conversation"]["tenantId"] = "99999999-0000-4000-8000-000000000000"
    resp = acts.post_signed(server, activity, issuer)
    assert resp.status_code == 403
    assert connector.calls == []


def _unsigned(issuer: FakeIssuer, service_url: str) -> str:
    import jwt

    claims = jwt.decode(issuer.mint(service_url=service_url), options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none")


# -- invokes ---------------------------------------------------------------------------------
def test_action_execute_updates_the_card_in_the_invoke_response(server, issuer, connector):
    activity = acts.execute("acknowledge", {"ref": "C1234", "label": "JB"}, issuer=issuer, service_url=connector.url)
    resp = acts.post_signed(server, activity, issuer)
    assert resp.status_code == 200
    body = resp.json()
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    card = body["value"]
    texts = [b.get("text", "") for b in card["body"]]
    assert any(t.startswith("Acknowledged by Test Worker") for t in texts)
    assert "actions" not in card  # the button is gone once acknowledged
    validate_card(card, "1.5")
    assert connector.calls == []  # the invoke answer carries the card; nothing else was sent


def test_action_execute_with_an_unknown_verb_answers_an_error_response(server, issuer, connector):
    activity = acts.execute("delete_everything", {}, issuer=issuer, service_url=connector.url)
    resp = acts.post_signed(server, activity, issuer)
    assert resp.status_code == 200  # invoke answers are HTTP 200 with the status in the body
    assert resp.json()["statusCode"] == 400 and resp.json()["type"] == "application/vnd.microsoft.error"


def test_dialog_open_and_submit(server, issuer, connector):
    opened = acts.post_signed(server, acts.task_fetch({"dialog": "report"}, issuer=issuer,
                                                      service_url=connector.url), issuer)
    assert opened.status_code == 200
    task = opened.json()["task"]
    assert task["type"] == "continue"
    validate_card(task["value"]["card"]["content"], "1.5")
    empty = acts.post_signed(server, acts.task_submit({"form": "report", "ref": " "}, issuer=issuer,
                                                      service_url=connector.url), issuer)
    assert empty.json()["task"]["type"] == "continue"  # the dialog stays open
    done = acts.post_signed(server, acts.task_submit({"form": "report", "ref": "C1234"}, issuer=issuer,
                                                     service_url=connector.url), issuer)
    assert done.json()["task"] == {"type": "message", "value": "Reported C1234"}


# -- proactive and errors --------------------------------------------------------------------
def test_proactive_send_update_and_thread_reply_to_a_stored_reference(server, issuer, connector, state, sender):
    channel = "19:fake-alerts-channel@thread.tacv2"
    activity = acts.message("alerts here", issuer=issuer, service_url=connector.url, conversation_id=channel,
                            conversation_type="channel")
    assert acts.post_signed(server, activity, issuer).status_code == 200
    assert connector.wait_for(1)
    ref = state.references[channel]

    card = spike_app.alert_card("C1234", "JB")
    validate_card(spike_app.card_json(card), "1.5")
    activity_id = sender.send(ref, card=card)
    sent = connector.delivered()[-1]
    assert (sent.method, sent.conversation_id) == ("POST", channel)
    assert sent.body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert sent.body["attachments"][0]["content"] == spike_app.card_json(card)

    acked = spike_app.alert_card("C1234", "JB", acknowledged_by="Test Worker", at="10:15")
    sender.update(ref, activity_id, acked)
    put = connector.delivered()[-1]
    assert (put.method, put.conversation_id, put.activity_id) == ("PUT", channel, activity_id)
    assert put.body["attachments"][0]["content"] == spike_app.card_json(acked)

    sender.reply(ref, activity_id, "C1234 (JB) found")
    reply = connector.delivered()[-1]
    assert reply.method == "POST" and reply.conversation_id == f"{channel};messageid={activity_id}"
    assert reply.body["text"] == "C1234 (JB) found"
    # One client-credentials grant per process (the inbound app's and the sender's), then cached.
    assert len(issuer.token_requests) == 2


def _kind(err: TransportError) -> tuple:
    return (err.permanent, err.retry_after, err.unknown)


# (permanent, retry_after, unknown) as scheduler/transports' TransportError carries them
@pytest.mark.parametrize("failure,expected", [
    (Failure(429, retry_after=7), (False, 7.0, False)),
    (Failure(429), (False, 30, False)),
    (Failure(500), (False, None, True)),  # the connector may have delivered: unknown
    (Failure(503, retry_after=30), (False, 30.0, True)),
    (Failure(403), (True, None, False)),
    (Failure(404), (True, None, False)),
])
def test_connector_errors_surface_as_classifiable_exceptions(failure, expected, issuer, connector, sender):
    ref = spike_app.ConversationRef("19:fake-alerts-channel@thread.tacv2", connector.url, issuer.tenant_id)
    connector.fail_next(failure)
    with pytest.raises(httpx.HTTPStatusError) as err:
        sender.send(ref, text="C1234 (JB) missing for 24 hours")
    assert err.value.response.status_code == failure.status
    assert err.value.response.headers.get("Retry-After") == (
        str(failure.retry_after) if failure.retry_after is not None else None)
    assert _kind(spike_app.classify(err.value)) == expected
    assert connector.delivered() == []
    sender.send(ref, text="C1234 (JB) missing for 24 hours")  # the retry goes through
    assert connector.texts() == ["C1234 (JB) missing for 24 hours"]


def test_a_slow_connector_leaves_the_outcome_unknown(issuer, connector):
    """The connector took the activity but answered after the client gave up: a transport must
    reconcile, not blindly re-post (the SDK's default client has no timeout at all)."""
    ref = spike_app.ConversationRef("19:fake-alerts-channel@thread.tacv2", connector.url, issuer.tenant_id)
    sender = spike_app.Sender(**_options(issuer, timeout=0.3))
    try:
        sender.send(ref, text="warm up")  # fetch the connector token first: only the post is slow
        connector.fail_next(Failure(200, delay=1.0, accept=True))
        with pytest.raises(httpx.ReadTimeout) as err:
            sender.send(ref, text="C1234 (JB) missing for 24 hours")
        assert _kind(spike_app.classify(err.value)) == (False, None, True)
        assert connector.wait_for(2, timeout=5)
        assert connector.texts() == ["warm up", "C1234 (JB) missing for 24 hours"]
    finally:
        sender.close()


def test_an_unreachable_connector_is_transient_and_not_unknown(issuer, sender):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ref = spike_app.ConversationRef("a:1fake-personal-chat", f"http://127.0.0.1:{port}/teams/", issuer.tenant_id)
    with pytest.raises(httpx.ConnectError) as err:
        sender.send(ref, text="hello")
    assert _kind(spike_app.classify(err.value)) == (False, None, False)


def test_a_wrong_client_secret_is_a_permanent_token_failure(issuer, connector):
    bad = spike_app.Sender(**{**_options(issuer), "client_secret": "wrong"})
    try:
        ref = spike_app.ConversationRef("a:1fake-personal-chat", connector.url, issuer.tenant_id)
        with pytest.raises(spike_app.TokenError) as err:
            bad.send(ref, text="hello")
        assert spike_app.classify(err.value).permanent
        assert connector.calls == []
    finally:
        bad.close()


def test_client_secret_in_the_environment_is_refused(issuer, monkeypatch):
    """The SDK prefers CLIENT_SECRET from the environment over our token provider (and so MSAL,
    which cannot reach the fakes nor our settings); the spike refuses to start that way."""
    monkeypatch.setenv("CLIENT_SECRET", "from-a-dotenv-file")
    with pytest.raises(RuntimeError, match="CLIENT_SECRET"):
        spike_app.new_app(**_options(issuer))


# -- Adaptive Cards schema -------------------------------------------------------------------
def _schema(version: str) -> dict:
    import adaptive_cards

    path = Path(adaptive_cards.__file__).parent / "schemas" / f"schema-{version}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def validate_card(card: dict, version: str) -> None:
    jsonschema.Draft6Validator(_schema(version)).validate(card)


def test_cards_validate_against_the_official_schema_and_a_broken_card_does_not():
    schema = _schema("1.5")
    assert schema["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert "Action.Execute" in schema["definitions"]
    for card in (spike_app.alert_card("C1234", "JB"), spike_app.dialog_card(),
                 spike_app.alert_card("C1234", "JB", acknowledged_by="Test Worker", at="10:15")):
        validate_card(spike_app.card_json(card), "1.5")
    broken = spike_app.card_json(spike_app.alert_card("C1234", "JB"))
    broken["body"][0]["weight"] = "Heavy"  # not one of Lighter/Default/Bolder
    with pytest.raises(jsonschema.ValidationError):
        validate_card(broken, "1.5")
    no_title = spike_app.card_json(spike_app.alert_card("C1234", "JB"))
    no_title["body"][1]["facts"][0].pop("title")
    with pytest.raises(jsonschema.ValidationError):
        validate_card(no_title, "1.5")
