"""The Microsoft Teams SDK (microsoft-teams-apps 2.x) set up the way this bot needs it.

What docs/TEAMS.md found in the spike, kept as the production pieces:
- `new_app`: an App with every option passed explicitly (the SDK would otherwise read CLIENT_ID,
  CLIENT_SECRET, DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS... from the environment and a .env),
  our own token provider, a request timeout, and `GuardedFastAPIAdapter` in front of its route.
- `ClientCredentialsToken`: the client-credentials grant against Entra ID (MSAL, the SDK's own
  path, cannot be pointed anywhere but Microsoft, so the tests could never reach it).
- `GuardedFastAPIAdapter`: refuses tokens without `exp` (the SDK accepts them) and activities of
  another tenant (Bot Framework tokens are not tied to a tenant).
- `TeamsClient`: an App without a server on its own event loop thread, for synchronous callers
  (the outbox deliverer): send, reply in a thread, update in place, open a personal chat.
- `classify`: what the SDK raised, as the deliverer's one `TransportError`."""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from microsoft_teams.api import ActivityTypeAdapter, MessageActivityInput, TokenCredentials
from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment, with_overrides
from microsoft_teams.api.clients.conversation.params import CreateConversationParams
from microsoft_teams.api.models import Account, Attachment
from microsoft_teams.apps import App, FastAPIAdapter
from microsoft_teams.apps.http.adapter import HttpMethod, HttpRequest, HttpResponse, HttpRouteHandler
from microsoft_teams.common import ClientOptions

from handlers.teams.cards import CARD_CONTENT_TYPE
from scheduler.transports.base import TransportError

ENTRA_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
BOT_SCOPE = "https://api.botframework.com/.default"
MAX_BODY = 512 * 1024  # Teams activities are tens of kB at most (a message is limited to about 28 KB)


# -- outbound token --------------------------------------------------------------------------
class TokenError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"token endpoint answered {status} ({error})")
        self.status, self.error = status, error


class ClientCredentialsToken:
    """OAuth 2.0 client-credentials grant against Entra ID (or a fake), cached until 5 minutes
    before expiry. The SDK calls it as `token(scope, tenant_id)` before every connector call;
    one cache serves every event loop (threads), behind a thread lock."""

    def __init__(self, client_id: str, client_secret: str, tenant_id: str,
                 token_url: str = ENTRA_TOKEN_URL, timeout: float = 10.0) -> None:
        self.client_id, self._secret, self.tenant_id = client_id, client_secret, tenant_id
        self.token_url, self.timeout = token_url, timeout
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: str, tenant_id: str | None = None) -> str:
        cached = self._cache.get(scope)
        if cached and cached[1] > time.time() + 300:
            return cached[0]
        return await asyncio.to_thread(self.get, scope)

    def get(self, scope: str = BOT_SCOPE) -> str:
        with self._lock:
            cached = self._cache.get(scope)
            if cached and cached[1] > time.time() + 300:
                return cached[0]
            url = self.token_url.format(tenant=self.tenant_id)  # single-tenant: always our tenant
            resp = httpx.post(url, timeout=self.timeout, data={
                "grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self._secret, "scope": scope})
            if resp.status_code != 200:
                body = resp.json() if "json" in resp.headers.get("content-type", "") else {}
                raise TokenError(resp.status_code, body.get("error", "unknown"))
            body = resp.json()
            self._cache[scope] = (body["access_token"], time.time() + int(body.get("expires_in", 0)))
            return body["access_token"]


# -- connector errors ------------------------------------------------------------------------
def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: no hint


def classify(exc: BaseException) -> TransportError:
    """429, 408 and 5xx are transient (Retry-After honoured; a 429 without one waits 30 s, as Slack's
    does), and after a 5xx the outcome is unknown (the connector may have delivered first); 403 (the bot was removed from the team or chat), 404 (no such conversation) and other
    4xx are permanent; a timeout after the request went out leaves the outcome unknown; a refused
    connection is transient; a refused client secret is permanent."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        wait = _retry_after(exc.response)
        if status == 429:
            return TransportError("throttled", retry_after=wait if wait is not None else 30)
        if status >= 500:  # the connector may have delivered before failing, as Slack's 5xx
            return TransportError(f"http_{status}", retry_after=wait, unknown=True)
        if status == 408:
            return TransportError(f"http_{status}", retry_after=wait)
        if status == 403:
            return TransportError("http_403 bot not in the conversation", permanent=True)
        return TransportError(f"http_{status}", permanent=True)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError)):
        return TransportError(f"no answer ({type(exc).__name__})", unknown=True)
    if isinstance(exc, httpx.TransportError):  # ConnectError, ConnectTimeout, PoolTimeout
        return TransportError(f"not reached ({type(exc).__name__})")
    if isinstance(exc, TokenError):
        return TransportError(f"token {exc.status} {exc.error}", permanent=exc.status in (400, 401))
    if isinstance(exc, ValueError) and "JSON" in str(exc):  # a 2xx answer that is not the connector's
        return TransportError("answer not JSON", unknown=True)
    raise exc


# -- the app ---------------------------------------------------------------------------------
def _obj(value) -> dict:
    return value if isinstance(value, dict) else {}


class GuardedFastAPIAdapter(FastAPIAdapter):
    """The SDK's FastAPI adapter with checks in front of its handler, which can only refuse more:

    - the body: at most `MAX_BODY` bytes (413), UTF-8 JSON, an object nested at most 64 deep
      (bot/edge.py's readers; 400), so that hostile input gets a 4xx where the SDK's own route
      (`await request.json()`) would answer 500;
    - a token without `exp` (PyJWT checks exp only when present, the SDK does not require it): 401;
    - an activity from another tenant (Bot Framework tokens are not tied to one; a single-tenant bot
      must check): 403;
    - an activity the SDK cannot read (its model refuses it: the SDK would answer 500): 400.
    The SDK then validates the token (401) and runs the handlers."""

    def __init__(self, app: FastAPI, tenant_id: str, *, authenticated: bool = True) -> None:
        super().__init__(app=app)
        self.tenant_id = tenant_id
        self.authenticated = authenticated

    def refusal(self, headers: dict, body: dict) -> HttpResponse | None:
        if self.authenticated:
            auth = headers.get("authorization", "")
            try:
                claims = jwt.decode(auth.removeprefix("Bearer "), options={"verify_signature": False})
            except jwt.PyJWTError:
                claims = {}
            if auth.startswith("Bearer ") and "exp" not in claims:
                return HttpResponse(status=401, body={"error": "Unauthorized"})
        tenant = _obj(_obj(body.get("channelData")).get("tenant")).get("id") or _obj(body.get("conversation")).get("tenantId")
        if tenant != self.tenant_id:
            return HttpResponse(status=403, body={"error": "This bot serves one organisation only."})
        try:
            ActivityTypeAdapter.validate_python(body)  # what the SDK does after its checks
        except ValueError:
            return HttpResponse(status=400, body={"error": "not an activity"})
        if body.get("type") in ("message", "invoke") and not (
                isinstance(body.get("from"), dict) and isinstance(body.get("conversation"), dict)
                and isinstance(body.get("recipient"), dict)):
            return HttpResponse(status=400, body={"error": "not an activity"})
        return None

    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        if method != "POST":
            raise ValueError(f"Unsupported HTTP method: {method}")

        async def route(request: Request) -> Response:
            from bot.edge import Refused, _json, read_limited

            headers = dict(request.headers)
            try:
                raw = await read_limited(request.headers, request.stream(), MAX_BODY)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise Refused(400, "body is not UTF-8") from None
                body = _json(text, "activity")
            except Refused as exc:
                return JSONResponse({"error": exc.reason}, status_code=exc.status)
            result = self.refusal(headers, body) or await handler(HttpRequest(body=body, headers=headers))
            if result.get("body") is not None:
                return JSONResponse(content=result["body"], status_code=result["status"])
            return Response(status_code=result["status"])

        self.app.post(path)(route)


def cloud_for(settings) -> CloudEnvironment:
    """Microsoft's public cloud, with the inbound-token endpoints moved where settings say (tests)."""
    overrides = {}
    if settings.teams_openid_url:
        overrides["openid_metadata_url"] = settings.teams_openid_url
    if settings.teams_token_issuer:
        overrides["token_issuer"] = settings.teams_token_issuer
    return with_overrides(PUBLIC, **overrides) if overrides else PUBLIC


def new_app(*, client_id: str, client_secret: str, tenant_id: str, cloud: CloudEnvironment | None = None,
            token_url: str = ENTRA_TOKEN_URL, timeout: float = 10.0, web: FastAPI | None = None,
            allow_unauthenticated: bool = False) -> App:
    """A Teams App with our own token provider, explicit auth, and a request timeout.

    `allow_unauthenticated` (the development mode, TEAMS_DEV_NO_AUTH) switches the SDK's inbound
    token check off; `bot.settings` refuses it when a client secret is set."""
    if allow_unauthenticated and client_secret:
        raise RuntimeError("refusing the unauthenticated development mode with a client secret set")
    app = App(
        client_id=client_id,
        tenant_id=tenant_id,
        token=ClientCredentialsToken(client_id, client_secret, tenant_id, token_url, timeout),
        cloud=cloud or PUBLIC,
        dangerously_allow_unauthenticated_requests=allow_unauthenticated,  # explicit: beats the env variable
        client=ClientOptions(timeout=timeout),  # the SDK's default httpx client has no timeout
        http_server_adapter=(GuardedFastAPIAdapter(web, tenant_id, authenticated=not allow_unauthenticated)
                             if web is not None else None),
        state=False,
    )
    if not isinstance(app.credentials, TokenCredentials):  # CLIENT_SECRET in the env would win
        raise RuntimeError("Teams credentials did not come from our token provider; unset CLIENT_SECRET")
    return app


@dataclass(frozen=True)
class ConversationRef:
    """What the bot must know to post into a conversation later."""

    conversation_id: str
    service_url: str
    tenant_id: str | None


def card_activity(card: dict | None = None, text: str | None = None, *, summary: str | None = None,
                  activity_id: str | None = None) -> MessageActivityInput:
    """A message activity carrying an Adaptive Card (a dict); an id makes `App.send` a PUT."""
    activity = MessageActivityInput(id=activity_id) if activity_id else MessageActivityInput()
    if text:
        activity.text = text
    if summary:
        activity.summary = summary
    if card is not None:
        activity.add_attachments(Attachment(content_type=CARD_CONTENT_TYPE, content=card))
    return activity


class TeamsClient:
    """An App without a server, on its own event loop in a thread: the deliverer is synchronous,
    and the SDK's httpx client must stay on one loop. Methods raise what the SDK raised (see
    `classify`)."""

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="teams-client")
        self._thread.start()
        self.app = new_app(**options)
        self.timeout = float(options.get("timeout", 10.0))
        self._call(self.app.initialize())

    def _call(self, coro):
        # Twice the client's timeout: the SDK's own timeout answers first (as ReadTimeout).
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout * 2 + 5)

    def send(self, ref: ConversationRef, activity: MessageActivityInput, thread_root: str | None = None) -> str:
        if thread_root:
            sent = self._call(self.app.reply(ref.conversation_id, thread_root, activity, service_url=ref.service_url))
        else:
            sent = self._call(self.app.send(ref.conversation_id, activity, service_url=ref.service_url))
        return sent.id

    def update(self, ref: ConversationRef, activity_id: str, activity: MessageActivityInput) -> str:
        activity.id = activity_id
        return self._call(self.app.send(ref.conversation_id, activity, service_url=ref.service_url)).id

    def open_personal(self, service_url: str, tenant_id: str, user_id: str) -> str:
        """The id of the bot's one-to-one chat with a user (POST /v3/conversations; Teams answers the
        existing chat when there is one). `user_id`: their 29: id, or their Entra object id."""
        async def create() -> str:
            api = self.app.api.clone(service_url=service_url) if hasattr(self.app.api, "clone") else self.app.api
            resource = await api.conversations.create(CreateConversationParams(
                members=[Account(id=user_id)], tenant_id=tenant_id, isGroup=False,
                bot=Account(id=self.app.id), channel_data={"tenant": {"id": tenant_id}}))
            return resource.id

        return self._call(create())

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
