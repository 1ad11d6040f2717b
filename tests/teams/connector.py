"""A fake Bot Connector (the Bot Framework REST API a Teams bot sends to) on 127.0.0.1.

Activities carry it as their `serviceUrl`, so the SDK sends replies here; proactive sends go
to whatever service URL the stored conversation reference holds. It records every POST/PUT
under /v3/conversations, checks the bearer token the way the real connector does (signed by
the issuer, aud https://api.botframework.com, appid = the bot), and can be told to answer the
next calls with 429 + Retry-After, a 5xx, a 403 (the bot was removed from the team), or late."""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from tests.teams.issuer import FakeIssuer


@dataclass
class Failure:
    status: int = 500
    retry_after: int | None = None  # seconds, sent as Retry-After (with 429 or 503)
    delay: float = 0.0  # seconds before answering
    accept: bool = False  # record the activity as delivered all the same (the answer is what fails)


@dataclass
class Sent:
    method: str  # POST or PUT
    path: str  # unquoted, without the query
    query: str
    conversation_id: str
    activity_id: str | None  # the activity replied to (POST) or updated (PUT)
    body: dict
    status: int  # what the fake answered
    authorization: str


@dataclass
class FakeConnector:
    issuer: FakeIssuer
    host: str = "127.0.0.1"
    calls: list[Sent] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.received = 0  # requests that arrived, answered or not (a slow answer is recorded late)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The service URL (as Teams sends it, with a trailing slash)."""
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_address[1]}/teams/"

    def fail_next(self, *failures: Failure) -> None:
        with self._lock:
            self.failures.extend(failures)

    def delivered(self) -> list[Sent]:
        """Calls the connector accepted (2xx)."""
        with self._lock:
            return [c for c in self.calls if c.status < 300]

    def texts(self) -> list[str]:
        return [c.body.get("text", "") for c in self.delivered()]

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.calls) >= count:
                    return True
            time.sleep(0.01)
        return False

    # -- server -----------------------------------------------------------------
    def _answer(self, method: str, raw_path: str, headers, raw: bytes) -> tuple[int, dict, dict]:
        with self._lock:
            self.received += 1
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        prefix = "/teams/v3/conversations"
        if not path.startswith(prefix):
            return 404, {}, {"error": {"code": "NotFound", "message": "no such endpoint"}}
        rest = [p for p in path[len(prefix):].split("/") if p]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {}, {"error": {"code": "BadSyntax", "message": "not JSON"}}
        conversation_id, activity_id = "", None
        if method == "POST" and not rest:
            kind = "create_conversation"
        elif len(rest) == 2 and rest[1] == "activities" and method == "POST":
            kind, conversation_id = "send", rest[0]
        elif len(rest) == 3 and rest[1] == "activities" and method in ("POST", "PUT"):
            kind, conversation_id, activity_id = ("reply" if method == "POST" else "update"), rest[0], rest[2]
        else:
            return 404, {}, {"error": {"code": "NotFound", "message": "no such endpoint"}}

        authorization = headers.get("Authorization", "")
        status, extra_headers, answer = 200, {}, {}
        try:
            claims = self.issuer.verify_connector_token(authorization.removeprefix("Bearer "))
            if claims.get("appid") != self.issuer.client_id:
                raise ValueError("token of another app")
        except Exception:  # noqa: BLE001 - any bad token is a 401, as the real connector answers
            status, answer = 401, {"message": "Authorization has been denied for this request."}
        with self._lock:
            failure = self.failures.pop(0) if (self.failures and status == 200) else None
        if failure and failure.delay:
            time.sleep(failure.delay)
        if failure and not failure.accept:
            status = failure.status
            if failure.retry_after is not None:
                extra_headers["Retry-After"] = str(failure.retry_after)
            answer = {"error": {"code": {429: "Throttled", 403: "BotNotInConversationRoster"}.get(status, "ServiceError"),
                                "message": f"fake connector answered {status}"}}
        elif status == 200:
            new_id = f"1{next(self._ids):012d}"
            answer = {"id": activity_id if kind == "update" else new_id}
            if kind == "create_conversation":
                answer = {"id": f"a:fake-personal-{new_id}", "serviceUrl": self.url}
        with self._lock:
            self.calls.append(Sent(method, path, parts.query, conversation_id, activity_id, body,
                                   200 if (failure and failure.accept) else status, authorization))
        if failure and failure.accept and failure.status >= 400:
            status = failure.status
        return status, extra_headers, answer

    def start(self) -> "FakeConnector":
        connector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without TCP_NODELAY a kept-alive client waits
            # for the delayed ACK (40 ms) now and then, which the benchmark would measure.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _handle(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, body = connector._answer(self.command, self.path, self.headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

            do_POST = _handle
            do_PUT = _handle

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
