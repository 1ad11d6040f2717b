"""`missing-bot console`: the whole bot driven from a terminal, with no Slack workspace.

Each `/missing ...` line becomes a correctly signed slash-command request dispatched into the
same Bolt app the server uses; the bot's outbound Slack calls go through the real WebClient to
a local stand-in (bot/slack_stub.py), and both the reply and the posts are printed. Lines can
be piped in: `printf '/missing open\\n' | missing-bot console`."""
from __future__ import annotations

import json
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import TextIO
from urllib.parse import urlencode

from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.settings import Settings
from bot.slack_stub import SlackStub

CONSOLE_CHANNEL = "CCONSOLE01"
EMOJI = {":rotating_light:": "🚨", ":white_check_mark:": "✅", ":memo:": "📝", ":warning:": "⚠️",
         ":large_orange_diamond:": "🔶", ":bust_in_silhouette:": "👤", ":pencil2:": "✏️", ":no_entry:": "⛔",
         ":grey_question:": "❔", ":alarm_clock:": "⏰", ":red_circle:": "🔴", ":calendar:": "📅",
         ":bar_chart:": "📊", ":hourglass:": "⏳", ":repeat:": "🔁",
         ":ballot_box_with_check:": "☑️", ":file_cabinet:": "🗄️", ":handshake:": "🤝", ":hourglass_flowing_sand:": "⏳",
         ":information_source:": "ℹ️", ":office:": "🏢", ":pushpin:": "📌", ":round_pushpin:": "📍",
         ":telephone_receiver:": "📞", ":wastebasket:": "🗑️", ":x:": "❌"}


def plain(text: str) -> str:
    """Slack mrkdwn to terminal text."""
    text = re.sub(r"<@([A-Z0-9]+)(?:\|[^>]*)?>", r"@\1", text or "")
    text = re.sub(r"<#([A-Z0-9]+)(?:\|([^>]*))?>", lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    for code, symbol in EMOJI.items():
        text = text.replace(code, symbol)
    return text.replace("*", "").replace("`", "")


def blocks_text(blocks: list | None) -> list[str]:
    lines: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines.append(plain((block.get("text") or {}).get("text", "")))
            for field in block.get("fields") or []:
                lines.append("  " + plain(field.get("text", "")))
        elif kind == "context":
            lines.append("  " + " ".join(plain(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "actions":
            lines.append("  " + " ".join(f"[{e.get('text', {}).get('text', '')}]" for e in block.get("elements", [])))
    return [line for line in lines if line.strip()]


class Console:
    def __init__(self, settings: Settings, user: str, out: TextIO) -> None:
        from bot.app import build_app
        from bot.context import build_services

        self.out = out
        self.user = user
        self.stub = SlackStub().start()
        self.secret = secrets.token_hex(16)
        # Everything goes to the stand-in and its own channel; nothing is emailed (SMTP_URL off).
        settings = settings.model_copy(update={
            "slack_bot_token": "xoxb-console", "slack_signing_secret": self.secret, "slack_api_url": self.stub.url,
            "alert_channel": CONSOLE_CHANNEL, "smtp_url": "",
            "authorized_users": [*settings.authorized_users, user], "admin_users": [*settings.admin_users, user],
        })
        self.services = build_services(settings)
        self.app = build_app(self.services)

        def deliver_now() -> None:
            from scheduler.delivery import deliver_due

            deliver_due(self.services)

        self.services.on_enqueued = deliver_now
        self.verifier = SignatureVerifier(self.secret)
        self.stub.take()  # auth.test at start-up

    def close(self) -> None:
        self.services.engine.dispose()
        self.stub.stop()

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def command(self, line: str) -> None:
        text = line.strip()
        if text.startswith("/missing"):
            text = text[len("/missing"):].strip()
        body = urlencode({
            "token": "console", "team_id": "T0001", "team_domain": "console", "channel_id": CONSOLE_CHANNEL,
            "channel_name": "console", "user_id": self.user, "user_name": "console", "command": "/missing",
            "text": text, "api_app_id": "A0CONSOLE", "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0001/1/console", "trigger_id": "1.1.console",
        })
        ts = str(int(time.time()))
        headers = {"content-type": ["application/x-www-form-urlencoded"], "x-slack-request-timestamp": [ts],
                   "x-slack-signature": [self.verifier.generate_signature(timestamp=ts, body=body)]}
        resp = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if resp.status != 200:
            self.say(f"(the bot answered HTTP {resp.status})")
        elif resp.body:
            try:
                data = json.loads(resp.body)
            except ValueError:
                data = {"text": resp.body}
            lines = blocks_text(data.get("blocks")) or [plain(data.get("text", ""))]
            self.say("\n".join(lines))
        self.show_calls()

    def tick(self) -> None:
        from scheduler.sweep import sweep

        sweep(self.services, self.services.now())
        self.show_calls()

    def show_calls(self) -> None:
        for call in self.stub.take():
            a = call.args
            if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
                where = a.get("channel", "")
                where = "#team-channel" if where == self.services.settings.alert_channel else where
                verb = {"chat.update": "updated in", "chat.postEphemeral": "only you, in"}.get(call.method, "posted to")
                thread = " (in thread)" if a.get("thread_ts") else ""
                self.say(f"  ↳ {verb} {where}{thread}:")
                lines = blocks_text(a.get("blocks")) or [plain(a.get("text", ""))]
                for line in lines:
                    self.say("      " + line.replace("\n", "\n      "))
            elif call.method == "views.open":
                view = a.get("view") or {}
                labels = [b.get("label", {}).get("text", "") for b in view.get("blocks", []) if b.get("type") == "input"]
                self.say(f"  ↳ a form opens: {view.get('title', {}).get('text', '')} — " + "; ".join(labels))
                self.say("    (the console cannot fill in forms: give the details inline, see /missing help)")
            elif call.method == "files.completeUploadExternal":
                try:
                    titles = ", ".join(f.get("title", "") for f in json.loads(a.get("files") or "[]"))
                except (ValueError, AttributeError):
                    titles = "a file"
                comment = plain(a.get("initial_comment", ""))
                self.say(f"  ↳ a file is shared in the team channel: {titles}" + (f" — {comment}" if comment else ""))
            elif call.method in ("conversations.open",):
                continue


TOUR = [
    "/missing help",
    "/missing open",
    "/missing due",
    "/missing status C1003",
    "/missing agenda",
    "/missing report C1002 at 2h ago from Elm Lodge children's home risk medium police PR/2026/4410",
    "/missing found C1001 at 30m ago location Bus station, city centre",
    "/missing report C1001 at tomorrow 9:00",
]


LIVE = ("missing-bot: the console will not use a live bot's database ({why}): it would hand that database's "
        "alerts to its stand-in for Slack and mark them sent. Use `missing-bot console --demo`, or run it without the "
        "bot's settings and with a DATABASE_URL of its own.")


def live_database(settings: Settings) -> str:
    """Why `settings` look like a running bot's (empty when they do not): the console delivers every
    pending message of its database to the stand-in, so it must never share one with a real bot."""
    if settings.slack_bot_token:
        return "SLACK_BOT_TOKEN is set"
    from sqlalchemy import func, inspect, select

    from store.db import make_engine
    from store.models import Outbox

    engine = make_engine(settings.database_url)
    try:
        if not inspect(engine).has_table(Outbox.__tablename__):
            return ""
        with engine.connect() as conn:
            real = conn.execute(select(func.count()).select_from(Outbox).where(
                Outbox.channel != CONSOLE_CHANNEL, func.substr(Outbox.channel, 1, 1).in_(["C", "G"]))).scalar()
    finally:
        engine.dispose()
    return "it holds messages for a Slack channel" if real else ""


def run_console(settings: Settings, *, demo: bool, user: str, stdin: TextIO, stdout: TextIO) -> int:
    tmp = None
    if demo:
        tmp = tempfile.TemporaryDirectory(prefix="missing-bot-demo-")
        settings = settings.model_copy(update={"database_url": f"sqlite:///{Path(tmp.name) / 'demo.sqlite3'}"})
    else:
        why = live_database(settings)
        if why:
            from bot.settings import SettingsError

            raise SettingsError(LIVE.format(why=why))
    console = Console(settings, user, stdout)
    try:
        if demo:
            from bot.demo import load_demo

            summary = load_demo(console.services)
            console.say(f"missing-bot console — demo: {summary} (invented; a throw-away database).")
            console.say("The clock's first sweep:")
            console.tick()
        interactive = stdin.isatty()
        piped = [] if interactive else stdin.readlines()
        if demo and (interactive or not piped):
            for line in TOUR:
                console.say(f"\nmissing> {line}")
                console.command(line)
        if interactive:
            console.say("\nType /missing commands (or `tick` to run the clock, `quit` to leave).")
        while True:
            if interactive:
                print("missing> ", end="", file=stdout, flush=True)
                line = stdin.readline()
            else:
                line = piped.pop(0) if piped else ""
            if not line:
                break
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line in ("quit", "exit"):
                break
            if not interactive:
                console.say(f"missing> {line}")
            if line == "tick":
                console.tick()
            else:
                console.command(line)
    finally:
        console.close()
        if tmp:
            tmp.cleanup()
    return 0
