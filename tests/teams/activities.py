"""Activities as Teams sends them to the bot, and a helper that POSTs them, signed, to
/api/messages. Shapes follow the Bot Framework activity schema as Teams fills it (channelId
msteams, channelData.tenant, conversation.conversationType, a serviceUrl per region).
Every name and id here is invented."""
from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timezone

import httpx

from tests.teams.issuer import FakeIssuer

_seq = itertools.count(1)

USER_AAD_ID = "00000000-0000-4000-8000-00000000a11c"  # an invented Entra object id
USER_ID = "29:1fake-user-id"


def _base(kind: str, *, issuer: FakeIssuer, service_url: str, conversation_id: str,
          conversation_type: str = "personal", user: tuple[str, str, str] | None = None) -> dict:
    """`user`: (29: id, name, Entra object id) of the sender; the test worker by default."""
    n = next(_seq)
    teams_id, name, aad = user or (USER_ID, "Test Worker", USER_AAD_ID)
    return {
        "type": kind,
        "id": f"f{n:08d}",
        "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "localTimestamp": datetime.now(timezone.utc).isoformat(),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": teams_id, "name": name, "aadObjectId": aad},
        "conversation": {"id": conversation_id, "conversationType": conversation_type,
                         "tenantId": issuer.tenant_id},
        "recipient": {"id": f"28:{issuer.client_id}", "name": "missing-bot"},
        "channelData": {"tenant": {"id": issuer.tenant_id}},
        "locale": "en-GB",
    }


def message(text: str, *, issuer: FakeIssuer, service_url: str,
            conversation_id: str = "a:1fake-personal-chat", conversation_type: str = "personal",
            user: tuple[str, str, str] | None = None) -> dict:
    activity = _base("message", issuer=issuer, service_url=service_url, conversation_id=conversation_id,
                     conversation_type=conversation_type, user=user)
    activity.update({"text": text, "textFormat": "plain"})
    return activity


def mention(text: str, *, issuer: FakeIssuer, service_url: str,
            conversation_id: str = "19:fake-channel@thread.tacv2;messageid=1000000000001",
            user: tuple[str, str, str] | None = None) -> dict:
    """A channel message that @mentions the bot, as Teams sends it: `<at>missing-bot</at> text`
    with a mention entity for the bot."""
    activity = message(f"<at>missing-bot</at> {text}", issuer=issuer, service_url=service_url,
                       conversation_id=conversation_id, conversation_type="channel", user=user)
    activity["entities"] = [{"type": "mention", "text": "<at>missing-bot</at>",
                             "mentioned": {"id": f"28:{issuer.client_id}", "name": "missing-bot"}}]
    activity["channelData"].update({"team": {"id": "19:fake-team@thread.tacv2"},
                                    "channel": {"id": conversation_id.split(";")[0]}})
    return activity


def execute(verb: str, data: dict, *, issuer: FakeIssuer, service_url: str,
            conversation_id: str = "19:fake-channel@thread.tacv2", reply_to: str = "1000000000001",
            user: tuple[str, str, str] | None = None) -> dict:
    """The invoke Teams sends when a user presses an Action.Execute button on a card."""
    activity = _base("invoke", issuer=issuer, service_url=service_url, conversation_id=conversation_id,
                     conversation_type="channel", user=user)
    activity.update({
        "name": "adaptiveCard/action",
        "replyToId": reply_to,
        "value": {"action": {"type": "Action.Execute", "id": str(uuid.uuid4()), "verb": verb, "data": data},
                  "trigger": "manual"},
    })
    return activity


def task_fetch(data: dict, *, issuer: FakeIssuer, service_url: str,
               conversation_id: str = "a:1fake-personal-chat") -> dict:
    """The invoke Teams sends when a card button opens a dialog (task module)."""
    activity = _base("invoke", issuer=issuer, service_url=service_url, conversation_id=conversation_id)
    activity.update({"name": "task/fetch", "value": {"data": data, "context": {"theme": "default"}}})
    return activity


def task_submit(data: dict, *, issuer: FakeIssuer, service_url: str,
                conversation_id: str = "a:1fake-personal-chat") -> dict:
    activity = _base("invoke", issuer=issuer, service_url=service_url, conversation_id=conversation_id)
    activity.update({"name": "task/submit", "value": {"data": data, "context": {"theme": "default"}}})
    return activity


def post(base_url: str, activity: dict, token: str | None, timeout: float = 15.0) -> httpx.Response:
    """POST an activity to the bot as the Bot Connector does (Authorization: Bearer <token>)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(f"{base_url}/api/messages", json=activity, headers=headers, timeout=timeout)


def post_signed(base_url: str, activity: dict, issuer: FakeIssuer, **mint) -> httpx.Response:
    return post(base_url, activity, issuer.mint(service_url=activity.get("serviceUrl"), **mint))


def installation(action: str, *, issuer: FakeIssuer, service_url: str, conversation_id: str,
                 conversation_type: str, user: tuple[str, str, str] | None = None) -> dict:
    """The installationUpdate Teams sends when the app is added to (or removed from) a scope."""
    activity = _base("installationUpdate", issuer=issuer, service_url=service_url, conversation_id=conversation_id,
                     conversation_type=conversation_type, user=user)
    activity["action"] = action
    return activity
