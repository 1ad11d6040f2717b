"""The `/missing` subcommand registry.

Each area module (handlers/record.py, handlers/clock.py, handlers/meetings.py,
handlers/figures.py, handlers/imports.py) registers its subcommands with `@subcommand(...)`. The router in
handlers/commands.py splits the first word off the text, finds the entry here, checks
authorisation, and calls the handler with a `Ctx` and the rest of the text.

A handler returns a `Reply` (the ephemeral answer) or raises a `Refusal` — `UserError` here,
or the grammar's, the `<when>` parser's or the rules' own — a clear refusal with an example;
nothing is changed because the transaction rolls back."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bot.messages import as_rich
from bot.protocol.words import Refusal


def refusal_text(exc: Refusal, example: str = "") -> str:
    """The ephemeral answer to a refusal: what was wrong, then a command that works (`example` if it has none)."""
    example = exc.example or example
    if example:
        return ":warning: " + as_rich(exc.message) + f"\nFor example: `{example}`"
    return ":warning: " + as_rich(exc.message)


class UserError(Refusal):
    """Bad input or a refused action: `message` says what was wrong, `example` shows a right one."""

    def render(self) -> str:
        return refusal_text(self)


@dataclass
class Reply:
    """What the user who typed the command sees (ephemeral)."""

    text: str
    blocks: list[dict] | None = None
    # When set, the router opens this modal view (views.open with the trigger id).
    modal: dict | None = None


@dataclass
class Subcommand:
    name: str
    handler: Callable[..., Reply]
    usage: str
    summary: str
    examples: list[str] = field(default_factory=list)
    admin: bool = False
    aliases: tuple[str, ...] = ()
    # Only reads: runs in a read-only session (no write lock, no transaction round trips) and
    # never wakes the deliverer. A write in such a handler is refused (store/db.py).
    read_only: bool = False


SUBCOMMANDS: dict[str, Subcommand] = {}
ORDER: list[str] = []


def subcommand(name: str, *, usage: str, summary: str, examples: list[str] | None = None,
               admin: bool = False, aliases: tuple[str, ...] = (), read_only: bool = False
               ) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
    def register(fn: Callable[..., Reply]) -> Callable[..., Reply]:
        entry = Subcommand(name, fn, usage, summary, examples or [], admin, aliases, read_only)
        for key in (name, *aliases):
            SUBCOMMANDS[key] = entry
        ORDER.append(name)
        return fn

    return register


def find(name: str) -> Subcommand | None:
    return SUBCOMMANDS.get(name.lower())

