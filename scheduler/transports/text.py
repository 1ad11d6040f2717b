"""The text transport: the console's. Every message is printed as it would be delivered, with
where it went (the team channel, a thread, someone's direct messages), as plain lines."""
from __future__ import annotations

from typing import TextIO

from bot.messages import Message, to_text
from scheduler.transports.base import Delivered
from store.models import Outbox


class TextTransport:
    name = "text"

    def __init__(self, out: TextIO, names: dict[str, str] | None = None) -> None:
        self.out = out
        self.names = names or {}  # address -> how to show it, e.g. the team channel
        self.sent = 0
        # Every button shown, numbered from 1: the console's `press N` presses button N.
        self.buttons: list[tuple[str, str]] = []

    def _where(self, address: str) -> str:
        return self.names.get(address, address)

    def numbered(self, message: Message) -> Message:
        """The message with each button's number in its label (`press 3`)."""
        if not message.actions:
            return message
        numbered = Message.from_json(message.to_json())
        for a in numbered.actions:
            self.buttons.append((a.id, a.value))
            a.label = f"{len(self.buttons)}: {a.label}"
        return numbered

    def _say(self, head: str, message: Message) -> None:
        message = self.numbered(message)
        print(f"  ↳ {head}:", file=self.out, flush=True)
        for line in to_text(message):
            print("      " + line.replace("\n", "\n      "), file=self.out, flush=True)

    def send(self, row: Outbox, message: Message, thread_ref: str | None, broadcast: bool) -> Delivered:
        self.sent += 1
        where = self._where(row.address)
        if message.attachments and not (message.text or message.headline):
            titles = ", ".join(a.title or a.name for a in message.attachments)
            print(f"  ↳ a file is shared in {where}: {titles}", file=self.out, flush=True)
        else:
            self._say(f"posted to {where}" + (" (in thread)" if thread_ref else ""), message)
        return Delivered(row.address, f"text-{self.sent}")

    def update(self, address: str, ref: str, message: Message) -> None:
        self._say(f"updated in {self._where(address)}", message)

    def is_private(self, address: str) -> bool:
        return True

    def can_find(self, row: Outbox) -> bool:
        return False

    def find_sent(self, row: Outbox, thread_ref: str | None) -> Delivered | None:
        return None
