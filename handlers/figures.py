"""`/missing stats [from] [to]`: the board figures for a period, posted to the team channel with charts.

The summary and the five PNG charts are outbox rows written in the command's transaction (the
charts in the summary's thread); the person who asked gets the summary at once, ephemerally.
File rows carry the PNG base64-encoded: payload {"file": {"filename", "content", "encoding":
"base64", "title"}}; scheduler/delivery.py decodes it before files_upload_v2."""
from __future__ import annotations

import base64
from datetime import date

from bot.cli_figures import default_period, load_figures
from bot.context import Ctx
from bot.protocol.csvimport import parse_date
from bot.protocol.figures import summary_text
from bot.messages import Person
from handlers.registry import Reply, UserError, subcommand
from store.audit import audit
from store.outbox import enqueue

# The optional 903 validator (pandas, about 55 MB) is imported by the first SSDA903 export, not at
# start-up: 0.4 s then (0.03 s after), well inside Slack's 3 seconds, and an idle bot stays small.

EXAMPLE = "/missing stats 2025-04-01 2026-03-31"
CHART_TITLES = {
    "episodes_by_month.png": "Children missing each month, by placement type",
    "episodes_by_age_band.png": "Episodes by age band",
    "durations.png": "How long episodes lasted",
    "return_interviews.png": "Return interview compliance",
    "top_children.png": "Children with the most episodes",
}


LOOKED_AFTER_WORDS = ("looked-after", "lac", "cla", "care")
MAX_PERIOD_DAYS = 5 * 365 + 1


def parse_period(args: str, today: date) -> tuple[date, date]:
    words = args.split()
    if len(words) > 2:
        raise UserError("Give at most two dates: the first and the last day of the period.", EXAMPLE)
    try:
        dates = [parse_date(w) for w in words]
    except ValueError:
        raise UserError(f"I could not read the dates in `{args[:40]}`; use 2025-04-01 or 01/04/2025.", EXAMPLE) from None
    start, end = default_period(today)
    if len(dates) == 1:
        start, end = dates[0], today
    elif len(dates) == 2:
        start, end = dates
    if start > today or end > today:
        raise UserError("The period cannot be in the future.", EXAMPLE)
    if end < start:
        raise UserError("The period ends before it starts.", EXAMPLE)
    if (end - start).days > MAX_PERIOD_DAYS:
        raise UserError(f"In chat a period is at most {MAX_PERIOD_DAYS // 365} years (the charts must be drawn within "
                        "the few seconds a chat platform waits); for longer ones use `missing-bot report` on the server.",
                        EXAMPLE)
    return start, end


@subcommand("stats", usage="/missing stats [from] [to] [looked-after]",
            summary="board figures for a period (default: the last 12 months), posted with charts to the team channel",
            examples=["/missing stats", EXAMPLE, "/missing stats 2025-07-01 2026-06-30 looked-after"],
            aliases=("figures",))
def stats(ctx: Ctx, args: str) -> Reply:
    today = ctx.now.astimezone(ctx.zone).date()
    words = args.split()
    looked_after = any(w.lower() in LOOKED_AFTER_WORDS for w in words)
    period_from, period_to = parse_period(" ".join(w for w in words if w.lower() not in LOOKED_AFTER_WORDS), today)
    fig = load_figures(ctx.session, ctx.services, period_from, period_to, looked_after, now=ctx.now)
    text = summary_text(fig)
    # The channel's copy leaves out where children were found (store/channel_rule.py: no locations in a
    # channel); the person who asked sees them in the reply.
    channel_text = summary_text({**fig, "found_locations": []})
    if looked_after:
        text = text.replace("*\n", " (looked-after children)*\n", 1)
        channel_text = channel_text.replace("*\n", " (looked-after children)*\n", 1)
    audit(ctx.session, actor=ctx.user_id, action="report", entity="export", entity_id=None, now=ctx.now,
          after={"from": period_from.isoformat(), "to": period_to.isoformat(), "via": "slack"})
    channel = ctx.settings.alert_channel
    if not channel:
        return Reply(text + "\n_(No team channel is configured, so nothing was posted.)_")
    key = f"stats:{ctx.user_id}:{period_from}:{period_to}:{ctx.now.isoformat()}"
    enqueue(ctx.session, key=key, kind="figures.summary", channel=channel, now=ctx.now, thread_key=key,
            message=channel_text + "\n_Requested by " + Person(ctx.user_id) + "._")
    if fig["episodes"]:
        # matplotlib (and numpy) is loaded by the first `/missing stats` of a process, not at start:
        # it is most of an idle server's memory otherwise; that first answer takes about a second longer.
        from bot.charts import render_charts

        for name, png in render_charts(fig).items():
            enqueue(ctx.session, key=f"{key}:{name}", kind="figures.chart", channel=channel, now=ctx.now,
                    thread_key=key, text=CHART_TITLES.get(name, name),
                    payload={"file": {"filename": f"{period_from}_{period_to}_{name}", "encoding": "base64",
                                      "content": base64.b64encode(png).decode("ascii"),
                                      "title": CHART_TITLES.get(name, name)}})
    return Reply(text + "\n_Posted to the team channel" + (", with charts; where children were found is shown "
                                                           "only to you._" if fig["episodes"] else "._"))


EXPORT_EXAMPLE = "/missing export ssda903 2025"


@subcommand("export", usage="/missing export ssda903 <year> | annex-a",
            summary="statutory returns as CSV files, sent in your direct message with the bot (admins)",
            examples=[EXPORT_EXAMPLE, "/missing export annex-a"], admin=True)
def export(ctx: Ctx, args: str) -> Reply:
    from bot.protocol.exports import CHECKS_HINT, annex_a_csv, ssda903_csv
    from store.figures import annex_a_rows, ssda903_rows

    words = args.lower().split()
    kind = words[0] if words else ""
    if kind not in ("ssda903", "annex-a"):
        raise UserError("Say which return: `ssda903 <year>` (the year the collection starts) or `annex-a`.",
                        EXPORT_EXAMPLE)
    # The file holds dates of birth: it goes to the admin's own conversation with the bot, whatever
    # conversation the command was typed in (a channel id starting with D may be someone else's DM).
    dm = own_dm(ctx)
    notes = ""
    if kind == "ssda903":
        if len(words) != 2 or not words[1].isdigit() or not 2000 <= int(words[1]) <= 2100:
            raise UserError("Give the year the collection starts: 2025 is 1 April 2025 to 31 March 2026.",
                            EXPORT_EXAMPLE)
        year = int(words[1])
        rows, findings = ssda903_rows(ctx.session, year, ctx.zone)
        content, filename = ssda903_csv(rows), f"ssda903_missing_{year}-{(year + 1) % 100:02d}.csv"
        title = f"SSDA903 Missing {year}/{(year + 1) % 100:02d}: {len(rows)} rows"
        notes = (f"\n{CHECKS_HINT}." if findings is None else
                 "\nIt passes the DfE checks for this table." if not findings else
                 f"\n:warning: {len(findings)} finding(s) against the DfE rules:\n" +
                 "\n".join(f"• {f}" for f in findings[:10]) + ("\n• ..." if len(findings) > 10 else ""))
        after = {"year": year, "rows": len(rows), "via": "slack"}
    else:
        rows = annex_a_rows(ctx.session, ctx.now, council=ctx.protocol.council, zone=ctx.zone)
        content = annex_a_csv(rows)
        filename = f"annex_a_list8_missing_{ctx.now.astimezone(ctx.zone):%Y-%m-%d}.csv"
        title, after = f"Annex A List 8 missing columns: {len(rows)} looked-after children", {"rows": len(rows), "via": "slack"}
    audit(ctx.session, actor=ctx.user_id, action=f"export.{kind.replace('-', '_')}", entity="export", entity_id=None,
          now=ctx.now, after=after)
    enqueue(ctx.session, key=f"export:{kind}:{ctx.user_id}:{ctx.now.isoformat()}", kind="figures.export",
            channel=dm, now=ctx.now, text=title,
            payload={"file": {"filename": filename, "content": content, "title": title}})
    where = "in this conversation" if dm == ctx.channel_id else "in your direct message with the bot"
    return Reply(f"{title}. The file is on its way {where}.{notes}")


def own_dm(ctx: Ctx) -> str:
    """The requester's own direct-message conversation with the bot (Slack: conversations.open; in
    Teams the personal chat, which the Teams transport opens from the user's id)."""
    from bot.platforms import TEAMS, user_platform
    from handlers.slack.dm import NoDirectMessage, open_dm

    if user_platform(ctx.user_id) == TEAMS:
        return ctx.user_id

    try:
        channel = open_dm(ctx.services.client, ctx.user_id)
    except NoDirectMessage as exc:
        raise UserError(f"I could not open a direct message with you ({exc}); "
                        "nothing was sent. Try again in a minute.", EXPORT_EXAMPLE) from None
    if not channel:
        raise UserError("I could not open a direct message with you; nothing was sent.", EXPORT_EXAMPLE)
    return channel
