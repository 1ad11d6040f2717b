"""The Teams edge through the real Teams SDK: activities POSTed to /api/messages of the serve
process's web app (bot/serve.py, beside /slack/events), signed by the fake token issuer, answered
through the fake Bot Connector on 127.0.0.1. Token validation is on; the router, the database and
the outbox are the bot's own."""
from __future__ import annotations

import json
import pytest
from sqlalchemy import func, select

from scheduler.sweep import sweep
from store.alerts import Alert
from store.models import AuditRecord, Child, Episode
from store.teams import TeamsConversation
from tests.teams import activities as acts
from tests.teams.fixtures import (  # noqa: F401 - fixtures
    ADMIN, ADMIN_ID, CHANNEL, STRANGER, WORKER, WORKER_ID, _close_teams_clients, connector, issuer, server, settings,
)
from tests.teams.issuer import new_key
from tests.teams.schemas import validate


def say(server, issuer, connector, text, *, user=WORKER, **kw):
    activity = acts.message(text, issuer=issuer, service_url=connector.url, user=user, **kw)
    resp = acts.post_signed(server, activity, issuer)
    assert resp.status_code == 200, resp.text
    return activity


def mention(server, issuer, connector, text, *, user=WORKER):
    activity = acts.mention(text, issuer=issuer, service_url=connector.url, user=user)
    resp = acts.post_signed(server, activity, issuer)
    assert resp.status_code == 200, resp.text
    return activity


def card_texts(sent) -> str:
    """Every text of the cards (and the plain text) of one sent activity."""
    out = [sent.body.get("text") or ""]
    for att in sent.body.get("attachments") or []:
        validate(att["content"], "1.5")  # every card the bot sends is a valid Adaptive Card 1.5
        out += [b.get("text", "") for b in att["content"]["body"]]
        out += [f"{f['title']}: {f['value']}" for b in att["content"]["body"] if b["type"] == "FactSet" for f in b["facts"]]
    return "\n".join(out)


def count(services, model) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


# -- commands ---------------------------------------------------------------------------------
def _form_of(sent) -> dict:
    [att] = sent.body["attachments"]
    validate(att["content"], "1.5")
    return att["content"]


def test_personal_chat_report_then_status_round_trip(server, issuer, connector, services):
    """A new child's report opens the report form in the card; Save without a label brings it back
    with the error beside the field and nothing saved; with one, the child and the episode are
    recorded; `status` then answers in place."""
    activity = say(server, issuer, connector, "report C1234 at 2h ago from Oak House risk high")
    form = _form_of(connector.delivered()[-1])
    [save] = form["actions"]
    assert (save["type"], save["verb"]) == ("Action.Execute", "missing_report")
    inputs = {e["id"]: e.get("value") for e in form["body"] if e.get("id")}
    assert inputs["from"] == "Oak House" and inputs["risk"] == "high"  # the command's details, kept
    filled = {k: v for k, v in inputs.items() if v is not None}
    again = _press_in(server, issuer, connector, activity, save["verb"], {**save["data"], **filled})
    validate(again, "1.5")
    assert "label" in json.dumps(again) and "Nothing was saved" in json.dumps(again)
    assert count(services, Episode) == 0
    done = _press_in(server, issuer, connector, activity, save["verb"], {**save["data"], **filled, "label": "Case A"})
    validate(done, "1.5")
    assert "Input." not in json.dumps(done) and "C1234" in json.dumps(done)
    with services.sessions() as s:
        child = s.scalar(select(Child).where(Child.child_ref == "C1234"))
        episode = s.scalar(select(Episode).where(Episode.child_id == child.id))
        assert episode.reported_by == WORKER_ID and episode.returned_at is None and child.label == "Case A"
        # The personal chat and the user's name were remembered for proactive messages and cards.
        me = s.scalar(select(TeamsConversation).where(TeamsConversation.aad_id == WORKER_ID))
        assert (me.conversation_id, me.name, me.kind) == (activity["conversation"]["id"], "Test Worker", "personal")
    say(server, issuer, connector, "status C1234")
    status = connector.delivered()[-1]
    assert status.conversation_id == activity["conversation"]["id"]
    assert "C1234" in card_texts(status) and "Oak House" in card_texts(status)


def _press_in(server, issuer, connector, activity, verb, data, user=WORKER) -> dict:
    """An Action.Execute press on a card in the conversation of `activity`; the card it answers."""
    invoke = acts.execute(verb, data, issuer=issuer, service_url=connector.url,
                          conversation_id=activity["conversation"]["id"], user=user)
    invoke["conversation"]["conversationType"] = activity["conversation"]["conversationType"]
    resp = acts.post_signed(server, invoke, issuer)
    assert resp.status_code == 200, resp.text
    return resp.json()["value"]


def test_channel_command_answers_privately_in_the_personal_chat(server, issuer, connector, services):
    say(server, issuer, connector, "child C1234 label Case A")
    say(server, issuer, connector, "report C1234 at 2h ago from Oak House risk high")
    before = len(connector.calls)
    activity = mention(server, issuer, connector, "status C1234")
    calls = connector.calls[before:]
    create = [c for c in calls if c.path.endswith("/v3/conversations")]
    to_channel = [c for c in calls if c.conversation_id.startswith(CHANNEL)]
    to_personal = [c for c in calls if c.conversation_id.startswith("a:")]
    assert to_personal and "Oak House" in card_texts(to_personal[0])
    # The worker's personal chat was known from the report, so none was created.
    assert not create
    [pointer] = to_channel
    assert pointer.conversation_id == activity["conversation"]["id"]  # in the thread it was asked in
    assert "personal chat" in pointer.body["text"] and "Oak House" not in json.dumps(pointer.body)


def test_channel_command_from_someone_without_a_personal_chat_opens_one(server, issuer, connector, services):
    mention(server, issuer, connector, "help", user=ADMIN)
    [create] = [c for c in connector.calls if c.path.endswith("/v3/conversations")]
    assert create.body["members"] == [{"id": ADMIN[0]}] and create.body["tenantId"] == issuer.tenant_id
    with services.sessions() as s:
        me = s.scalar(select(TeamsConversation).where(TeamsConversation.aad_id == ADMIN_ID))
        assert me.conversation_id.startswith("a:fake-personal-")
    assert any(c.conversation_id == me.conversation_id for c in connector.delivered())


def test_unauthorised_user_is_refused_and_nothing_changes(server, issuer, connector, services):
    say(server, issuer, connector, "report C1234 at 2h ago", user=STRANGER)
    [reply] = connector.delivered()
    assert "not authorised" in card_texts(reply)
    assert count(services, Episode) == 0


def test_alerts_here_is_for_admins_in_a_channel(server, issuer, connector, services):
    mention(server, issuer, connector, "alerts here")  # the worker is not an admin
    assert "administrators" in card_texts(connector.delivered()[-2])
    with services.sessions() as s:
        assert s.scalar(select(func.count()).where(TeamsConversation.alerts.is_(True))) == 0
    mention(server, issuer, connector, "alerts here", user=ADMIN)
    answer = connector.delivered()[-1]
    assert answer.conversation_id.startswith(CHANNEL) and "Alerts will be posted" in card_texts(answer)
    with services.sessions() as s:
        [row] = s.scalars(select(TeamsConversation).where(TeamsConversation.alerts.is_(True)))
        assert (row.conversation_id, row.kind, row.tenant_id) == (CHANNEL, "channel", issuer.tenant_id)
        assert row.service_url.rstrip("/") == connector.url.rstrip("/")
        [entry] = s.scalars(select(AuditRecord).where(AuditRecord.action == "teams.alerts_here"))
        assert entry.actor == ADMIN_ID and entry.entity_id == row.id


def test_acknowledge_button_records_who_and_updates_every_copy(server, issuer, connector, services, clock, slack_stub):
    say(server, issuer, connector, "child C1234 label Case A")
    say(server, issuer, connector, "report C1234 at 2h ago risk high")
    clock.advance(hours=23)
    sweep(services)
    with services.sessions() as s:
        alert = s.scalars(select(Alert).order_by(Alert.id)).first()
    assert alert is not None
    invoke = acts.execute("alert_ack", {"action": "alert_ack", "value": str(alert.id)}, issuer=issuer,
                          service_url=connector.url, user=WORKER)
    resp = acts.post_signed(server, invoke, issuer)
    assert resp.status_code == 200
    body = resp.json()
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    validate(body["value"], "1.5")
    assert "Acknowledged by Test Worker" in json.dumps(body["value"])
    assert "alert_ack" not in json.dumps(body["value"].get("actions", []))  # the other buttons stay
    # The alert's Slack copy (no Teams channel gets alerts in this test) is updated through the outbox.
    assert any(c.method == "chat.update" for c in slack_stub.calls)
    assert not [c for c in connector.calls if c.method == "PUT"]
    with services.sessions() as s:
        acked = s.get(Alert, alert.id)
        assert acked.acknowledged_by == WORKER_ID
        assert s.scalar(select(func.count()).where(AuditRecord.action == "alert.acknowledge",
                                                   AuditRecord.actor == WORKER_ID)) == 1


def test_unknown_button_and_stranger_get_a_message_and_change_nothing(server, issuer, connector, services):
    for verb, user in (("no_such_action", WORKER), ("alert_ack", STRANGER)):
        invoke = acts.execute(verb, {"value": "1"}, issuer=issuer, service_url=connector.url, user=user)
        resp = acts.post_signed(server, invoke, issuer)
        assert resp.status_code == 200 and resp.json()["type"] == "application/vnd.microsoft.activity.message"
    assert count(services, AuditRecord) == 0 and not connector.calls


# -- inbound authentication ---------------------------------------------------------------------
@pytest.mark.parametrize("case", ["no_header", "unsigned", "expired", "forged", "wrong_audience", "no_exp",
                                  "other_tenant"])
def test_bad_requests_are_refused_and_change_nothing(case, server, issuer, connector, services, monkeypatch):
    monkeypatch.setenv("DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS", "true")  # our explicit False wins
    activity = acts.message("report C1234 at 2h ago risk high", issuer=issuer, service_url=connector.url)
    url = activity["serviceUrl"]
    if case == "other_tenant":
        activity["channelData"]["tenant"]["id"] = activity["conversation"]["tenantId"] = "00000000-0000-4000-8000-000000000bad"
    token = {
        "no_header": None,
        "unsigned": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + acts_b64({"iss": issuer.issuer, "aud": issuer.client_id,
                                                                          "serviceurl": url}) + ".",
        "expired": issuer.mint(service_url=url, exp_in=-600),
        "forged": issuer.mint(service_url=url, key=new_key()),
        "wrong_audience": issuer.mint(service_url=url, aud="00000000-0000-4000-8000-000000000001"),
        "no_exp": issuer.mint(service_url=url, omit=("exp",)),
        "other_tenant": issuer.mint(service_url=url),
    }[case]
    resp = acts.post(server, activity, token)
    assert resp.status_code == (403 if case == "other_tenant" else 401)
    assert not connector.calls
    assert count(services, Episode) == 0 and count(services, TeamsConversation) == 0 and count(services, AuditRecord) == 0


def acts_b64(claims: dict) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def test_slack_still_answers_beside_teams(server, issuer, connector):
    import httpx

    assert httpx.get(f"{server}/healthz").json() == {"ok": True}
    assert httpx.post(f"{server}/slack/events", content=b"x").status_code == 401  # unsigned: Slack's edge refuses


def test_teams_alone_without_slack(services, issuer, connector):
    import httpx

    from bot.serve import create_web_app
    from tests.teams.fixtures import run_server

    url, srv, thread = run_server(create_web_app(services, None))
    try:
        say(url, issuer, connector, "help")
        assert "status" in card_texts(connector.delivered()[-1])
        assert httpx.post(f"{url}/slack/events", content=b"x").status_code == 404
    finally:
        srv.should_exit = True
        thread.join(5)


# -- privacy ------------------------------------------------------------------------------------
def test_nothing_sent_to_a_channel_carries_a_childs_details(server, issuer, connector, services, clock):
    """Every command of the day typed in a channel: the scan of all the channel received finds no
    date of birth, police reference, location or account (they went to the personal chat)."""
    secrets = ["2011-04-23", "23 Apr 2011", "PR/2026/0117", "Oak House", "Bus station", "stayed with an older friend"]
    for text in ["child C1234 label Case A dob 2011-04-23", "report C1234 at 2h ago from Oak House risk high police PR/2026/0117",
                 "status C1234", "open", "due", "found C1234 at 30m ago location Bus station", "status C1234",
                 "concern C1234 cce", "help", "stats"]:
        mention(server, issuer, connector, text, user=ADMIN)
    say(server, issuer, connector, "status C1234", user=ADMIN)  # the personal chat does see them
    personal = [c for c in connector.delivered() if c.conversation_id.startswith("a:")]
    assert any("Oak House" in json.dumps(c.body) for c in personal)
    channel = [c for c in connector.calls if c.conversation_id.startswith(CHANNEL)]
    assert len(channel) >= 10
    for sent in channel:
        body = json.dumps(sent.body, ensure_ascii=False)
        assert not [s for s in secrets if s in body], body


# -- alerts, end to end ---------------------------------------------------------------------------
def test_alert_round_trip_report_sweep_card_in_the_channel_acknowledge(server, issuer, connector, services, clock):
    from store.models import Outbox

    mention(server, issuer, connector, "alerts here", user=ADMIN)
    say(server, issuer, connector, "child C1234 label Case A")
    say(server, issuer, connector, "report C1234 at 2h ago risk high")  # high risk: an alert at once
    clock.advance(hours=23)
    sweep(services)  # 24 hours missing: the second alert about the episode
    with services.sessions() as s:
        teams_rows = list(s.scalars(select(Outbox).where(Outbox.address == CHANNEL, Outbox.kind.like("alert.%"))
                                    .order_by(Outbox.id)))
    assert [r.status for r in teams_rows] == ["sent", "sent"]
    cards_sent = [c for c in connector.delivered() if c.conversation_id.startswith(CHANNEL) and c.body.get("attachments")]
    alerts = [c for c in cards_sent if "Execute" in json.dumps(c.body)]
    assert len(alerts) == 2
    first, second = alerts
    assert first.conversation_id == CHANNEL  # the first alert starts a thread...
    assert second.conversation_id == f"{CHANNEL};messageid={teams_rows[0].sent_ref}"  # ...the next replies in it
    for sent in alerts:
        text = card_texts(sent)  # validates each card (1.5)
        assert "C1234" in text and "Case A" in text
    ack = first.body["attachments"][0]["content"]["actions"][0]
    assert (ack["type"], ack["title"], ack["verb"]) == ("Action.Execute", "Acknowledge", "alert_ack")
    invoke = acts.execute(ack["verb"], ack["data"], issuer=issuer, service_url=connector.url,
                          conversation_id=CHANNEL, reply_to=teams_rows[0].sent_ref, user=WORKER)
    resp = acts.post_signed(server, invoke, issuer)
    assert resp.status_code == 200
    card = resp.json()["value"]
    validate(card, "1.5")
    assert "Case A" in json.dumps(card) and "Acknowledged by Test Worker" in json.dumps(card)
    assert "alert_ack" not in json.dumps(card.get("actions", []))
    [put] = [c for c in connector.delivered() if c.method == "PUT"]
    assert (put.conversation_id, put.activity_id) == (CHANNEL, teams_rows[0].sent_ref)
    with services.sessions() as s:
        assert s.get(Alert, int(ack["data"]["value"])).acknowledged_by == WORKER_ID


@pytest.mark.parametrize("case", ["not_json", "empty_object", "no_from", "array", "huge_text", "unknown_type"])
def test_hostile_signed_bodies_get_4xx_or_a_refusal_never_500(case, server, issuer, connector, services):
    import httpx

    activity = acts.message("status C1234", issuer=issuer, service_url=connector.url)
    token = issuer.mint(service_url=connector.url)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if case == "not_json":
        body = b"{not json"
    elif case == "empty_object":
        body = b"{}"
    elif case == "no_from":
        activity.pop("from")
        body = json.dumps(activity).encode()
    elif case == "array":
        body = b"[1, 2]"
    elif case == "huge_text":
        activity["text"] = "status " + "C" * 200_000
        body = json.dumps(activity).encode()
    else:
        activity["type"] = "somethingElse"
        body = json.dumps(activity).encode()
    resp = httpx.post(f"{server}/api/messages", content=body, headers=headers, timeout=15)
    assert resp.status_code < 500, (resp.status_code, resp.text[:200])
    assert count(services, Episode) == 0 and count(services, AuditRecord) == 0


def test_debug_logging_keeps_no_child_detail_or_message_text(server, issuer, connector, services, clock):
    """With the serve process's logging at DEBUG, a day of Teams commands, a refused token, a
    connector failing an answer and an alert leave nothing a user typed in the log."""
    import io
    import logging

    from bot.logs import configure
    from tests.teams.connector import Failure

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    buf = io.StringIO()
    configure("DEBUG", logging.StreamHandler(buf))
    try:
        mention(server, issuer, connector, "alerts here", user=ADMIN)
        markers = {"place": "Quarrybank Lodge", "police": "PR/7777/0001", "location": "Marrowfield Ramp"}
        for text in ["child C7001 label ZQ dob 2011-02-03",
                     f"report C7001 at 2h ago from {markers['place']} risk high police {markers['police']}",
                     f"found C7001 at 1h ago location {markers['location']}", "status C7001"]:
            say(server, issuer, connector, text)
        connector.fail_next(Failure(500))
        say(server, issuer, connector, "status C7001")  # the answer fails: logged by type only
        bad = acts.message(f"report C7002 from {markers['place']}", issuer=issuer, service_url=connector.url)
        acts.post(server, bad, issuer.mint(service_url=connector.url, exp_in=-600))  # 401
        clock.advance(hours=30)
        sweep(services)
    finally:
        for h in list(root.handlers):
            if getattr(h, "_missing_bot", False):
                root.removeHandler(h)
        root.setLevel(saved[0])
    log_text = buf.getvalue()
    assert log_text  # something was logged (the failed answer at least)
    for marker in [*markers.values(), "C7001", "C7002", "ZQ", "2011-02-03", "Test Worker"]:
        assert marker not in log_text, marker


def test_installed_in_a_team_says_how_to_start_and_removed_stops_alerts(server, issuer, connector, services):
    mention(server, issuer, connector, "alerts here", user=ADMIN)
    added = acts.installation("add", issuer=issuer, service_url=connector.url, conversation_id=CHANNEL,
                              conversation_type="channel", user=ADMIN)
    assert acts.post_signed(server, added, issuer).status_code == 200
    welcome = connector.delivered()[-1]
    assert welcome.conversation_id == CHANNEL and "alerts here" in welcome.body["text"]
    personal = acts.installation("add", issuer=issuer, service_url=connector.url, conversation_id="a:1fake-new-chat",
                                 conversation_type="personal", user=WORKER)
    assert acts.post_signed(server, personal, issuer).status_code == 200
    with services.sessions() as s:
        me = s.scalar(select(TeamsConversation).where(TeamsConversation.aad_id == WORKER_ID))
        assert me.conversation_id == "a:1fake-new-chat"
    removed = acts.installation("remove", issuer=issuer, service_url=connector.url, conversation_id=CHANNEL,
                                conversation_type="channel", user=ADMIN)
    assert acts.post_signed(server, removed, issuer).status_code == 200
    with services.sessions() as s:
        assert s.scalar(select(func.count()).where(TeamsConversation.alerts.is_(True))) == 0
        assert s.scalar(select(func.count()).where(AuditRecord.action == "teams.removed")) == 1


def test_a_colleague_mentioned_as_worker_gets_the_alerts_personal_copy(server, issuer, connector, services, clock):
    """`@missing-bot child C1234 worker @Test Worker` in a channel: the Teams mention of a colleague
    becomes their Entra id for the grammar; the alert's personal copy then reaches their chat."""
    from store.models import Outbox

    worker_chat = say(server, issuer, connector, "child C1234 label Case A")["conversation"]["id"]  # the worker writes once
    activity = acts.mention("child C1234 worker <at>Test Worker</at>", issuer=issuer, service_url=connector.url,
                            user=ADMIN)
    activity["entities"].append({"type": "mention", "text": "<at>Test Worker</at>",
                                 "mentioned": {"id": WORKER[0], "name": WORKER[1]}})
    assert acts.post_signed(server, activity, issuer).status_code == 200
    with services.sessions() as s:
        assert s.scalar(select(Child.worker_user_id).where(Child.child_ref == "C1234")) == WORKER_ID
    say(server, issuer, connector, "report C1234 at 2h ago risk high")  # high risk: an alert at once
    with services.sessions() as s:
        [copy] = s.scalars(select(Outbox).where(Outbox.kind.like("alert.%"), Outbox.address == WORKER_ID))
        assert (copy.platform, copy.status, copy.sent_address) == ("teams", "sent", worker_chat)
    card = next(c for c in connector.delivered() if c.conversation_id == worker_chat and "Execute" in json.dumps(c.body))
    assert "C1234" in card_texts(card)


def test_an_unknown_colleague_mentioned_is_refused_by_name(server, issuer, connector, services):
    say(server, issuer, connector, "child C1234 label Case A")
    activity = acts.mention("child C1234 worker <at>New Person</at>", issuer=issuer, service_url=connector.url,
                            user=ADMIN)
    activity["entities"].append({"type": "mention", "text": "<at>New Person</at>",
                                 "mentioned": {"id": "29:1never-seen", "name": "New Person"}})
    assert acts.post_signed(server, activity, issuer).status_code == 200
    with services.sessions() as s:
        assert s.scalar(select(Child.worker_user_id).where(Child.child_ref == "C1234")) is None


# -- forms in cards -------------------------------------------------------------------------------
def _press(server, issuer, connector, verb, data, user=WORKER):
    invoke = acts.execute(verb, data, issuer=issuer, service_url=connector.url, conversation_id=CHANNEL, user=user)
    resp = acts.post_signed(server, invoke, issuer)
    assert resp.status_code == 200
    return resp.json()


def _alert(services, rule):
    with services.sessions() as s:
        return s.scalars(select(Alert).where(Alert.rule == rule).order_by(Alert.id)).first()


def test_strategy_meeting_held_is_a_form_in_the_card_saved_through_the_router(server, issuer, connector, services,
                                                                               clock):
    from store.models import HeldMeeting

    say(server, issuer, connector, "child C1234 label Case A")
    say(server, issuer, connector, "report C1234 at 2h ago risk high")
    alert = _alert(services, "high_risk")
    form = _press(server, issuer, connector, "alert_strategy_held", {"action": "alert_strategy_held",
                                                                     "value": str(alert.id)})["value"]
    validate(form, "1.5")
    [save] = form["actions"]
    assert (save["type"], save["verb"]) == ("Action.Execute", "alert_held_modal")
    # Saved without a time: the form comes back with the error beside the field; nothing recorded.
    again = _press(server, issuer, connector, save["verb"], {**save["data"], "kind": "strategy",
                                                             "at__date": "2026-11-19"})["value"]
    validate(again, "1.5")
    assert "Nothing was saved" in json.dumps(again) and count(services, HeldMeeting) == 0
    # A time the rules refuse (next month): the handler's refusal is shown; nothing recorded.
    refused = _press(server, issuer, connector, save["verb"], {**save["data"], "kind": "strategy",
                                                               "at__date": "2026-12-30", "at__time": "10:00"})["value"]
    assert "Nothing was saved" in json.dumps(refused) and count(services, HeldMeeting) == 0
    done = _press(server, issuer, connector, save["verb"], {**save["data"], "kind": "strategy",
                                                            "at__date": "2026-11-19", "at__time": "09:30"})["value"]
    validate(done, "1.5")
    assert "Input." not in json.dumps(done) and "held" in json.dumps(done).lower()
    with services.sessions() as s:
        [held] = s.scalars(select(HeldMeeting))
        assert (held.kind, held.recorded_by) == ("strategy", WORKER_ID)
        assert held.held_at.astimezone(services.zone).strftime("%Y-%m-%d %H:%M") == "2026-11-19 09:30"


def test_record_interview_outcome_is_a_form_in_the_card(server, issuer, connector, services, clock):
    say(server, issuer, connector, "child C1234 label Case A")
    say(server, issuer, connector, "report C1234 at 5h ago")
    say(server, issuer, connector, "found C1234 at 1h ago")
    clock.advance(hours=49)
    sweep(services)
    alert = _alert(services, "ri_reminder")
    assert alert is not None
    form = _press(server, issuer, connector, "alert_record_ri", {"action": "alert_record_ri", "value": str(alert.id)})
    validate(form["value"], "1.5")
    [save] = form["value"]["actions"]
    assert save["verb"] == "alert_ri_modal"
    local = clock().astimezone(services.zone)
    done = _press(server, issuer, connector, save["verb"], {**save["data"], "outcome": "completed",
                                                            "by": "Jo at the unit", "at__date": local.strftime("%Y-%m-%d"),
                                                            "at__time": "08:00"})["value"]
    assert "Nothing was saved" not in json.dumps(done), json.dumps(done)[:500]
    with services.sessions() as s:
        episode = s.scalar(select(Episode))
        assert episode.ri_outcome == "completed" and episode.ri_by == "Jo at the unit"
