"""`missing-bot console`: the whole bot driven from a terminal, with no workspace: the text backend.

Each `/missing ...` line goes through the same router as Slack and Teams (handlers/commands.py),
as an administrator of a throw-away (or its own) database; the outbox is the same, and every
message it holds is delivered by the text transport (scheduler/transports/text.py), which prints
where it went and what it said. Lines can be piped in: `printf '/missing open\\n' | missing-bot console`."""
from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Callable, TextIO

from bot.messages import Message, to_text
from bot.platforms import PLATFORMS
from bot.settings import Settings

CONSOLE_CHANNEL = "CCONSOLE01"


class Console:
    def __init__(self, settings: Settings, user: str, out: TextIO, clock: Callable[[], datetime] | None = None) -> None:
        from bot.context import build_services
        from scheduler.transports.text import TextTransport

        self.out = out
        self.user = user
        # Everything goes to the terminal: the team channel is the console's; nothing is emailed.
        settings = settings.model_copy(update={
            "slack_bot_token": "", "alert_channel": CONSOLE_CHANNEL, "smtp_url": "",
            "authorized_users": [*settings.authorized_users, user], "admin_users": [*settings.admin_users, user],
        })
        self.services = build_services(settings, client=None, clock=clock)
        self.text = TextTransport(out, names={CONSOLE_CHANNEL: "#team-channel", user: "your direct messages"})
        self.services.transports = {platform: self.text for platform in PLATFORMS}

        def deliver_now() -> None:
            from scheduler.delivery import deliver_due

            deliver_due(self.services)

        self.services.on_enqueued = deliver_now

    def close(self) -> None:
        self.services.engine.dispose()

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def show(self, reply: Message | None, form=None) -> None:
        if reply is not None:
            form = form or reply.form
            shown = Message.from_json({**reply.to_json(), "form": None})
            self.say("\n".join(to_text(self.text.numbered(shown))))
        if form is not None:
            labels = [f.label for f in form.fields if f.kind != "note"]
            self.say(f"  ↳ a form opens: {form.title} — " + "; ".join(labels))
            from handlers.commands import FORM_INSTEAD

            instead = FORM_INSTEAD.get(form.id)
            self.say("    (the console cannot fill in forms: give the details inline"
                     + (f", e.g. {instead})" if instead else ", see /missing help)"))

    def command(self, line: str) -> Message:
        from handlers.commands import run_command

        text = line.strip()
        if text.startswith("/missing"):
            text = text[len("/missing"):].strip()
        reply = run_command(self.services, user_id=self.user, channel_id=CONSOLE_CHANNEL, text=text, is_admin=True)
        self.show(reply)
        return reply

    def press(self, number: str) -> None:
        """`press N`: the button numbered N (as shown beside its label), as if clicked."""
        from handlers.commands import press

        if not number.isdigit() or not 1 <= int(number) <= len(self.text.buttons):
            self.say(f"⚠️ There is no button {number[:10]}. Buttons are numbered as shown, e.g. [1: Acknowledge]: "
                     "type `press 1`.")
            return
        action_id, value = self.text.buttons[int(number) - 1]
        outcome = press(self.services, action_id=action_id, value=value, user_id=self.user,
                        channel_id=CONSOLE_CHANNEL, is_admin=True)
        self.show(outcome.reply, outcome.form)

    def tick(self) -> None:
        from scheduler.sweep import sweep

        sweep(self.services, self.services.now())


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
    if getattr(settings, "teams_client_secret", ""):
        return "TEAMS_CLIENT_SECRET is set"
    from sqlalchemy import func, inspect, select

    from store.db import make_engine
    from store.models import Outbox

    engine = make_engine(settings.database_url)
    try:
        if not inspect(engine).has_table(Outbox.__tablename__):
            return ""
        with engine.connect() as conn:
            real = conn.execute(select(func.count()).select_from(Outbox).where(
                Outbox.address != CONSOLE_CHANNEL, Outbox.platform != "email",
                func.substr(Outbox.address, 1, 1).in_(["C", "G", "1", "a"]))).scalar()
    finally:
        engine.dispose()
    return "it holds messages for a team's channel" if real else ""


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
            console.say("\nType /missing commands (`press 1` presses button 1, `tick` runs the clock, `quit` leaves).")
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
            elif line.startswith("press"):
                console.press(line[len("press"):].strip())
            else:
                console.command(line)
    finally:
        console.close()
        if tmp:
            tmp.cleanup()
    return 0
