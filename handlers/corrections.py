"""`/missing withdraw | amend`: corrections, audited and never silent."""
from __future__ import annotations

from bot.context import Ctx
from bot.protocol import grammar as g
from bot.render import local, who
from handlers.registry import Reply, UserError, subcommand
from store import corrections, records

WITHDRAW_USAGE = "/missing withdraw <child-ref> <episode> reason <text>"
WITHDRAW_EXAMPLE = "/missing withdraw C1234 20/11/2026 14:30 reason recorded against the wrong child"
AMEND_USAGE = "/missing amend <child-ref> <episode> start|returned <when>"
AMEND_EXAMPLE = "/missing amend C1234 latest returned 2026-11-20 09:10"
EPISODE_HELP = "<episode> is the episode's start as `/missing status` shows it (e.g. `20/11/2026 14:30`), or `latest`."


def _split(text: str, stops: tuple[str, ...], usage: str, example: str) -> tuple[str, str, str, str]:
    """child-ref, the episode words, the stop word found, and what follows it."""
    tokens = g.tokenize(text, example)
    if not tokens:
        raise UserError(f"Give a case reference and an episode. Usage: `{usage}`", example)
    ref = g.child_ref(tokens[0], example)
    for i, token in enumerate(tokens[1:], start=1):
        if token.lower() in stops:
            return ref, " ".join(tokens[1:i]), token.lower(), " ".join(tokens[i + 1:]).strip()
    raise UserError(f"Missing `{'` or `'.join(stops)}`. Usage: `{usage}`. {EPISODE_HELP}", example)


@subcommand("withdraw", usage=WITHDRAW_USAGE,
            summary="an episode recorded in error: kept for the audit, counted nowhere (recorder within 24 h, managers)",
            examples=[WITHDRAW_EXAMPLE, "/missing withdraw C1234 latest reason duplicate of the police report"])
def withdraw(ctx: Ctx, text: str) -> Reply:
    ref, selector, _, reason = _split(text, ("reason",), WITHDRAW_USAGE, WITHDRAW_EXAMPLE)
    reason = g.free_text(reason, "reason", 500)
    if not reason:
        raise UserError("Say why the episode is withdrawn.", WITHDRAW_EXAMPLE)
    child = records.require_child(ctx.session, ref)
    episode = corrections.find_episode(ctx, child, selector, WITHDRAW_EXAMPLE)
    corrections.withdraw(ctx, child, episode, reason, WITHDRAW_EXAMPLE)
    return Reply(f":wastebasket: Withdrawn: {who(child.child_ref, child.label)}'s episode from "
                 f"{local(episode.started_at, ctx.zone)}. It is kept for the audit and no longer counts in status, "
                 "alerts, agendas, figures or returns; its pending alerts were cancelled. The team channel has been told.")


@subcommand("amend", usage=AMEND_USAGE,
            summary="correct an episode's start or return time (recorder within 24 h, managers)",
            examples=[AMEND_EXAMPLE, "/missing amend C1234 20/11/2026 14:30 start 20/11/2026 13:45"])
def amend(ctx: Ctx, text: str) -> Reply:
    ref, selector, field, value = _split(text, ("start", "returned"), AMEND_USAGE, AMEND_EXAMPLE)
    if not value:
        raise UserError(f"Give the corrected {field} time.", AMEND_EXAMPLE)
    when = g.when(value, ctx.now, ctx.zone, ctx.protocol.future_grace_minutes, AMEND_EXAMPLE)
    child = records.require_child(ctx.session, ref)
    episode = corrections.find_episode(ctx, child, selector, AMEND_EXAMPLE)
    old, episode = corrections.amend(ctx, child, episode, field, when, AMEND_EXAMPLE)
    what = "start" if field == "start" else "return"
    if old == when:
        return Reply(f"{who(child.child_ref, child.label)}: the {what} time is already {local(when, ctx.zone)}; nothing changed.")
    extra = ""
    if episode.returned_at is not None:
        from bot.protocol import rules

        extra = f" Return interview now due by {local(rules.ri_deadline(episode.returned_at, ctx.protocol), ctx.zone)}."
    return Reply(f":pencil2: {who(child.child_ref, child.label)}: {what} time corrected from {local(old, ctx.zone)} "
                 f"to {local(when, ctx.zone)}.{extra} Alerts not yet posted follow the new time; none already posted "
                 "is repeated. The team channel has been told.")
