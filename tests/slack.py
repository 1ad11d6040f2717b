"""Building correctly signed Slack requests from the documented payload shapes.

The shapes are copies of shared/slack-payloads (see fixtures/slack/SOURCES.md for where each
comes from); only the fields a test cares about are replaced."""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

from tests.conftest import ALERT_CHANNEL, DUTY_USER, SIGNING_SECRET

TEAM_ID = "T0001"  # the workspace the fake Slack's auth.test says the bot is installed in


def _in_our_workspace(payload: dict, team_id: str) -> dict:
    """The documented payloads come from another workspace; the bot serves only its own."""
    if isinstance(payload.get("team"), dict):
        payload["team"]["id"] = team_id
    if isinstance(payload.get("user"), dict) and "team_id" in payload["user"]:
        payload["user"]["team_id"] = team_id
    for field in ("team_id", "app_installed_team_id"):
        if isinstance(payload.get("view"), dict) and field in payload["view"]:
            payload["view"][field] = team_id
    return payload

FIXTURES = Path(__file__).parent / "fixtures" / "slack"
FORM = "application/x-www-form-urlencoded"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").strip()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_text(name))


def sign(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}


def slash_body(text: str, *, user_id: str = DUTY_USER, channel_id: str = ALERT_CHANNEL, team_id: str = TEAM_ID) -> str:
    fields = dict(parse_qsl(fixture_text("slash_command.txt"), keep_blank_values=True))
    fields.update(command="/missing", text=text, user_id=user_id, channel_id=channel_id, team_id=team_id)
    return urlencode(fields)


def view_submission_body(view: dict, state_values: dict, *, user_id: str = DUTY_USER, team_id: str = TEAM_ID) -> str:
    """A view_submission for `view` (as the bot opened it) with the given state values."""
    payload = _in_our_workspace(fixture_json("view_submission.json"), team_id)
    payload["user"]["id"] = user_id
    submitted = copy.deepcopy(payload["view"])
    submitted.update(callback_id=view["callback_id"], private_metadata=view.get("private_metadata", ""),
                     blocks=view["blocks"], title=view["title"], state={"values": state_values})
    payload["view"] = submitted
    return urlencode({"payload": json.dumps(payload)})


def block_actions_body(action_id: str, value: str, *, user_id: str = DUTY_USER, channel_id: str = ALERT_CHANNEL,
                       message_ts: str = "1700000001.000100", block_id: str = "actions", team_id: str = TEAM_ID) -> str:
    payload = _in_our_workspace(fixture_json("block_actions.json"), team_id)
    payload["user"]["id"] = user_id
    payload["channel"]["id"] = channel_id
    payload["container"].update(channel_id=channel_id, message_ts=message_ts)
    payload["message"]["ts"] = message_ts
    payload["actions"] = [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                           "text": {"type": "plain_text", "text": action_id}, "action_ts": str(time.time())}]
    return urlencode({"payload": json.dumps(payload)})


def dispatch(app: App, body: str, *, content_type: str = FORM, headers: dict | None = None,
             settle: bool = True) -> BoltResponse:
    """Sign and dispatch a request; then (unless `settle` is False) wait for the work the app does
    after answering (opening a form, a private answer, updating alert copies)."""
    h = {"Content-Type": content_type, **sign(body)}
    h.update(headers or {})
    response = app.dispatch(BoltRequest(body=body, headers={k.lower(): [v] for k, v in h.items()}))
    if settle and hasattr(app, "settle"):
        app.settle()
    return response


def command(app: App, text: str, **kwargs) -> dict:
    """Run `/missing <text>`; returns the JSON the bot answered with (asserting HTTP 200)."""
    resp = dispatch(app, slash_body(text, **kwargs))
    assert resp.status == 200, (resp.status, resp.body)
    return json.loads(resp.body) if resp.body else {}


def text_input(value: str) -> dict:
    return {"value": {"type": "plain_text_input", "value": value}}


def select(value: str) -> dict:
    return {"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": value},
                                                                   "value": value}}}


def datepicker(value: str) -> dict:
    return {"value": {"type": "datepicker", "selected_date": value}}
