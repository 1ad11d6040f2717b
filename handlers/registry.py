"""What every `/missing` subcommand, button and form shares: the reply type and the refusal.

A handler returns a `Reply` (a neutral `bot.messages.Message`: people as `Person`, channels as
`Place`, icons as `:name:`; each platform renders it) or raises a `Refusal` (`UserError` here,
or the grammar's, the `<when>` parser's or the rules' own): a clear refusal with an example;
nothing is changed because the transaction rolls back.

`@subcommand(...)` only describes a handler (it sets `fn.subcommand`); the table of commands is
built in one place, handlers/commands.py, from an explicit list, so importing an area never
registers anything."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bot.messages import Message
from bot.protocol.words import Refusal

# The answer to whoever typed the command or pressed the button: `Reply("text")`,
# `Reply("Opening the form…", form=Form(...))`, `Reply("Recorded by " + Person(uid))`.
Reply = Message


def refusal_text(exc: Refusal, example: str = ""):
    """The answer to a refusal: what was wrong, then a command that works (`example` if it has none).
    A refusal's message may name people (text with `Person`s in it): they stay people."""
    example = exc.example or example
    if example:
        return ":warning: " + exc.message + f"\nFor example: `{example}`"
    return ":warning: " + exc.message


class UserError(Refusal):
    """Bad input or a refused action: `message` says what was wrong, `example` shows a right one."""

    def render(self) -> str:
        return refusal_text(self)


class FieldErrors(Exception):
    """A form submission with problems: `errors` maps field names to what was wrong (nothing saved)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def field_error(name: str, message: str) -> FieldErrors:
    return FieldErrors({name: message})


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


def subcommand(name: str, *, usage: str, summary: str, examples: list[str] | None = None,
               admin: bool = False, aliases: tuple[str, ...] = (), read_only: bool = False
               ) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
    """Describe a handler as the subcommand `name` (handlers/commands.py lists it in the table)."""
    def describe(fn: Callable[..., Reply]) -> Callable[..., Reply]:
        fn.subcommand = Subcommand(name, fn, usage, summary, examples or [], admin, aliases, read_only)
        return fn

    return describe
