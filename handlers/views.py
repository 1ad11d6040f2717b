"""`/missing status | open | due`: the read-only views (answered to the asker only), and the notes under `/missing help`."""
from __future__ import annotations

from bot.context import Ctx
from bot.messages import Person, join
from bot.protocol import grammar as g
from bot.protocol import rules
from bot.protocol.clock import window_start
from bot.protocol.when import ACCEPTED_FORMS
from bot.protocol.words import episode_word, outcome_word, risk_word
from bot.render import duration, local, who
from handlers.registry import Reply, UserError, subcommand
from store import records

STATUS_EXAMPLE = "/missing status C1234"


@subcommand("status", usage="/missing status <child-ref>", summary="where a child stands: open episode, last 90 days, interviews",
            examples=[STATUS_EXAMPLE], read_only=True)
def status(ctx: Ctx, text: str) -> Reply:
    words = g.tokenize(text, STATUS_EXAMPLE) if text else []
    if len(words) != 1:
        raise UserError("Give one case reference.", STATUS_EXAMPLE)
    ref = g.child_ref(words[0], STATUS_EXAMPLE)
    now = ctx.now
    # Calendar-day windows in the council's zone, as the persistence alerts count them.
    found = records.child_status(ctx.session, ref, window_start(now, 90, ctx.zone))
    if found is None:
        raise UserError(f"No child with case reference {ref} is recorded.", f"/missing child {ref} label AB")
    child, episodes, latest = found.child, found.recent, found.latest
    since30 = window_start(now, 30, ctx.zone)
    c30 = sum(1 for e in episodes if e.started_at > since30)
    lines = [f"*{who(child.child_ref, child.label)}* — " + describe(child)]
    open_ep = found.open
    if open_ep:
        lines.append(f":rotating_light: *{episode_word(open_ep.episode_type).capitalize()} now* for "
                     f"{duration(now - open_ep.started_at)}, since "
                     f"{local(open_ep.started_at, ctx.zone)}; risk {risk_word(open_ep.risk_grade)}"
                     + (f"; from {open_ep.missing_from}" if open_ep.missing_from else "")
                     + (f"; police ref {open_ep.police_ref}" if open_ep.police_ref else ""))
    else:
        lines.append("Not missing now.")
    away30 = sum(1 for e in episodes if e.started_at > since30 and e.episode_type == "away")
    away90 = sum(1 for e in episodes if e.episode_type == "away")
    counted = ""
    if away90:
        counted = f" Of these, away from placement: {away30} in 30 days, {away90} in 90 days"
        counted += ("." if ctx.protocol.count_away_persistence else
                    "; they do not count toward the persistence thresholds.")
    lines.append(f"Episodes: *{c30}* in the last 30 days, *{len(episodes)}* in the last 90 days.{counted}")
    shown = episodes[:10] + ([latest] if latest and latest not in episodes[:10] and latest.returned_at else [])
    held = records.held_for_episodes(ctx.session, [e.id for e in shown]) if found.any_held else {}
    for e in episodes[:10]:
        lines.append("• " + episode_line(ctx, e))
        lines += ["    " + d for d in practice_lines(ctx, e, held.get(e.id, []))]
    if len(episodes) > 10:
        lines.append(f"…and {len(episodes) - 10} more.")
    if latest and latest not in episodes[:10] and latest.returned_at:
        lines.append("Latest episode: " + episode_line(ctx, latest))
        lines += ["    " + d for d in practice_lines(ctx, latest, held.get(latest.id, []))]
    return Reply(join(lines))


def practice_lines(ctx: Ctx, e, held: list) -> list:
    """What practice recorded about an episode, for the asker only (this reply is private): reasons,
    factors, concerns, where found, the return interview (the child's account included), meetings held."""
    from bot.protocol.words import HELD_MEETING_WORDS, factor_word

    out = []
    if e.found_location:
        out.append(f"Found at: {e.found_location}")
    if e.reasons:
        out.append(f"Reason: {e.reasons}")
    if e.factors:
        out.append("Push/pull factors: " + ", ".join(ctx.protocol.factors.get(f, factor_word(f)) for f in e.factors))
    concerns = [name for name, flag in (("CSE", e.cse_concern), ("CCE", e.cce_concern)) if flag]
    if concerns:
        out.append("Concerns: " + ", ".join(concerns))
    if e.concern_note:
        out += [f"Concern note: {line}" for line in e.concern_note.splitlines()]
    if e.ri_outcome:
        bits = [records.describe_interview(e, ctx.zone)]
        if e.ri_independent is not None:
            bits.append("independent of the placement" if e.ri_independent else "not independent of the placement")
        if e.ri_offered_at:
            bits.append(f"offered {local(e.ri_offered_at, ctx.zone)}")
        if e.ri_recorded_by:
            bits.append("recorded by " + Person(e.ri_recorded_by))
        bits.append("signed off by " + Person(e.ri_signed_off_by) + f" {local(e.ri_signed_off_at, ctx.zone)}"
                    if e.ri_signed_off_at else "not signed off")
        out.append("Return interview: " + join(bits, "; "))
    elif e.ri_offered_at:
        out.append(f"Return interview offered {local(e.ri_offered_at, ctx.zone)}")
    if e.ri_account:
        out.append(f"Child's account (private): {e.ri_account}")
    if e.ri_followup:
        out.append(f"Follow-up: {e.ri_followup}")
    for m in held:
        out.append(f"{HELD_MEETING_WORDS.get(m.kind, m.kind).capitalize()} held {local(m.held_at, ctx.zone)}, recorded by "
                   + Person(m.recorded_by) + (f": {m.note}" if m.note else ""))
    return out


def describe(child) -> str:
    from handlers.record import describe_child

    return describe_child(child)


def episode_line(ctx: Ctx, e) -> str:
    kind = episode_word(e.episode_type)
    if e.returned_at is None:
        return f"{local(e.started_at, ctx.zone)} {kind}, still open"
    state = rules.ri_state(e.returned_at, e.ri_outcome, ctx.now, ctx.protocol)
    deadline = rules.ri_deadline(e.returned_at, ctx.protocol)
    if state == "pending":
        ri = f"interview due by {local(deadline, ctx.zone)}"
    elif state == "overdue":
        ri = f"*interview overdue* since {local(deadline, ctx.zone)}"
    else:
        ri = f"interview {outcome_word(state)} {local(e.ri_at, ctx.zone)}"
    return f"{local(e.started_at, ctx.zone)} {kind} for {duration(e.returned_at - e.started_at)}; {ri}"


@subcommand("open", usage="/missing open", summary="every child missing now, longest first", read_only=True)
def open_now(ctx: Ctx, text: str) -> Reply:
    rows = records.all_open(ctx.session)
    if not rows:
        return Reply(":white_check_mark: No child is recorded missing right now.")
    total, away = rows[0].total, rows[0].away  # the rows are the first records.SHOWN; these count them all
    missing = total - away
    heads = [f"{n} {'child' if n == 1 else 'children'} {what}" for n, what in
             ((missing, "missing now"), (away, "away from placement now")) if n]
    lines = [f"*{' and '.join(heads)}* (longest first):"]
    for e in rows:
        lines.append(f"• {who(e.child_ref, e.label)}, {episode_word(e.episode_type)}: "
                     f"{duration(ctx.now - e.started_at)}, since "
                     f"{local(e.started_at, ctx.zone)}; risk {risk_word(e.risk_grade)}")
    if total > len(rows):
        lines.append(f"…and {total - len(rows)} more.")
    return Reply("\n".join(lines))


@subcommand("due", usage="/missing due", summary="return interviews overdue or due in the next 72 hours, soonest first",
            read_only=True)
def due(ctx: Ctx, text: str) -> Reply:
    rows = records.interviews_due(ctx.session, ctx.protocol, ctx.now)
    if not rows:
        return Reply(":white_check_mark: No return interviews are overdue or due in the next 72 hours.")
    lines = ["*Return interviews* (soonest first):"]
    now, zone, protocol = ctx.now, ctx.zone, ctx.protocol
    theirs = protocol.placed_by_interviews != "ours"  # the placing council's interview, when placed by one
    confirm = ": confirm it is" if protocol.placed_by_interviews == "confirm" else ""
    for e in rows:  # the first records.SHOWN; `total` counts them all (each row carries the child's columns too)
        deadline = rules.ri_deadline(e.returned_at, protocol)
        if rules.ri_overdue(e.returned_at, protocol, now):  # from the deadline's instant, as the clock
            when = f"*overdue by {duration(now - deadline)}* (was due {local(deadline, zone)})"
        else:
            when = f"due in {duration(deadline - now)} ({local(deadline, zone)})"
        away = " (away from placement)" if e.episode_type == "away" else ""
        if e.placed_by and theirs:
            when += f"; {e.placed_by}'s to arrange{confirm}"
        lines.append(f"• {who(e.child_ref, e.label)}{away}: {when}")
    if rows[0].total > len(rows):
        lines.append(f"…and {rows[0].total - len(rows)} more.")
    return Reply("\n".join(lines))


def help_notes(ctx: Ctx) -> list[str]:
    """What `/missing help` says after the list of commands."""
    return ["", "*Times* (read as UK time): " + ", ".join(f"`{f}`" for f in ACCEPTED_FORMS),
              "*Risk grades*: no_apparent_risk, low, medium, high.  Add `away` for away from placement "
              "(whereabouts known).",
              "*What practice records* (on report, found and interview; a keyword ends the text before it, so quote "
              "text that contains one: `location \"cse yes lane\"`): `reason <text>`, `factors <a>, <b>`, "
              "`cse yes|no`, `cce yes|no`; on found `location <text>`; on interview `by <name>`, "
              "`independent yes|no`, `offered <when>`, `account <text>` (the child's own account: private, shown "
              "only in `/missing status`), `followup <text>`, and `correct` to change an outcome already recorded.",
              "    e.g. `/missing found C1234 at 12:00 location Derby bus station cse yes factors peers, exploitation`",
              "    e.g. `/missing interview C1234 completed at 15:00 by Jo (Runaways) independent yes account "
              "wanted to see friends followup school to be told`",
              "*Push/pull factors*: " + ", ".join(ctx.protocol.factors.values()) + "."]
