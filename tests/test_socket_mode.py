"""`missing-bot run` in Socket Mode, as a real process against a fake Slack.

The fake Web API hands out a WebSocket URL from `apps.connections.open`; a WebSocket server on
127.0.0.1 plays Slack's side of Socket Mode (hello, then envelopes; the bot acknowledges each
envelope with its id and the reply). Envelope shapes: docs.slack.dev/apis/events-api/using-socket-mode.
"""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qsl

import pytest
from websockets.sync.server import serve

from store.models import Episode
from tests.clock_helpers import child
from tests.conftest import ALERT_CHANNEL, DUTY_USER, STRANGER
from tests.slack import fixture_text
from tests.test_clock_processes import env

class FakeSocketMode:
    """Slack's side of one Socket Mode connection: sends queued envelopes, collects the acks."""

    def __init__(self) -> None:
        self.envelopes: queue.Queue[dict] = queue.Queue()
        self.acks: queue.Queue[dict] = queue.Queue()
        self.connected = threading.Event()
        self._server = serve(self._connection, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link/?ticket=test"

    def _connection(self, ws) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A0TEST0001"}, "debug_info": {"host": "test"}}))
        self.connected.set()
        while True:
            try:
                ws.send(json.dumps(self.envelopes.get_nowait()))
            except queue.Empty:
                pass
            try:
                self.acks.put(json.loads(ws.recv(timeout=0.02)))
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the bot went away
                return

    def command(self, envelope_id: str, user: str, text: str) -> dict:
        """Send a slash command (the documented form fields, as Socket Mode carries them) and wait for its ack."""
        fields = dict(parse_qsl(fixture_text("slash_command.txt"), keep_blank_values=True))
        fields.update(command="/missing", text=text, user_id=user, channel_id=ALERT_CHANNEL)
        self.envelopes.put({"envelope_id": envelope_id, "type": "slash_commands", "payload": fields,
                            "accepts_response_payload": True, "retry_attempt": 0, "retry_reason": ""})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                ack = self.acks.get(timeout=0.1)
            except queue.Empty:
                continue
            if ack.get("envelope_id") == envelope_id:
                return ack
        raise AssertionError(f"no ack for {envelope_id}")

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def socket_slack(slack_stub):
    fake = FakeSocketMode()
    slack_stub.socket_url = fake.url
    yield fake
    fake.stop()


def test_run_in_socket_mode_answers_commands_and_posts_to_the_channel(db_url, services, slack_stub, socket_slack, tmp_path):
    child(services, "C77", "Sparrow")
    e = env(db_url, slack_stub)
    e.pop("SLACK_SIGNING_SECRET", None)  # Socket Mode needs no signing secret and no public URL
    e["SLACK_APP_TOKEN"] = "xapp-1-A0TEST0001-test"
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert socket_slack.connected.wait(60), "the bot never opened the Socket Mode connection"
        opened = [c for c in slack_stub.calls if c.method == "apps.connections.open"]
        assert opened and opened[0].headers["authorization"] == "Bearer xapp-1-A0TEST0001-test"

        ack = socket_slack.command("env-1", DUTY_USER, "report C77 at 30m ago from placement")
        reply = ack["payload"]
        assert reply["response_type"] == "ephemeral"
        assert "C77" in reply["text"] and "Sparrow" in reply["text"]
        assert slack_stub.wait_for("chat.postMessage")
        post = next(p for p in slack_stub.posts() if p["channel"] == ALERT_CHANNEL)
        assert "C77" in post["text"]

        # Slack redelivers an envelope it thinks was lost: still one episode.
        again = socket_slack.command("env-2", DUTY_USER, "report C77 at 30m ago from placement")
        assert "already" in again["payload"]["text"].lower()

        refused = socket_slack.command("env-3", STRANGER, "status C77")
        assert "C77" not in refused["payload"]["text"] and "Sparrow" not in refused["payload"]["text"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    with services.sessions() as s:
        episodes = s.query(Episode).all()
    assert len(episodes) == 1 and episodes[0].returned_at is None
    assert "Traceback" not in out, out
