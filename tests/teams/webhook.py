"""A fake Teams Workflows webhook ("When a Teams webhook request is received") on 127.0.0.1: it
records every POST and answers 202 Accepted, as Workflows does, or what it is told to."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeWebhook:
    posts: list[dict] = field(default_factory=list)  # the JSON bodies it accepted
    sizes: list[int] = field(default_factory=list)
    answers: list[tuple[int, dict]] = field(default_factory=list)  # (status, headers) for the next posts

    def start(self) -> "FakeWebhook":
        hook = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hook._lock:
                    status, headers = hook.answers.pop(0) if hook.answers else (202, {})
                    if status < 300:
                        hook.posts.append(json.loads(raw))
                        hook.sizes.append(len(raw))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/workflows/fake-flow/triggers/manual/run"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
