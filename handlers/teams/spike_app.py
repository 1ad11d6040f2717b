"""SPIKE (issue 11 groundwork): the Microsoft Teams SDK for Python hosted inside our FastAPI app.

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
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from fastapi import FastAPI
from microsoft_teams.api import (
    AdaptiveCardInvokeActivity,
    MessageActivity,
    MessageActivityInput,
    TaskFetchInvokeActivity,
    TaskSubmitInvokeActivity,
    TokenCredentials,
)
from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment
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
from microsoft_teams.apps import ActivityContext, App, FastAPIAdapter
from microsoft_teams.apps.http.adapter import HttpMethod, HttpRequest, HttpResponse, HttpRouteHandler
from microsoft_teams.cards import AdaptiveCard, ExecuteAction, Fact, FactSet, SubmitAction, TextBlock, TextInput
from microsoft_teams.common import ClientOptions

from scheduler.transports.base import TransportError

ENTRA_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
CARD_VERSION = "1.5"


# -- outbound token --------------------------------------------------------------------------
class ClientCredentialsToken:
    """OAuth 2.0 client-credentials grant against Entra ID (or a fake), cached until 5 minutes
    before expiry. The SDK calls it as `token(scope, tenant_id)` before every connector call."""

    def __init__(self, client_id: str, client_secret: str, tenant_id: str,
                 token_url: str = ENTRA_TOKEN_URL, timeout: float = 10.0) -> None:
        self.client_id, self._secret, self.tenant_id = client_id, client_secret, tenant_id
        self.token_url, self.timeout = token_url, timeout
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    async def __call__(self, scope: str, tenant_id: str | None = None) -> str:
        async with self._lock:
            cached = self._cache.get(scope)
            if cached and cached[1] > time.time() + 300:
                return cached[0]
            url = self.token_url.format(tenant=self.tenant_id)  # single-tenant: always our tenant
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                resp = await client.post(url, data={
                    "grant_type": "client_credentials", "client_id": self.client_id,
                    "client_secret": self._secret, "scope": scope,
                })
            if resp.status_code != 200:
                body = resp.json() if "json" in resp.headers.get("content-type", "") else {}
                raise TokenError(resp.status_code, body.get("error", "unknown"))
            body = resp.json()
            self._cache[scope] = (body["access_token"], time.time() + int(body.get("expires_in", 0)))
            return body["access_token"]


class TokenError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"token endpoint answered {status} ({error})")
        self.status, self.error = status, error


# -- connector errors, classified as the deliverer's transports do ---------------------------
def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: no hint


def classify(exc: BaseException) -> TransportError:
    """What the SDK raised, as scheduler/transports' one error: 429 and 5xx are transient
    (Retry-After honoured; a 429 without one waits 30 s, as Slack's does); 403 (the bot was
    removed from the team or chat), 404 (no such conversation) and other 4xx are permanent; a
    timeout after the request went out leaves the outcome unknown; a refused connection is
    transient; a refused client secret is permanent."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        wait = _retry_after(exc.response)
        if status == 429:
            return TransportError("throttled", retry_after=wait if wait is not None else 30)
        if status >= 500 or status == 408:
            return TransportError(f"http_{status}", retry_after=wait)
        return TransportError(f"http_{status}", permanent=True)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError)):
        return TransportError(f"no answer ({type(exc).__name__})", unknown=True)
    if isinstance(exc, httpx.TransportError):  # ConnectError, ConnectTimeout, PoolTimeout
        return TransportError(f"not reached ({type(exc).__name__})")
    if isinstance(exc, TokenError):
        return TransportError(f"token {exc.status} {exc.error}", permanent=exc.status in (400, 401))
    raise exc


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
class GuardedFastAPIAdapter(FastAPIAdapter):
    """The SDK's FastAPI adapter with two checks in front of its handler, which can only refuse
    more: the SDK accepts a Bot Framework token without an `exp` claim (PyJWT checks exp only
    when present), and Bot Framework tokens are not tied to a tenant, so a single-tenant bot
    must refuse activities from other tenants itself (channelData.tenant.id)."""

    def __init__(self, app: FastAPI, tenant_id: str) -> None:
        super().__init__(app=app)
        self.tenant_id = tenant_id

    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        async def guarded(request: HttpRequest) -> HttpResponse:
            auth = request["headers"].get("authorization", "")
            try:
                claims = jwt.decode(auth.removeprefix("Bearer "), options={"verify_signature": False})
            except jwt.PyJWTError:
                claims = {}
            if auth.startswith("Bearer ") and "exp" not in claims:
                return HttpResponse(status=401, body={"error": "Unauthorized"})
            body = request["body"]
            tenant = ((body.get("channelData") or {}).get("tenant") or {}).get("id") \
                or (body.get("conversation") or {}).get("tenantId")
            if tenant != self.tenant_id:
                return HttpResponse(status=403, body={"error": "This bot serves one organisation only."})
            return await handler(request)

        super().register_route(method, path, guarded)


@dataclass(frozen=True)
class ConversationRef:
    """What the bot must store to post into a conversation later (e.g. `alerts here`)."""
    conversation_id: str
    service_url: str
    tenant_id: str | None


@dataclass
class SpikeState:
    references: dict[str, ConversationRef] = field(default_factory=dict)


def new_app(*, client_id: str, client_secret: str, tenant_id: str, cloud: CloudEnvironment | None = None,
            token_url: str = ENTRA_TOKEN_URL, timeout: float = 10.0, web: FastAPI | None = None) -> App:
    """A Teams App with our own token provider, explicit auth, and a request timeout.

    Every option that the SDK would otherwise read from the environment (CLIENT_ID,
    CLIENT_SECRET, TENANT_ID, CLOUD, SERVICE_URL, DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS,
    also from a .env file it loads on import) is passed explicitly."""
    app = App(
        client_id=client_id,
        tenant_id=tenant_id,
        token=ClientCredentialsToken(client_id, client_secret, tenant_id, token_url, timeout),
        cloud=cloud or PUBLIC,
        dangerously_allow_unauthenticated_requests=False,  # explicit: beats the env variable
        client=ClientOptions(timeout=timeout),  # the SDK's default httpx client has no timeout
        http_server_adapter=GuardedFastAPIAdapter(web, tenant_id) if web is not None else None,
        state=False,
    )
    if not isinstance(app.credentials, TokenCredentials):  # CLIENT_SECRET in the env would win
        raise RuntimeError("Teams credentials did not come from our token provider; unset CLIENT_SECRET")
    return app


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
