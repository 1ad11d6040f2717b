"""`/missing audit <child-ref>`: who changed what and when about a child, for managers and admins, privately."""
from __future__ import annotations

from bot.context import Ctx
from bot.protocol import grammar as g
from bot.render import local
from handlers.registry import Reply, UserError, subcommand

EXAMPLE = "/missing audit C1234"
LIMIT = 40
MANAGER_REFUSAL = ":no_entry: Only team managers (MANAGER_USERS) and administrators can read the audit trail."


@subcommand("audit", usage="/missing audit <child-ref>",
            summary="(managers and admins) who changed what and when about a child, shown only to you",
            examples=[EXAMPLE])
def audit_trail(ctx: Ctx, args: str) -> Reply:
    from sqlalchemy import select

    from bot.messages import Person, join
    from bot.platforms import is_user, user_platform
    from store.models import Child
    from store.privacy import _audit_about

    if not (ctx.is_admin or ctx.settings.is_manager(ctx.user_id)):
        return Reply(MANAGER_REFUSAL)
    words = args.split()
    if len(words) != 1:
        raise UserError("Give one case reference.", EXAMPLE)
    try:
        ref = g.child_ref(words[0], EXAMPLE)
    except g.GrammarError as exc:
        raise UserError(exc.message, EXAMPLE) from None
    child = ctx.session.scalar(select(Child).where(Child.child_ref == ref))
    if child is None:
        raise UserError(f"I don't know {ref}.", EXAMPLE)
    rows = _audit_about(ctx.session, child)
    lines = [f"*Audit trail of {child.child_ref}* ({len(rows)} change(s), newest last)"]
    for r in rows[-LIMIT:]:
        changed = ", ".join(sorted((r.after or {}).keys()))
        # The actor's id says its platform (bot/platforms.py): a Slack user, a Teams user (Entra id), or
        # else the scheduler, the command line, an import.
        actor = (f"({user_platform(r.actor).capitalize()}) " + Person(r.actor)) if is_user(r.actor) else r.actor
        lines.append(f"• {local(r.at, ctx.zone)} " + actor + f" {r.action} {r.entity} {r.entity_id or ''}"
                     + (f": {changed}" if changed else ""))
    if len(rows) > LIMIT:
        lines.insert(1, f"_(the last {LIMIT}; `missing-bot sar {ref}` on the server gives all of it)_")
    return Reply(join(lines))
