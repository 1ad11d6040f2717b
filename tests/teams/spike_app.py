"""SPIKE (issue 11 groundwork; its tested pieces now live in handlers/teams/sdk.py, the edge in app.py): the Microsoft Teams SDK for Python hosted inside our FastAPI app.

Not wired into the bot's commands: it echoes a message, answers an Action.Execute
(`adaptiveCard/action`) invoke by updating the card in place, opens and submits a dialog
(`task/fetch`, `task/submit`), and sends proactively to a stored conversation reference. It
exists to show, with tests against fakes on 127.0.0.1 (tests/teams/), how the later Teams edge
and transport must be built; docs/TEAMS.md has the findings and the recipe.

What the SDK (microsoft-teams-apps 2.1) gives and how this uses it:
- `FastAPIAdapter(app=<our FastAPI>)` + `App(http_server_adapter=...)` + `await app.initialize()`
  registers `POST /api/messages` on our app; the SDK does not run its own server.
- Inbound JWTs are checked by the SDK (`apps/auth/token_validator.py`) against the JWKS named by
  `CloudEnvironment.openid_metadata_url`, the issuer `CloudEnvironment.token_issuer`, the
  audience = client id, expiry, and the `serviceurl` claim against the activity's serviceUrl.
  `cloud=` moves those to a fake without switching validation off.
- Outbound tokens: the SDK's own client-secret path is MSAL, which insists on an https authority
  and asks login.microsoftonline.com to validate any other host, so it cannot be pointed at
  127.0.0.1. `ClientCredentialsToken` below does the same client-credentials grant itself and
  is given to the SDK as its `token` provider (the SDK then never touches MSAL).
- Connector errors are `httpx.HTTPStatusError` (`response.raise_for_status()` in
  microsoft_teams/common/http/client.py); the SDK does not retry; `classify()` maps them onto
  scheduler/transports' `TransportError`."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from microsoft_teams.api import (
    AdaptiveCardInvokeActivity,
    MessageActivity,
    MessageActivityInput,
    TaskFetchInvokeActivity,
    TaskSubmitInvokeActivity,
)
from microsoft_teams.api.models import (
    AdaptiveCardAttachment,
    CardTaskModuleTaskInfo,
    TaskModuleContinueResponse,
    TaskModuleMessageResponse,
    TaskModuleResponse,
    card_attachment,
)
from microsoft_teams.api.models.adaptive_card import (
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionErrorResponse,
)
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.cards import AdaptiveCard, ExecuteAction, Fact, FactSet, SubmitAction, TextBlock, TextInput

from handlers.teams.sdk import (  # noqa: F401 - the production pieces, grown out of this spike
    ENTRA_TOKEN_URL,
    ClientCredentialsToken,
    ConversationRef,
    GuardedFastAPIAdapter,
    TokenError,
    classify,
    new_app,
)

CARD_VERSION = "1.5"

# -- cards ---------------------------------------------------------------------------------
def alert_card(ref: str, label: str, *, acknowledged_by: str | None = None, at: str | None = None) -> AdaptiveCard:
    """A stand-in for an alert card: case reference and label only, and one Action.Execute."""
    body: list[Any] = [
        TextBlock(text=f"{ref} ({label}) missing for 24 hours", wrap=True, weight="Bolder"),
        FactSet(facts=[Fact(title="Case", value=ref), Fact(title="Rule", value="24 hours missing")]),
    ]
    actions: list[Any] = []
    if acknowledged_by:
        body.append(TextBlock(text=f"Acknowledged by {acknowledged_by} at {at}", wrap=True, is_subtle=True))
    else:
        actions.append(ExecuteAction(title="Acknowledge", verb="acknowledge", data={"ref": ref, "label": label}))
    return AdaptiveCard(version=CARD_VERSION, body=body, actions=actions or None)


def dialog_card() -> AdaptiveCard:
    return AdaptiveCard(version=CARD_VERSION, body=[
        TextBlock(text="Report a child missing", weight="Bolder", wrap=True),
        TextInput(id="ref", label="Case reference", is_required=True, error_message="A case reference, e.g. C1234"),
    ], actions=[SubmitAction(title="Report", data={"form": "report"})])


def card_json(card: AdaptiveCard) -> dict:
    return card.model_dump(by_alias=True, exclude_none=True)


# -- the app ---------------------------------------------------------------------------------
@dataclass
class SpikeState:
    references: dict[str, ConversationRef] = field(default_factory=dict)


def mount(web: FastAPI, state: SpikeState, **options: Any) -> App:
    """Register POST /api/messages on `web` (which keeps its own routes) and the spike handlers."""
    app = new_app(web=web, **options)

    @app.on_message
    async def echo(ctx: ActivityContext[MessageActivity]) -> None:
        activity = ctx.activity
        state.references[activity.conversation.id] = ConversationRef(
            activity.conversation.id, activity.service_url, activity.conversation.tenant_id)
        await ctx.send(f"You said: {activity.text}")

    @app.on_card_action_execute
    async def execute(ctx: ActivityContext[AdaptiveCardInvokeActivity]):
        action = ctx.activity.value.action
        if action.verb != "acknowledge":
            return AdaptiveCardActionErrorResponse(status_code=400, value={
                "code": "BadRequest", "message": f"unknown action {action.verb}",
                "innerHttpError": {"statusCode": 400, "body": {}}})
        who = ctx.activity.from_.name or ctx.activity.from_.id
        card = alert_card(action.data["ref"], action.data["label"], acknowledged_by=who,
                          at=ctx.activity.timestamp.strftime("%H:%M") if ctx.activity.timestamp else "now")
        return AdaptiveCardActionCardResponse(value=card)

    @app.on_dialog_open
    async def open_dialog(ctx: ActivityContext[TaskFetchInvokeActivity]):
        return TaskModuleResponse(task=TaskModuleContinueResponse(value=CardTaskModuleTaskInfo(
            title="Report", card=card_attachment(AdaptiveCardAttachment(content=dialog_card())))))

    @app.on_dialog_submit
    async def submit_dialog(ctx: ActivityContext[TaskSubmitInvokeActivity]):
        ref = str((ctx.activity.value.data or {}).get("ref") or "").strip()
        if not ref:
            return TaskModuleResponse(task=TaskModuleContinueResponse(value=CardTaskModuleTaskInfo(
                title="Report", card=card_attachment(AdaptiveCardAttachment(content=dialog_card())))))
        return TaskModuleResponse(task=TaskModuleMessageResponse(value=f"Reported {ref}"))

    run(app.initialize())
    return app


def run(coro):
    """Run a coroutine to completion from synchronous code (no loop may be running here)."""
    return asyncio.run(coro)


# -- proactive sending, as the outbox deliverer (synchronous threads) would do it --------------
class Sender:
    """An App without a server, on its own event loop in a thread: the deliverer is synchronous,
    and the SDK's httpx client must stay on one loop. `send`/`update`/`reply` raise what the SDK
    raised (see `classify`)."""

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="teams-sender")
        self._thread.start()
        self.app = new_app(**options)
        self._call(self.app.initialize())

    def _call(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def send(self, ref: ConversationRef, text: str | None = None, card: AdaptiveCard | None = None) -> str:
        activity = MessageActivityInput(text=text) if text else MessageActivityInput()
        if card is not None:
            activity = activity.add_card(card)
        return self._call(self.app.send(ref.conversation_id, activity, service_url=ref.service_url)).id

    def update(self, ref: ConversationRef, activity_id: str, card: AdaptiveCard) -> str:
        activity = MessageActivityInput(id=activity_id).add_card(card)  # an id makes send() a PUT
        return self._call(self.app.send(ref.conversation_id, activity, service_url=ref.service_url)).id

    def reply(self, ref: ConversationRef, thread_root_id: str, text: str) -> str:
        """A reply in the thread of a channel message (conversation id ;messageid=<root>)."""
        return self._call(self.app.reply(ref.conversation_id, thread_root_id, MessageActivityInput(text=text),
                                         service_url=ref.service_url)).id

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
