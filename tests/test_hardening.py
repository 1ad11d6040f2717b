"""Issue 13: hostile requests at the HTTP edge, replays, other workspaces, what reaches logs and
channels. Everything goes over a real socket into uvicorn, the FastAPI edge and the real Bolt app,
which talks to the fake Slack Web API with the real slack_sdk client."""
from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from bot.edge import REPLAY_TEXT
from bot.logs import configure
from bot.serve import create_web_app
from store.models import AuditRecord, Outbox
from tests.conftest import ADMIN_USER, ALERT_CHANNEL, DUTY_USER
from tests.slack import FORM, block_actions_body, fixture_json, sign, slash_body


@pytest.fixture
def logs():
    """The process's logging as `serve` configures it, into a buffer; restored after."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    buf = io.StringIO()
    configure("DEBUG", logging.StreamHandler(buf))
    yield buf
    for h in list(root.handlers):
        if getattr(h, "_missing_bot", False):
            root.removeHandler(h)
    root.setLevel(saved[0])


@pytest.fixture
def server(services):
    """As `missing-bot serve` runs it: the Bolt app leaves the signature to the edge (bot/edge.py),
    so every refusal below is the edge's own. Posts are delivered as soon as each answer has gone."""
    from handlers.slack.app import build_app
    from scheduler.delivery import deliver_due

    services.on_enqueued = lambda: deliver_due(services)
    app = build_app(services, verified_by_edge=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_web_app(services, app), host="127.0.0.1", port=port, log_level="warning",
                            log_config=None)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


def post(base: str, body: bytes | str, headers: dict, content_type: str = FORM) -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    return httpx.post(f"{base}/slack/events", content=data, headers={"Content-Type": content_type, **headers},
                      timeout=30)


def signed_bytes(body: bytes) -> dict:
    from slack_sdk.signature import SignatureVerifier  # noqa: F401 - the same HMAC, over bytes
    import hashlib
    import hmac

    from tests.conftest import SIGNING_SECRET

    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


DEEP = "[" * 5000 + "]" * 5000
NEWLINE_FORGERY = "payload=x\nERROR forged log line MARKER-LOG-FORGERY"
HOSTILE = [
    # (name, body, headers (None: sign it), content type, status)
    ("non-numeric timestamp", slash_body("report C1234"), {"X-Slack-Request-Timestamp": "abc",
                                                           "X-Slack-Signature": "v0=00"}, FORM, 401),
    ("unsigned", slash_body("report C1234"), {}, FORM, 401),
    ("unsigned payload=notjson", "payload=notjson", {}, FORM, 401),
    ("unsigned invalid UTF-8", b"payload=\xff\xfe\xfd", {}, FORM, 401),
    ("unsigned 5000-deep JSON", "payload=" + DEEP, {}, FORM, 401),
    ("unsigned newline forgery", NEWLINE_FORGERY, {}, FORM, 401),
    ("bad signature", slash_body("report C1234"), {"X-Slack-Request-Timestamp": str(int(time.time())),
                                                   "X-Slack-Signature": "v0=" + "0" * 64}, FORM, 401),
    ("stale but genuine", slash_body("report C1234 police MARKER-POLICE"),
     sign(slash_body("report C1234 police MARKER-POLICE"), timestamp=int(time.time()) - 3600), FORM, 401),
    ("huge timestamp", slash_body("x"), {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=1"}, FORM, 401),
    ("signed payload=notjson", "payload=notjson", None, FORM, 400),
    ("signed invalid UTF-8", b"payload=\xff\xfe\xfd", None, FORM, 400),
    ("signed 5000-deep JSON payload", "payload=" + DEEP, None, FORM, 400),
    ("signed 5000-deep JSON body", DEEP, None, "application/json", 400),
    ("signed JSON array", "[1, 2]", None, "application/json", 400),
    ("signed payload without type", "payload=" + json.dumps({"user": {"id": DUTY_USER}}), None, FORM, 400),
    ("signed form that is nothing", "a=1&b=2", None, FORM, 400),
    ("signed other content type", "hello", None, "text/plain", 400),
    ("signed newline forgery", NEWLINE_FORGERY, None, FORM, 400),
]


@pytest.mark.parametrize("name,body,headers,ctype,status", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_requests_get_4xx_one_log_line_and_no_traceback(server, logs, name, body, headers, ctype, status):
    raw = body.encode() if isinstance(body, str) else body
    resp = post(server, raw, signed_bytes(raw) if headers is None else headers, ctype)
    assert resp.status_code == status, (name, resp.status_code, resp.text)
    lines = [line for line in logs.getvalue().splitlines() if line]
    assert len(lines) == 1, lines
    assert "refused POST /slack/events size=" in lines[0]
    assert "Traceback" not in logs.getvalue()
    assert "MARKER" not in logs.getvalue() and "C1234" not in logs.getvalue()


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_large_bodies_are_refused_without_being_held(server, logs, declared):
    chunk = b"a" * (1024 * 1024)
    before = _rss_kb()
    for _ in range(4):
        headers = {"Content-Type": FORM}
        if declared:
            headers["Content-Length"] = str(50 * len(chunk))
        try:
            resp = httpx.post(f"{server}/slack/events", content=iter([chunk] * 50), headers=headers, timeout=30)
            assert resp.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection before the client has finished sending
    grown = (_rss_kb() - before) / 1024
    assert grown < 40, f"memory grew by {grown:.0f} MB for four 50 MB bodies"
    lines = [line for line in logs.getvalue().splitlines() if line]
    assert len(lines) == 4 and all("body too large" in line for line in lines), lines


def _count(services, model, *where) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def delivered(services, timeout: float = 10.0) -> None:
    """Wait (bounded) until no outbox row that is due is still pending or being sent."""
    deadline = time.monotonic() + timeout
    while _count(services, Outbox, Outbox.status.in_(["pending", "sending"]), Outbox.next_attempt_at <= services.now()):
        assert time.monotonic() < deadline, "the deliverer did not finish"
        time.sleep(0.01)


CHANGES = [
    "child C5001 label QX looked-after yes dob 2012-05-01",
    "report C5001 at 3h ago risk low",
    "found C5001 at 1h ago",
    "interview C5001 completed at 30m ago",
    'action add C5001 "check in with school" owner <@UDUTY00001> due 2026-12-01',
    "stats",
    "agenda post",
]


def test_each_changing_command_runs_once_when_replayed(server, services, slack_stub, logs):
    for text in ['meeting setup chair="Chair <chair@example.org>" attendees="Al <al@example.org>"'] + CHANGES + ["export annex-a"]:
        user = ADMIN_USER if text.startswith(("export", "meeting setup")) else DUTY_USER
        body = slash_body(text, user_id=user)
        headers = sign(body)
        first = post(server, body, headers)
        assert first.status_code == 200 and REPLAY_TEXT not in first.text, (text, first.text)
        assert not first.json()["text"].startswith((":warning:", ":no_entry:")), (text, first.text)
        delivered(services)  # the deliverer is woken once the answer has gone: let it finish first
        audits, messages = _count(services, AuditRecord), _count(services, Outbox)
        calls = len(slack_stub.calls)
        again = post(server, body, headers)
        assert again.status_code == 200 and again.json()["text"] == REPLAY_TEXT, text
        assert (_count(services, AuditRecord), _count(services, Outbox)) == (audits, messages), text
        assert len(slack_stub.calls) == calls, text
    assert "Traceback" not in logs.getvalue()


def test_bolt_checks_the_signature_itself_unless_served_behind_the_edge(services):
    """Dispatched to Bolt directly (no edge), a forged command is refused by Bolt's own check; the
    app `serve` builds (behind the edge) leaves that check to the edge (the tests above)."""
    from slack_bolt import BoltRequest

    from handlers.slack.app import build_app

    body = slash_body("child C5009 label QW")
    forged = {"Content-Type": FORM, "X-Slack-Request-Timestamp": str(int(time.time())),
              "X-Slack-Signature": "v0=" + "0" * 64}
    assert build_app(services).dispatch(BoltRequest(body=body, headers=forged)).status == 401
    assert _count(services, AuditRecord) == 0


def test_a_replay_is_recognised_by_another_process(server, services, settings, slack_stub):
    """The record of seen requests is the database: a second web app (another replica) refuses it too."""
    from handlers.slack.app import build_app
    from bot.context import build_services

    body = slash_body("child C5002 label QY")
    headers = sign(body)
    assert "Recorded" in post(server, body, headers).json()["text"]
    other = build_services(settings, migrate=False, client=services.client)
    web = create_web_app(other, build_app(other, verified_by_edge=True))
    from starlette.testclient import TestClient

    with TestClient(web) as client:
        resp = client.post("/slack/events", content=body.encode(), headers={"Content-Type": FORM, **headers})
    other.engine.dispose()
    assert resp.json()["text"] == REPLAY_TEXT


def test_slack_retries_of_an_event_are_recognised(server, logs):
    event = fixture_json("app_home_opened.json")
    event["team_id"] = "T0001"
    for auth in event.get("authorizations") or []:
        auth["team_id"] = "T0001"
    body = json.dumps(event)
    assert post(server, body, sign(body), "application/json").status_code == 200
    # Slack's retry: the same event, signed again (new timestamp), with X-Slack-Retry-Num.
    retry = {**sign(body, timestamp=int(time.time()) - 1), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post(server, body, retry, "application/json").status_code == 200
    assert "(Slack retry)" in logs.getvalue()


def test_another_workspace_is_refused(server, services, slack_stub):
    body = slash_body("child C5003 label QZ", team_id="T0THEIRS")
    resp = post(server, body, sign(body))
    assert resp.status_code == 200 and "only the workspace it is installed in" in resp.json()["text"]
    assert _count(services, AuditRecord) == 0
    body = block_actions_body("alert_ack", "1", team_id="T0THEIRS")
    assert post(server, body, sign(body)).status_code == 403


def test_enterprise_grid_allowed_list(services, slack_stub):
    from handlers.slack.app import build_app
    from tests.slack import command

    services.settings.allowed_team_ids = ["E0001"]  # the fixture's enterprise_id
    app = build_app(services)
    assert "Recorded" in command(app, "child C5004 label QW", team_id="T0OTHERTEAM")["text"]
    services.settings.allowed_team_ids = ["T0ELSEWHERE"]
    assert "only the workspace" in command(build_app(services), "child C5005 label QV")["text"]


def test_allocated_worker_must_be_authorised(app):
    from tests.slack import command

    reply = command(app, "child C5006 label QU worker <@USTRANGER1>")
    assert "not an authorised user" in reply["text"]
    assert "Recorded" in command(app, f"child C5006 label QU worker <@{DUTY_USER}>")["text"]


def test_agenda_is_refused_for_a_public_channel(server, services, slack_stub):
    slack_stub.public_channels.add(ALERT_CHANNEL)
    body = slash_body('meeting setup chair="Chair <chair@example.org>" attendees="Al <al@example.org>"', user_id=ADMIN_USER)
    assert post(server, body, sign(body)).status_code == 200
    delivered(services)  # the set-up's own messages go after its answer
    slack_stub.take()
    body = slash_body("agenda post")
    text = post(server, body, sign(body)).json()["text"]
    assert "public channel" in text and "privately" in text
    delivered(services)  # whatever it had queued would go now
    assert not [c for c in slack_stub.calls if c.method.startswith(("chat.", "files."))]


# -- a whole scenario at DEBUG: what reaches the logs and the channel ------------------------------
MARKERS = {"from": "MKFROM1", "police": "MKPOLICE2", "location": "MKFOUND3", "by": "MKBY4", "action": "MKACTION5"}


def test_debug_scenario_leaks_nothing_to_logs_or_channels(server, services, slack_stub, clock, logs):
    from scheduler.delivery import deliver_due
    from scheduler.sweep import sweep

    slack_stub.public_channels.add(ALERT_CHANNEL)
    m = MARKERS
    lines = [
        'meeting setup name="Panel <!channel>" chair="Chair <chair@example.org>" attendees="Al <al@example.org>"',
        f"child C7001 label ZQ looked-after yes dob 2011-02-03 placement foster_care worker <@{DUTY_USER}>",
        f'report C7001 at 30h ago from "{m["from"]} <!channel>" police {m["police"]} risk high',
        f'found C7001 at 2h ago location "{m["location"]} <!here> <https://evil.example|click>"',
        f'interview C7001 completed at 1h ago by "{m["by"]} <!everyone>"',
        f'action add C7001 "{m["action"]} <!channel>" owner <@{DUTY_USER}> due 2026-12-01',
        "status C7001", "open", "due", "stats", "agenda", "agenda post",
    ]
    for text in lines:
        body = slash_body(text, user_id=ADMIN_USER if text.startswith("meeting setup") else DUTY_USER)
        resp = post(server, body, sign(body))
        assert resp.status_code == 200, (text, resp.text)
    clock.advance(days=5)
    sweep(services, clock())
    deliver_due(services, clock())

    log_text = logs.getvalue()
    for marker in list(MARKERS.values()) + ["C7001", "ZQ", "2011-02-03", "<!channel>", "<!here>"]:
        assert marker not in log_text, marker
    assert all(line.count("\n") == 0 for line in log_text.splitlines())

    channel_calls = [c for c in slack_stub.calls if c.method in ("chat.postMessage", "chat.update")
                     and str(c.args.get("channel", "")).startswith(("C", "G"))]
    assert channel_calls, "the scenario posts to the team channel"
    uploads = [c.args["bytes"].decode("utf-8", "replace") for c in slack_stub.calls if c.method == "upload"]
    messages = [json.dumps(c.args) for c in channel_calls + [c for c in slack_stub.calls
                                                             if c.method == "files.completeUploadExternal"]]
    shown = messages + uploads
    for text in shown:
        for marker in MARKERS.values():
            assert marker not in text, (marker, text[:300])
        assert "2011" not in text or "C7001" not in text
    # Slack turns these into notifications and links in messages (file contents never ping).
    for text in messages:
        for mention in ("<!channel>", "<!here>", "<!everyone>", "<https://evil"):
            assert mention not in text, (mention, text[:300])
    assert any("C7001" in t for t in shown)


# -- subject access and retention --------------------------------------------------------------------
def _history(app, services, clock, slack_stub):
    from scheduler.sweep import sweep
    from tests.slack import command

    command(app, 'meeting setup chair="Chair <chair@example.org>" attendees="Al <al@example.org>"', user_id=ADMIN_USER)
    command(app, "child C8001 label KA looked-after yes dob 1950-03-01 placement foster_care")   # 76: past 75
    command(app, "child C8002 label KB looked-after no dob 2000-06-15 placement home")          # 26: past 25
    command(app, "child C8003 label KC looked-after yes dob 1996-01-10 placement foster_care")  # 30: kept
    command(app, "child C8004 label KD looked-after no dob 2002-12-31 placement home")           # 23: kept
    for ref, year in (("C8001", 1965), ("C8002", 2015), ("C8003", 2012), ("C8004", 2015)):
        for month in (3, 5):
            command(app, f'report {ref} at {year}-0{month}-01 10:00 from "Home {ref}" police PR-{ref}-{month} risk low')
            command(app, f'found {ref} at {year}-0{month}-02 10:00 location "Street {ref}"')
            command(app, f"interview {ref} completed at {year}-0{month}-03 10:00 by \"Worker {ref}\"")
    command(app, 'action add C8001 "Review placement of C8001" owner <@UDUTY00001> due 2026-12-01')
    command(app, "report C8001 at 30h ago risk high")  # an alert and channel posts about the child
    sweep(services, clock())


def test_sar_bundle_holds_every_kind_of_row(app, services, clock, slack_stub, tmp_path):
    import argparse

    from bot.cli_privacy import _sar

    _history(app, services, clock, slack_stub)
    assert _sar(argparse.Namespace(child_ref="C8001", output=str(tmp_path / "sar")), services) == 0
    bundle = json.loads((tmp_path / "sar.json").read_text())
    page = (tmp_path / "sar.html").read_text()
    assert bundle["child"]["child_ref"] == "C8001" and bundle["child"]["date_of_birth"] == "1950-03-01"
    assert len(bundle["episodes"]) == 3 and len(bundle["return_interviews"]) == 2
    assert {e["police_ref"] for e in bundle["episodes"]} >= {"PR-C8001-3", "PR-C8001-5"}
    assert {r["by"] for r in bundle["return_interviews"]} == {"Worker C8001"}
    assert bundle["alerts"] and bundle["messages"] and bundle["meeting_actions"]
    actions = {r["action"] for r in bundle["audit"]}
    assert {"child.create", "episode.report", "episode.found"} <= actions or len(actions) >= 3, actions
    with services.sessions() as s:
        from store.alerts import Alert
        assert len(bundle["alerts"]) == s.scalar(select(func.count()).select_from(Alert)
                                                 .where(Alert.child_id == bundle["child"]["id"]))
    for needle in ("C8001", "PR-C8001-3", "Street C8001", "Review placement of C8001"):
        assert needle in page
    assert "C8002" not in json.dumps(bundle)


def test_retention_erases_exactly_the_children_past_the_rule_and_keeps_the_figures(app, services, clock, slack_stub,
                                                                                   capsys):
    import argparse
    from datetime import date

    from bot.cli_privacy import _retention
    from bot.protocol.figures import compute_figures, period_bounds
    from store.figures import started_between
    from store.models import Child, Episode

    _history(app, services, clock, slack_stub)

    def figures(year):
        start, end = period_bounds(date(year, 1, 1), date(year, 12, 31), services.zone)
        with services.sessions() as s:
            fig = compute_figures(started_between(s, start, end), date(year, 1, 1), date(year, 12, 31),
                                  services.zone, services.protocol, clock())
        fig.pop("found_locations", None)  # the places are details: they go with the identity
        fig = json.loads(json.dumps(fig, default=str).replace("C8001", "X").replace("C8002", "X")
                         .replace("ERASED-1", "X").replace("ERASED-2", "X"))
        # children tied on episodes are listed by reference, which erasure changes
        fig["top_children"] = sorted(fig["top_children"], key=lambda c: (-c["episodes"], json.dumps(c)))
        return fig

    before = {y: figures(y) for y in (1965, 2012, 2015)}
    assert _retention(argparse.Namespace(apply=False), services) == 0
    listed = capsys.readouterr().out
    assert "C8001" in listed and "C8002" in listed and "C8003" not in listed and "C8004" not in listed
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Child).where(Child.child_ref.like("ERASED-%"))) == 0

    assert _retention(argparse.Namespace(apply=True), services) == 0
    assert "erased 2 child(ren)" in capsys.readouterr().out
    after = {y: figures(y) for y in (1965, 2012, 2015)}
    for y in after:
        for k in after[y]:
            assert after[y][k] == before[y][k], (y, k, before[y][k], after[y][k])
    with services.sessions() as s:
        refs = set(s.scalars(select(Child.child_ref)))
        assert refs == {"ERASED-1", "ERASED-2", "C8003", "C8004"}
        erased = s.scalars(select(Child).where(Child.child_ref.like("ERASED-%"))).all()
        assert all(c.label == "" for c in erased)
        ids = [c.id for c in erased]
        for e in s.scalars(select(Episode).where(Episode.child_id.in_(ids))):
            assert (e.missing_from, e.police_ref, e.found_location, e.ri_by) == ("", "", "", "")
        kept = s.scalars(select(Episode).where(Episode.child_id.not_in(ids))).all()
        assert all(e.police_ref.startswith("PR-C800") for e in kept if e.police_ref)
        dump = json.dumps([[a.before, a.after] for a in s.scalars(select(AuditRecord))])
        for gone in ("C8001", "C8002", "KA", "KB", "1950-03-01", "2000-06-15", "Street C8001", "PR-C8002"):
            assert gone not in dump, gone
        assert "C8003" in dump
        texts = " ".join(o.text for o in s.scalars(select(Outbox)))
        assert "C8001" not in texts and "C8002" not in texts
        assert s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "child.erased")) == 2
    # The audit log is still append-only for anything but the retention marker.
    from sqlalchemy import update
    with pytest.raises(Exception):
        with services.sessions.begin() as s:
            s.execute(update(AuditRecord).values(actor="someone-else"))


def test_audit_command_is_for_managers_and_admins_only(services, slack_stub):
    from handlers.slack.app import build_app
    from tests.slack import command

    services.settings.manager_users = ["UMANAGER01"]
    app = build_app(services)
    command(app, "child C9001 label MA")
    command(app, "report C9001 at 1h ago")
    assert "Only team managers" in command(app, "audit C9001")["text"]
    text = command(app, "audit C9001", user_id="UMANAGER01")["text"]
    assert "Audit trail of C9001" in text and "episode" in text
    assert command(app, "audit C9001", user_id=ADMIN_USER)["response_type"] == "ephemeral"
    # Each change says on which platform its author acted: a Slack user is a mention; a Teams user
    # (an Entra object id, as a change made through the Teams edge records it) is named as text.
    from tests.clock_helpers import change
    from store import records

    teams_user = "0f8a1b2c-3d4e-4f50-9a6b-7c8d9e0f1a2b"
    with change(services, user=teams_user) as ctx:
        records.record_found(ctx, records.require_child(ctx.session, "C9001"), returned_at=ctx.now)
    text = command(app, "audit C9001", user_id="UMANAGER01")["text"]
    assert f"(Slack) <@{DUTY_USER}> episode.report" in text
    assert f"(Teams) Teams user {teams_user} episode.found" in text and f"<@{teams_user}>" not in text


def test_daily_sweep_reports_retention_but_never_erases(app, services, clock, slack_stub):
    from scheduler.sweep import sweep
    from store.models import Child
    from tests.slack import command

    command(app, "child C9101 label RA looked-after no dob 1990-01-01")
    sweep(services, clock())
    sweep(services, clock())
    notes = [o for o in slack_stub.posts() if o.get("channel") == ADMIN_USER and "retention" in o.get("text", "")]
    assert len(notes) == 1 and "1 child(ren)" in notes[0]["text"]
    with services.sessions() as s:
        assert s.scalar(select(Child.child_ref)) == "C9101"
