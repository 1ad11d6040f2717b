"""`/missing report | found | interview | child | risk`: the changes."""
from __future__ import annotations

from bot.auth import WORKER_REFUSAL, worker_allowed
from bot.context import Ctx
from bot.protocol import grammar as g
from bot.protocol import rules, words
from bot.protocol.clock import window_start
from bot.protocol.grammar import Spec
from bot.render import duration, local, who
from handlers import modals
from handlers.registry import Reply, UserError, subcommand
from store import records

REPORT = Spec(
    usage="/missing report <child-ref> [at <when>] [from <place>] [risk <grade>] [police <ref>] [away] [returned <when>]",
    example="/missing report C1234 at 21:30 from Oak House risk medium police PR/2026/0117",
    positional=("child_ref",), keywords=("at", "from", "risk", "police", "returned"), flags=("away",), single_word=("risk",),
    phrases=(("no apparent risk", "no_apparent_risk"),),
)
FOUND = Spec(
    usage="/missing found <child-ref> [at <when>] [location <text>]",
    example="/missing found C1234 at 07:45 location Bus station, city centre",
    positional=("child_ref",), keywords=("at", "location"),
)
INTERVIEW = Spec(
    usage="/missing interview <child-ref> completed|declined|voided [at <when>] [by <name>]",
    example="/missing interview C1234 completed at 2026-11-20 15:00 by Jo (Runaways service)",
    positional=("child_ref", "outcome"), keywords=("at", "by"),
)
CHILD = Spec(
    usage="/missing child <child-ref> [label ..] [dob ..] [gender ..] [placement ..] [looked-after yes|no] "
          "[out-of-area yes|no] [worker @user]",
    example="/missing child C1234 label JB dob 2011-04-23 gender female placement foster_care looked-after yes",
    positional=("child_ref",),
    keywords=("label", "dob", "gender", "placement", "looked-after", "out-of-area", "worker"),
    # gender and placement may be words ("foster care"): the choice reads them, or lists the valid ones.
    single_word=("looked-after", "out-of-area", "worker", "dob"),
    phrases=(("looked after", "looked-after"), ("out of area", "out-of-area")),
)
RISK = Spec(
    usage="/missing risk <child-ref> <grade>",
    example="/missing risk C1234 high",
    positional=("child_ref", "grade"),
    phrases=(("no apparent risk", "no_apparent_risk"),),
)

# Refusals (GrammarError, WhenError, RuleError) travel to the router, which answers them with
# their example, or the subcommand's first example when they have none.


def _when(ctx: Ctx, value: str | None, example: str):
    if value is None:
        return ctx.now
    return g.when(value, ctx.now, ctx.zone, ctx.protocol.future_grace_minutes, example)


def parse_report(ctx: Ctx, text: str) -> dict:
    p = g.parse_args(text, REPORT)
    values = {
        "child_ref": g.child_ref(p.positional["child_ref"], REPORT.example),
        "risk_grade": g.choice(p.get("risk"), words.RISK_GRADES, words.RISK_ALIASES, "risk grade", REPORT.example)
        if p.get("risk") else None,
        "missing_from": g.free_text(p.get("from") or "", "place"),
        "police_ref": g.free_text(p.get("police") or "", "police reference", 64),
        "episode_type": "away" if "away" in p.flags else "missing",
    }
    values["started_at"] = _when(ctx, p.get("at"), REPORT.example)
    # A whole episode reported after it ended (police notifications arrive late).
    values["returned_at"] = _when(ctx, p.get("returned"), REPORT.example) if p.get("returned") else None
    return values


@subcommand("report", usage=REPORT.usage, summary="a child has gone missing (or is away from placement)",
            examples=[REPORT.example, "/missing report C1234", "/missing report C1234 at 2h ago away"])
def report(ctx: Ctx, text: str) -> Reply:
    if not text.strip():
        return Reply("Opening the form to report a child missing…", modal=modals.report_view(ctx, None, {}))
    values = parse_report(ctx, text)
    child = records.get_child(ctx.session, values["child_ref"])
    if child is None:
        return Reply(f"{values['child_ref']} is new to the bot: a form has opened for the child's details.",
                     modal=modals.report_view(ctx, values["child_ref"], values))
    return Reply(**done_report(ctx, child, values))


def done_report(ctx: Ctx, child, values: dict) -> dict:
    episode = records.report_missing(ctx, child, started_at=values["started_at"],
                     missing_from=values.get("missing_from", ""), risk_grade=values.get("risk_grade"),
                     police_ref=values.get("police_ref", ""), episode_type=values.get("episode_type", "missing"),
                     example=REPORT.example, returned_at=values.get("returned_at"))
    kind = words.episode_word(episode.episode_type)
    if episode.returned_at is not None:
        lines = [f":rotating_light: Recorded an earlier episode: {who(child.child_ref, child.label)} {kind} "
                 f"{local(episode.started_at, ctx.zone)} to {local(episode.returned_at, ctx.zone)}. Return interview due by "
                 f"{local(rules.ri_deadline(episode.returned_at, ctx.protocol), ctx.zone)}."]
    else:
        lines = [f":rotating_light: Recorded: {who(child.child_ref, child.label)} {kind} since {local(episode.started_at, ctx.zone)}."]
    details = [f"from {episode.missing_from}" if episode.missing_from else "",
               f"risk {words.risk_word(episode.risk_grade)}" if episode.risk_grade else "risk not graded yet",
               f"police ref {episode.police_ref}" if episode.police_ref else ""]
    detail = ", ".join(d for d in details if d)
    lines.append(detail[:1].upper() + detail[1:] + ".")
    count30 = records.count_since(ctx.session, child.id, window_start(ctx.now, 30, ctx.zone))
    lines.append(f"Episodes in the last 30 days: {count30}. The team channel has been told.")
    if not episode.risk_grade and episode.returned_at is None:
        lines.append(f"Grade the risk when the police do: `/missing risk {child.child_ref} medium`")
    return {"text": "\n".join(lines)}


@subcommand("found", usage=FOUND.usage, summary="the child has returned or been found; starts the 72-hour clock",
            examples=[FOUND.example, "/missing found C1234"], aliases=("returned",))
def found(ctx: Ctx, text: str) -> Reply:
    p = g.parse_args(text, FOUND)
    ref = g.child_ref(p.positional["child_ref"], FOUND.example)
    location = g.free_text(p.get("location") or "", "location")
    returned_at = _when(ctx, p.get("at"), FOUND.example)
    child = records.require_child(ctx.session, ref)
    episode = records.record_found(ctx, child, returned_at=returned_at, location=location, example=FOUND.example)
    deadline = rules.ri_deadline(returned_at, ctx.protocol)
    return Reply(
        f":white_check_mark: {who(child.child_ref, child.label)} returned {local(returned_at, ctx.zone)} after "
        f"{duration(returned_at - episode.started_at)}.\n"
        f"*Return interview due by {local(deadline, ctx.zone)}* ({ctx.protocol.interview_hours} hours).\n"
        f"Record it with `/missing interview {child.child_ref} completed`"
    )


@subcommand("interview", usage=INTERVIEW.usage, summary="the return interview outcome of the latest return (and any earlier one still owed)",
            examples=[INTERVIEW.example, "/missing interview C1234 declined"])
def interview(ctx: Ctx, text: str) -> Reply:
    p = g.parse_args(text, INTERVIEW)
    ref = g.child_ref(p.positional["child_ref"], INTERVIEW.example)
    outcome = g.choice(p.positional["outcome"], words.RI_OUTCOMES, words.RI_OUTCOME_ALIASES, "return interview outcome",
                       INTERVIEW.example)
    by = g.free_text(p.get("by") or "", "name", 100)
    at = _when(ctx, p.get("at"), INTERVIEW.example)
    child = records.require_child(ctx.session, ref)
    episode, *earlier = records.record_interview(ctx, child, outcome=outcome, at=at, by=by, example=INTERVIEW.example)
    deadline = rules.ri_deadline(episode.returned_at, ctx.protocol)
    timing = "within timescale" if at <= deadline else "outside the timescale"
    also = "".join(f"\nAlso recorded for the earlier return of {local(e.returned_at, ctx.zone)}, which was still owed "
                   "an interview" + _earlier_timing(ctx, e, at, outcome) + "." for e in earlier)
    return Reply(f":memo: {who(child.child_ref, child.label)}: return interview *{outcome}* {local(at, ctx.zone)}"
                 + (f" ({timing})" if outcome == "completed" else "") + f". Reminders for it stop.{also}")


def _earlier_timing(ctx: Ctx, e, at, outcome: str) -> str:
    """Whether one interview covering an earlier return was in time for that return too (its own deadline)."""
    if outcome != "completed":
        return ""
    deadline = rules.ri_deadline(e.returned_at, ctx.protocol)
    if at <= deadline:
        return f": within timescale for it too (due by {local(deadline, ctx.zone)})"
    return f": *outside the timescale* for it (was due by {local(deadline, ctx.zone)})"


def parse_child_fields(ctx: Ctx, p: g.Parsed) -> dict:
    ex = CHILD.example
    fields: dict = {}
    if p.get("label") is not None:
        fields["label"] = g.label(p.get("label"), ex)
    if p.get("dob") is not None:
        fields["date_of_birth"] = g.day(p.get("dob"), "date of birth", ex, today=ctx.now.astimezone(ctx.zone).date())
    if p.get("gender") is not None:
        fields["gender"] = g.choice(p.get("gender"), words.GENDERS, words.GENDER_ALIASES, "gender", ex)
    if p.get("placement") is not None:
        fields["placement_type"] = g.choice(p.get("placement"), words.PLACEMENT_TYPES, words.PLACEMENT_ALIASES,
                                            "placement type", ex)
    if p.get("looked-after") is not None:
        fields["looked_after"] = g.yes_no(p.get("looked-after"), "looked-after", ex)
    if p.get("out-of-area") is not None:
        fields["out_of_area"] = g.yes_no(p.get("out-of-area"), "out-of-area", ex)
    if p.get("worker") is not None:
        fields["worker_user_id"] = g.user_id(p.get("worker"), ex)
        if not worker_allowed(ctx.services, fields["worker_user_id"]):
            raise UserError(WORKER_REFUSAL.format(user=fields["worker_user_id"]), "/missing child C1234 worker @sam")
    return fields


@subcommand("child", usage=CHILD.usage, summary="create or update a child's details (a form when no fields are given)",
            examples=[CHILD.example, "/missing child C1234 worker @sam", "/missing child C1234"])
def child(ctx: Ctx, text: str) -> Reply:
    p = g.parse_args(text, CHILD)
    ref = g.child_ref(p.positional["child_ref"], CHILD.example)
    fields = parse_child_fields(ctx, p)
    if not fields:
        existing = records.get_child(ctx.session, ref)
        return Reply(f"Opening the form for {ref}…", modal=modals.child_view(ctx, ref, existing))
    if records.get_child(ctx.session, ref) is None and not fields.get("label"):
        raise UserError("A new child needs a label (initials or a pseudonym; never a full name).",
                        f"/missing child {ref} label JB looked-after yes placement foster_care")
    result = records.upsert_child(ctx, ref, fields)
    if result.created:
        return Reply(f":bust_in_silhouette: Recorded {who(ref, result.child.label)}: {describe_child(result.child)}.")
    if not result.changed:
        return Reply(f"{who(ref, result.child.label)}: nothing changed.")
    return Reply(f":pencil2: Updated {who(ref, result.child.label)}: "
                 f"{', '.join(_changed_words(k, v) for k, v in sorted(result.changed.items()))}.")


def _changed_words(field: str, value) -> str:
    """`placement type now LA residential`, not `placement_type`."""
    say = {"placement_type": ("placement type", words.placement_word), "gender": ("gender", words.gender_word),
           "looked_after": ("looked after", lambda v: "yes" if v else "no"),
           "out_of_area": ("placed out of area", lambda v: "yes" if v else "no"),
           "date_of_birth": ("date of birth", None), "label": ("label", None),
           "worker_user_id": ("allocated worker", lambda v: f"<@{v}>" if v else "none")}
    name, fmt = say.get(field, (field.replace("_", " "), None))
    return f"{name} now {fmt(value)}" if fmt else name


def describe_child(child) -> str:
    parts = [words.gender_word(child.gender), words.placement_word(child.placement_type),
             "looked after" if child.looked_after else "not looked after"]
    if child.out_of_area:
        parts.append("placed out of area")
    if child.date_of_birth:
        parts.append(f"born {child.date_of_birth:%d/%m/%Y}")
    if child.worker_user_id:
        parts.append(f"worker <@{child.worker_user_id}>")
    return ", ".join(parts)


@subcommand("risk", usage=RISK.usage, summary="re-grade the risk of the open episode",
            examples=[RISK.example])
def risk(ctx: Ctx, text: str) -> Reply:
    p = g.parse_args(text, RISK)
    ref = g.child_ref(p.positional["child_ref"], RISK.example)
    grade = g.choice(p.positional["grade"], words.RISK_GRADES, words.RISK_ALIASES, "risk grade", RISK.example)
    child = records.require_child(ctx.session, ref)
    records.regrade(ctx, child, grade)
    return Reply(f":large_orange_diamond: {who(child.child_ref, child.label)}: risk now *{words.risk_word(grade)}*.")
