"""A stand-in for the Slack Web API on 127.0.0.1 that records every call.

The console uses it so the real `slack_sdk.WebClient` has somewhere to post; the tests use it
the way bolt-python's own tests use their mock server. It answers the methods the bot calls
with Slack-shaped JSON, and can be told to fail (429 with Retry-After, 5xx, a Slack error)
for the next calls of a method."""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


@dataclass
class Call:
    method: str
    args: dict
    headers: dict


@dataclass
class Failure:
    status: int = 200
    error: str | None = None  # a Slack error code (ok: false) when status is 200
    retry_after: int | None = None
    html: bool = False  # answer with an HTML page (a proxy's error page) instead of JSON
    accept: bool = False  # the post is accepted all the same (Slack posted it, the answer was lost)
    delay: float = 0.0  # seconds before answering (past the client's timeout: the client gives up)


@dataclass
class SlackStub:
    host: str = "127.0.0.1"
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    usergroup_members: dict[str, list[str]] = field(default_factory=dict)
    latency: float = 0.0
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (name, bytes) users uploaded
    public_channels: set[str] = field(default_factory=set)  # conversations.info says is_private for all others
    socket_url: str = ""  # what apps.connections.open hands out (a Socket Mode server of the tests')
    # Messages Slack has accepted, as conversations.history / .replies return them.
    messages: list[dict] = field(default_factory=list)
    history_error: str | None = None  # e.g. "missing_scope": the workspace refuses history reads

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._held: dict[str, threading.Event] = {}
        self._hold_after: dict[str, int] = {}

    # -- control -----------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_address[1]}/api/"

    def start(self) -> "SlackStub":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.startswith("/upload/"):
                    # files_upload_v2's second step: the file's bytes, as Slack's upload URL takes them.
                    with stub._lock:
                        stub.calls.append(Call("upload", {"path": self.path, "bytes": raw}, {}))
                    status, headers, body = 200, {}, {"ok": True}
                else:
                    status, headers, body = stub._answer(self.path, self.headers, raw.decode("utf-8", "replace"))
                html = isinstance(body, str)
                data = body.encode() if html else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "text/html" if html else "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if not self.path.startswith("/files/"):
                    return self.do_POST()
                # A file's private download URL: the bytes for a bearer of the bot token, else a sign-in page.
                name, data = stub.files.get(self.path.rsplit("/", 1)[-1], ("", b""))
                with stub._lock:
                    stub.calls.append(Call("download", {"path": self.path},
                                           {"authorization": self.headers.get("Authorization", "")}))
                if not data or not self.headers.get("Authorization", "").startswith("Bearer xoxb-"):
                    data = b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail_next(self, method: str, *failures: Failure) -> None:
        with self._lock:
            self.failures.setdefault(method, []).extend(failures)

    def add_file(self, name: str, data: bytes) -> str:
        """A file as if a user had uploaded it (e.g. through a form's file input); returns its id."""
        file_id = f"F{len(self.files) + 1:010d}"
        self.files[file_id] = (name, data)
        return file_id

    def hold(self, method: str, after: int = 0) -> None:
        """Record calls of `method` but keep them waiting for an answer until `release` (to kill
        a bot process while its post is in flight); `after`: answer that many calls first."""
        with self._lock:
            self._held[method] = threading.Event()
            self._hold_after[method] = sum(1 for c in self.calls if c.method == method) + after

    def release(self, method: str) -> None:
        with self._lock:
            event = self._held.pop(method, None)
        if event:
            event.set()

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> bool:
        """Wait until `count` calls of `method` have been recorded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if sum(1 for c in self.calls if c.method == method) >= count:
                    return True
            time.sleep(0.01)
        return False

    def posts(self, method: str = "chat.postMessage") -> list[dict]:
        with self._lock:
            return [c.args for c in self.calls if c.method == method]

    def take(self) -> list[Call]:
        """The calls recorded since the last take()."""
        with self._lock:
            calls, self.calls = self.calls, []
        return calls

    # -- the fake API --------------------------------------------------------
    def _answer(self, path: str, headers, raw: str) -> tuple[int, dict, dict]:
        method = path.rsplit("/", 1)[-1].split("?")[0]
        ctype = headers.get("Content-Type", "")
        if "json" in ctype:
            args = json.loads(raw or "{}")
        elif "multipart" in ctype:
            args = {"_multipart": True}
        else:
            args = dict(parse_qsl(raw))
            for k in ("blocks", "view", "attachments", "metadata"):
                if isinstance(args.get(k), str):
                    try:
                        args[k] = json.loads(args[k])
                    except ValueError:
                        pass
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            queue = self.failures.get(method)
            failure = queue.pop(0) if queue else None
            self.calls.append(Call(method, args, {"authorization": headers.get("Authorization", "")}))
            # Slack's ts is the posting time (epoch seconds) and unique per channel; the
            # deliverer looks for its messages since a row was created, so keep it real.
            ts = f"{int(time.time())}.{next(self._ts) % 1000000:06d}"
            held = self._held.get(method)
            if held is not None and sum(1 for c in self.calls if c.method == method) <= self._hold_after.get(method, 0):
                held = None  # one of the calls answered before the hold begins
        if held is not None:
            held.wait(30)
        if failure and failure.accept and method == "chat.postMessage":
            self._accept(args, ts)
        if failure and failure.delay:
            time.sleep(failure.delay)
        if failure and failure.html:
            return 200, {}, "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
        if failure and failure.accept and not failure.error and failure.status < 400:
            return 200, {}, self._ok(method, args, ts, record=False)
        if failure:
            if failure.status == 429:
                return 429, {"Retry-After": str(failure.retry_after or 1)}, {"ok": False, "error": "ratelimited"}
            if failure.status >= 500:
                return failure.status, {}, {"ok": False, "error": "internal_error"}
            return 200, {}, {"ok": False, "error": failure.error or "unknown_error"}
        return 200, {}, self._ok(method, args, ts)

    def _accept(self, args: dict, ts: str) -> None:
        channel = str(args.get("channel", ""))
        if channel[:1] in ("U", "W"):  # a DM is posted to the user's IM channel (conversations.open)
            channel = "D" + channel[1:]
        meta = args.get("metadata")
        if isinstance(meta, str):
            meta = json.loads(meta)
        with self._lock:
            self.messages.append({"channel": channel, "ts": ts, "text": args.get("text", ""),
                                  "thread_ts": args.get("thread_ts"), "metadata": meta,
                                  "reply_broadcast": bool(args.get("reply_broadcast"))})

    def channel_messages(self, channel: str) -> list[dict]:
        """What a person would see in the channel (thread replies included), oldest first."""
        with self._lock:
            return [m for m in self.messages if m["channel"] == channel]

    def _history(self, method: str, args: dict) -> dict:
        if self.history_error:
            return {"ok": False, "error": self.history_error}
        oldest = float(args.get("oldest") or 0)
        include = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            found = [m for m in self.messages if m["channel"] == args.get("channel") and float(m["ts"]) >= oldest
                     and (m["thread_ts"] == args.get("ts") or m["ts"] == args.get("ts") if method == "conversations.replies"
                          else not m["thread_ts"] or m["reply_broadcast"])]
        out = [{"type": "message", "ts": m["ts"], "text": m["text"], "bot_id": "BBOT00001",
                **({"metadata": m["metadata"]} if include and m["metadata"] else {})} for m in reversed(found)]
        return {"ok": True, "messages": out, "has_more": False}

    def _ok(self, method: str, args: dict, ts: str, record: bool = True) -> dict:
        channel = args.get("channel", "C0000000000")
        if method == "chat.postMessage" and record:
            self._accept(args, ts)
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, args)
        if method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "missing-bot",
                    "team_id": "T0001", "user_id": "UBOT00001", "bot_id": "BBOT00001"}
        if method in ("chat.postMessage", "chat.update"):
            return {"ok": True, "channel": channel, "ts": args.get("ts") or ts,
                    "message": {"text": args.get("text", ""), "ts": args.get("ts") or ts}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "conversations.info":
            return {"ok": True, "channel": {"id": channel, "is_channel": True, "is_im": False,
                                            "is_private": channel not in self.public_channels}}
        if method == "conversations.open":
            users = str(args.get("users", "U0"))
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0][1:]}}
        if method in ("views.open", "views.update", "views.push"):
            view = args.get("view") or {}
            if isinstance(view, str):
                view = json.loads(view)
            return {"ok": True, "view": {"id": "V" + ts.replace(".", ""), **view}}
        if method == "files.info":
            name, data = self.files.get(args.get("file", ""), ("", b""))
            if not name:
                return {"ok": False, "error": "file_not_found"}
            return {"ok": True, "file": {"id": args["file"], "name": name, "size": len(data), "filetype": "csv",
                                         "url_private_download": self.url.replace("/api/", "/files/") + args["file"]}}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url} if self.socket_url else {"ok": False, "error": "invalid_auth"}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.usergroup_members.get(args.get("usergroup", ""), [])}
        if method == "files.getUploadURLExternal":
            return {"ok": True, "upload_url": self.url.replace("/api/", "/upload/") + ts, "file_id": "F" + ts.replace(".", "")}
        if method == "files.completeUploadExternal":
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in json.loads(args.get("files", "[]"))]}
        return {"ok": True}
