"""`/missing report | found | interview | child | risk`: the changes."""
from __future__ import annotations

from bot.auth import WORKER_REFUSAL, worker_allowed
from bot.context import Ctx
from bot.messages import Person, Rich, join
from bot.protocol import grammar as g
from bot.protocol import rules, words
from bot.protocol.clock import window_start
from bot.protocol.grammar import Spec
from bot.protocol.words import Refusal
from bot.render import duration, local, who
from handlers import modals
from handlers.registry import Reply, UserError, field_error, subcommand
from store import corrections, records

# What practice records, on report, found and interview: keywords end free text, so
# `location Derby bus station cse yes` is a location and a concern.
PRACTICE = ("reason", "factors", "cse", "cce")
PRACTICE_USAGE = "[reason <text>] [factors <a>, <b>] [cse yes|no] [cce yes|no]"

REPORT = Spec(
    usage="/missing report <child-ref> [at <when>] [from <place>] [risk <grade>] [police <ref>] [away] [returned <when>] "
          + PRACTICE_USAGE,
    example="/missing report C1234 at 21:30 from Oak House risk medium police PR/2026/0117",
    positional=("child_ref",), keywords=("at", "from", "risk", "police", "returned", *PRACTICE), flags=("away",),
    single_word=("risk", "cse", "cce"),
    phrases=(("no apparent risk", "no_apparent_risk"),),
)
FOUND = Spec(
    usage="/missing found <child-ref> [at <when>] [location <text>] " + PRACTICE_USAGE,
    example="/missing found C1234 at 07:45 location Bus station, city centre",
    positional=("child_ref",), keywords=("at", "location", *PRACTICE), single_word=("cse", "cce"),
)
INTERVIEW = Spec(
    usage="/missing interview <child-ref> completed|declined|voided [at <when>] [by <name>] [independent yes|no] "
          "[offered <when>] [account <text>] [followup <text>] " + PRACTICE_USAGE + " [correct]",
    example="/missing interview C1234 completed at 2026-11-20 15:00 by Jo (Runaways service) independent yes",
    positional=("child_ref", "outcome"),
    keywords=("at", "by", "independent", "offered", "account", "followup", *PRACTICE), flags=("correct",),
    single_word=("independent", "cse", "cce"),
)
SIGNOFF_EXAMPLE = "/missing interview signoff C1234"
CONCERN = Spec(
    usage="/missing concern <child-ref> cse|cce [<episode>] [note <text>]",
    example="/missing concern C1234 cse latest note seen getting into cars with older males",
    positional=("child_ref", "type"), keywords=("note",),  # read by `concern` itself: the episode is free words
)
HELD = Spec(
    usage="/missing held <child-ref> strategy|ipm|discussion at <when> [note <text>]",
    example="/missing held C1234 strategy at yesterday 14:00 note police, school and social care attended",
    positional=("child_ref", "kind"), keywords=("at", "note"),
    phrases=(("strategy meeting", "strategy"), ("strategy discussion", "discussion"),
             ("intervention planning meeting", "ipm")),
)
CHILD = Spec(
    usage="/missing child <child-ref> [label ..] [dob ..] [gender ..] [placement ..] [looked-after yes|no] "
          "[placed-by <council>|placed-in <council>] [worker @user]",
    example="/missing child C1234 label JB dob 2011-04-23 gender female placement foster_care looked-after yes",
    positional=("child_ref",),
    keywords=("label", "dob", "gender", "placement", "looked-after", "out-of-area", "worker", "placed-by", "placed-in"),
    # gender and placement may be words ("foster care"): the choice reads them, or lists the valid ones.
    single_word=("looked-after", "out-of-area", "worker", "dob"),
    phrases=(("looked after", "looked-after"), ("out of area", "out-of-area"), ("placed by", "placed-by"),
             ("placed in", "placed-in")),
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


def parse_practice(ctx: Ctx, p: g.Parsed, example: str) -> records.Practice:
    return records.Practice(
        reasons=g.free_text(p.get("reason"), "reason", 1000) if p.get("reason") is not None else None,
        factors=g.factors(p.get("factors"), ctx.protocol.factors, example) if p.get("factors") is not None else None,
        cse=g.yes_no(p.get("cse"), "cse", example) if p.get("cse") is not None else None,
        cce=g.yes_no(p.get("cce"), "cce", example) if p.get("cce") is not None else None,
    )


def practice_note(ctx: Ctx, episode) -> str:
    """` Also recorded: reason, factors peers and placement, CSE concern.` — for the asker only;
    free text is never echoed (the form confirmations travel through Slack's API)."""
    bits = []
    if episode.reasons:
        bits.append("the reason")
    if episode.factors:
        bits.append("push/pull factors " + ", ".join(ctx.protocol.factors.get(f, words.factor_word(f))
                                                     for f in episode.factors))
    if episode.cse_concern:
        bits.append("a CSE concern")
    if episode.cce_concern:
        bits.append("a CCE concern")
    return ("\nAlso recorded: " + "; ".join(bits) + ".") if bits else ""


def parse_report(ctx: Ctx, text: str) -> dict:
    p = g.parse_args(text, REPORT)
    values = {
        "child_ref": g.child_ref(p.positional["child_ref"], REPORT.example),
        "risk_grade": g.choice(p.get("risk"), words.RISK_GRADES, words.RISK_ALIASES, "risk grade", REPORT.example)
        if p.get("risk") else None,
        "missing_from": g.free_text(p.get("from") or "", "place"),
        "police_ref": g.free_text(p.get("police") or "", "police reference", 64),
        "episode_type": "away" if "away" in p.flags else "missing",
        "practice": parse_practice(ctx, p, REPORT.example),
    }
    values["started_at"] = _when(ctx, p.get("at"), REPORT.example)
    # A whole episode reported after it ended (police notifications arrive late).
    values["returned_at"] = _when(ctx, p.get("returned"), REPORT.example) if p.get("returned") else None
    return values


@subcommand("report", usage=REPORT.usage, summary="a child has gone missing (or is away from placement)",
            examples=[REPORT.example, "/missing report C1234", "/missing report C1234 at 2h ago away"])
def report(ctx: Ctx, text: str) -> Reply:
    if not text.strip():
        return Reply("Opening the form to report a child missing…", form=modals.report_form(ctx, None, {}))
    values = parse_report(ctx, text)
    child = records.get_child(ctx.session, values["child_ref"], lock=True)
    if child is None:
        return Reply(f"{values['child_ref']} is new to the bot: a form has opened for the child's details.",
                     form=modals.report_form(ctx, values["child_ref"], values))
    return Reply(**done_report(ctx, child, values, locked=True))


def done_report(ctx: Ctx, child, values: dict, *, locked: bool = False) -> dict:
    reported = records.report(ctx, child, started_at=values["started_at"], locked=locked,
                     missing_from=values.get("missing_from", ""), risk_grade=values.get("risk_grade"),
                     police_ref=values.get("police_ref", ""), episode_type=values.get("episode_type", "missing"),
                     example=REPORT.example, returned_at=values.get("returned_at"), practice=values.get("practice"))
    episode = reported.episode
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
    count30 = reported.count_since(window_start(ctx.now, 30, ctx.zone))  # from the episodes the report read
    lines.append(f"Episodes in the last 30 days: {count30}. The team channel has been told." + practice_note(ctx, episode))
    if not episode.risk_grade and episode.returned_at is None:
        lines.append(f"Grade the risk when the police do: `/missing risk {child.child_ref} medium`")
    return {"text": "\n".join(lines)}


@subcommand("found", usage=FOUND.usage, summary="the child has returned or been found; starts the 72-hour clock",
            examples=[FOUND.example, "/missing found C1234"], aliases=("returned",))
def found(ctx: Ctx, text: str) -> Reply:
    p = g.parse_args(text, FOUND)
    ref = g.child_ref(p.positional["child_ref"], FOUND.example)
    location = g.free_text(p.get("location") or "", "location")
    practice = parse_practice(ctx, p, FOUND.example)
    returned_at = _when(ctx, p.get("at"), FOUND.example)
    child = records.require_child(ctx.session, ref, lock=True)
    episode = records.record_found(ctx, child, returned_at=returned_at, location=location, example=FOUND.example,
                                   practice=practice, locked=True)
    deadline = rules.ri_deadline(returned_at, ctx.protocol)
    return Reply(
        f":white_check_mark: {who(child.child_ref, child.label)} returned {local(returned_at, ctx.zone)} after "
        f"{duration(returned_at - episode.started_at)}.\n"
        f"*Return interview due by {local(deadline, ctx.zone)}* ({ctx.protocol.interview_hours} hours).\n"
        f"Record it with `/missing interview {child.child_ref} completed`"
        + (" (where found recorded)" if location else "") + practice_note(ctx, episode)
        + (f"\nIt is {child.placed_by}'s to arrange (the placing council): the team channel is asked to tell them."
           if child.placed_by and ctx.protocol.placed_by_interviews != "ours" else "")
    )


@subcommand("interview", usage=INTERVIEW.usage, summary="the return interview outcome of the latest return (and any "
            "earlier one still owed); `/missing interview signoff <child-ref>` (managers) signs it off",
            examples=[INTERVIEW.example, "/missing interview C1234 declined offered yesterday 10:00",
                      "/missing interview C1234 voided correct", SIGNOFF_EXAMPLE])
def interview(ctx: Ctx, text: str) -> Reply:
    first, _, rest = text.partition(" ")
    if first.lower() in ("signoff", "sign-off"):
        return signoff(ctx, rest)
    p = g.parse_args(text, INTERVIEW)
    ref = g.child_ref(p.positional["child_ref"], INTERVIEW.example)
    outcome = g.choice(p.positional["outcome"], words.RI_OUTCOMES, words.RI_OUTCOME_ALIASES, "return interview outcome",
                       INTERVIEW.example)
    details = records.Interview(
        by=g.free_text(p.get("by") or "", "name", 100),
        independent=g.yes_no(p.get("independent"), "independent", INTERVIEW.example)
        if p.get("independent") is not None else None,
        offered_at=_when(ctx, p.get("offered"), INTERVIEW.example) if p.get("offered") is not None else None,
        account=g.free_text(p.get("account") or "", "child's account", 2000),
        followup=g.free_text(p.get("followup") or "", "follow-up", 1000),
    )
    practice = parse_practice(ctx, p, INTERVIEW.example)
    at = _when(ctx, p.get("at"), INTERVIEW.example)
    child = records.require_child(ctx.session, ref)
    was = records.latest_ended_episode(ctx.session, child.id)
    replaced = records.describe_interview(was, ctx.zone) if was is not None and was.ri_outcome else ""
    episode, *earlier = records.record_interview(ctx, child, outcome=outcome, at=at, example=INTERVIEW.example,
                                                 details=details, practice=practice, correct="correct" in p.flags)
    return Reply(interview_reply(ctx, child, episode, earlier, replaced))


def interview_reply(ctx: Ctx, child, episode, earlier, replaced: str = "") -> str:
    deadline = rules.ri_deadline(episode.returned_at, ctx.protocol)
    at, outcome = episode.ri_at, episode.ri_outcome
    timing = "within timescale" if at <= deadline else "outside the timescale"
    also = "".join(f"\nAlso recorded for the earlier return of {local(e.returned_at, ctx.zone)}, which was still owed "
                   "an interview" + _earlier_timing(ctx, e, at, outcome) + "." for e in earlier)
    head = (f":memo: {who(child.child_ref, child.label)}: return interview corrected to *{outcome}* {local(at, ctx.zone)}"
            if replaced else f":memo: {who(child.child_ref, child.label)}: return interview *{outcome}* {local(at, ctx.zone)}")
    text = head + (f" ({timing})" if outcome == "completed" else "") + f". Reminders for it stop.{also}"
    if replaced:
        text += f"\nIt replaced: {replaced}. A sign-off, if any, was cleared: a manager signs the corrected record off."
    extra = []
    if episode.ri_independent is not None:
        extra.append("held by someone independent of the placement" if episode.ri_independent
                     else "not independent of the placement")
    if episode.ri_offered_at:
        extra.append(f"offered {local(episode.ri_offered_at, ctx.zone)}")
    if episode.ri_account:
        extra.append("the child's account (private: shown only in `/missing status`)")
    if episode.ri_followup:
        extra.append("follow-up")
    if extra:
        text += "\nRecorded: " + "; ".join(extra) + "."
    return text + practice_note(ctx, episode)


def signoff(ctx: Ctx, text: str) -> Reply:
    tokens = g.tokenize(text, SIGNOFF_EXAMPLE)
    if len(tokens) != 1:
        raise UserError("Give the child's case reference.", SIGNOFF_EXAMPLE)
    child = records.require_child(ctx.session, g.child_ref(tokens[0], SIGNOFF_EXAMPLE))
    episode = records.signoff_interview(ctx, child)
    return Reply(f":ballot_box_with_check: {who(child.child_ref, child.label)}: return interview "
                 f"({records.describe_interview(episode, ctx.zone)}, after the return of "
                 f"{local(episode.returned_at, ctx.zone)}) signed off by you.")


@subcommand("concern", usage=CONCERN.usage, summary="a CSE or CCE (exploitation) concern about an episode "
            "(latest by default); never shown in the channel", examples=[CONCERN.example, "/missing concern C1234 cce"])
def concern(ctx: Ctx, text: str) -> Reply:
    tokens = g.tokenize(text, CONCERN.example)
    lowered = [t.lower() for t in tokens]
    cut = lowered.index("note") if "note" in lowered else len(tokens)
    if cut < 2:
        raise UserError(f"Give the case reference and the concern (cse or cce). Usage: `{CONCERN.usage}`", CONCERN.example)
    ref = g.child_ref(tokens[0], CONCERN.example)
    kind = g.choice(tokens[1], words.CONCERN_TYPES, None, "concern type (cse or cce)", CONCERN.example)
    if cut < len(tokens) and cut + 1 == len(tokens):
        raise UserError("`note` needs some text after it.", CONCERN.example)
    note = g.free_text(" ".join(tokens[cut + 1:]), "note", 1000)
    child = records.require_child(ctx.session, ref)
    # The one rule for naming an episode (withdraw and amend use it too): `latest` by default.
    episode = corrections.find_episode(ctx, child, " ".join(tokens[2:cut]) or "latest", CONCERN.example)
    changed = records.record_concern(ctx, child, kind, episode, note)
    what = words.CONCERN_WORDS[kind]
    if not changed:
        return Reply(f"{who(child.child_ref, child.label)}: a {kind.upper()} ({what}) concern is already recorded for the "
                     f"episode of {local(episode.started_at, ctx.zone)}. Nothing changed; add a `note` to say more.")
    return Reply(f":pencil2: {who(child.child_ref, child.label)}: {kind.upper()} ({what}) concern recorded for the "
                 f"episode of {local(episode.started_at, ctx.zone)}" + (" with your note" if note else "")
                 + ". The channel is told only that the record was updated.")


@subcommand("held", usage=HELD.usage, summary="a strategy meeting, intervention planning meeting (ipm) or strategy "
            "discussion, with the time it was held; linked to the alert that asked for it",
            examples=[HELD.example, "/missing held C1234 ipm at 2026-11-20 10:00"])
def held(ctx: Ctx, text: str) -> Reply:
    p = g.parse_args(text, HELD)
    ref = g.child_ref(p.positional["child_ref"], HELD.example)
    kind = g.choice(p.positional["kind"], words.HELD_MEETING_KINDS, words.HELD_MEETING_ALIASES, "kind of meeting", HELD.example)
    if p.get("at") is None:
        raise UserError("Say when the meeting was held (`at <when>`).", HELD.example)
    held_at = _when(ctx, p.get("at"), HELD.example)
    note = g.free_text(p.get("note") or "", "note", 1000)
    child = records.require_child(ctx.session, ref)
    meeting = records.record_held(ctx, child, kind=kind, held_at=held_at, note=note, example=HELD.example)
    answered = ""
    if meeting.alert_id is not None:
        from store.alerts import Alert

        alert = ctx.session.get(Alert, meeting.alert_id)
        answered = f"\nIt answers the alert of {local(alert.due_at, ctx.zone)}."
    return Reply(f":handshake: {who(child.child_ref, child.label)}: {words.HELD_MEETING_WORDS[kind]} held "
                 f"{local(held_at, ctx.zone)} recorded" + (" with your note" if note else "") + f".{answered}")


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
    fields.update(placement_fields(p, ex))
    if p.get("worker") is not None:
        fields["worker_user_id"] = g.user_id(p.get("worker"), ex)
        if not worker_allowed(ctx.services, fields["worker_user_id"]):
            raise UserError(WORKER_REFUSAL.format(user=fields["worker_user_id"]), "/missing child C1234 worker @sam")
    return fields


def placement_fields(p: g.Parsed, ex: str) -> dict:
    """`placed-by <council>` / `placed-in <council>` (ONS names; `none` clears); `out-of-area` is
    derived from them, so `out-of-area no` clears both and `out-of-area yes` asks which council."""
    from bot.protocol import authorities

    fields: dict = {}
    for word, name in (("placed-by", "placed_by"), ("placed-in", "placed_in")):
        value = p.get(word)
        if value is None:
            continue
        if value.strip().lower() in ("none", "no", "-"):
            fields[name] = None
            continue
        try:
            fields[name] = authorities.lookup(value, word).name
        except authorities.UnknownAuthority as exc:
            raise g.GrammarError(exc.message, f"/missing child C1234 {exc.example}") from None
    if fields.get("placed_by") and fields.get("placed_in"):
        raise g.GrammarError("A child is either placed here by another council (`placed-by`) or placed in "
                             "another council's area (`placed-in`), not both.", "/missing child C1234 placed-by Derbyshire")
    if p.get("out-of-area") is not None:
        if g.yes_no(p.get("out-of-area"), "out-of-area", ex):
            raise g.GrammarError("Say which council instead: `placed-by <council>` for another council's child "
                                 "placed in our area, `placed-in <council>` for our child placed in another area.",
                                 "/missing child C1234 placed-in Nottinghamshire")
        fields["out_of_area"] = False
    return fields


@subcommand("child", usage=CHILD.usage, summary="create or update a child's details (a form when no fields are given)",
            examples=[CHILD.example, "/missing child C1234 worker @sam", "/missing child C1234"])
def child(ctx: Ctx, text: str) -> Reply:
    p = g.parse_args(text, CHILD)
    ref = g.child_ref(p.positional["child_ref"], CHILD.example)
    fields = parse_child_fields(ctx, p)
    if not fields:
        existing = records.get_child(ctx.session, ref)
        return Reply(f"Opening the form for {ref}…", form=modals.child_form(ctx, ref, existing))
    if records.get_child(ctx.session, ref) is None and not fields.get("label"):
        raise UserError("A new child needs a label (initials or a pseudonym; never a full name).",
                        f"/missing child {ref} label JB looked-after yes placement foster_care")
    result = records.upsert_child(ctx, ref, fields)
    if result.created:
        return Reply(f":bust_in_silhouette: Recorded {who(ref, result.child.label)}: " + describe_child(result.child) + ".")
    if not result.changed:
        return Reply(f"{who(ref, result.child.label)}: nothing changed.")
    return Reply(f":pencil2: Updated {who(ref, result.child.label)}: "
                 + join((_changed_words(k, v) for k, v in sorted(result.changed.items())), ", ") + ".")


def _changed_words(field: str, value) -> Rich | str:
    """`placement type now LA residential`, not `placement_type`."""
    say = {"placement_type": ("placement type", words.placement_word), "gender": ("gender", words.gender_word),
           "looked_after": ("looked after", lambda v: "yes" if v else "no"),
           "out_of_area": ("placed out of area", lambda v: "yes" if v else "no"),
           "date_of_birth": ("date of birth", None), "label": ("label", None),
           "worker_user_id": ("allocated worker", lambda v: Person(v) if v else "none")}
    name, fmt = say.get(field, (field.replace("_", " "), None))
    return f"{name} now " + fmt(value) if fmt else name


def describe_child(child) -> Rich:
    parts = [words.gender_word(child.gender), words.placement_word(child.placement_type),
             "looked after" if child.looked_after else "not looked after"]
    if child.placed_by:
        parts.append(f"placed here by {child.placed_by}")
    elif child.placed_in:
        parts.append(f"placed in {child.placed_in}")
    elif child.out_of_area:
        parts.append("placed out of area")
    if child.date_of_birth:
        parts.append(f"born {child.date_of_birth:%d/%m/%Y}")
    if child.worker_user_id:
        parts.append("worker " + Person(child.worker_user_id))
    return join(parts, ", ")


@subcommand("risk", usage=RISK.usage, summary="re-grade the risk of the open episode",
            examples=[RISK.example])
def risk(ctx: Ctx, text: str) -> Reply:
    p = g.parse_args(text, RISK)
    ref = g.child_ref(p.positional["child_ref"], RISK.example)
    grade = g.choice(p.positional["grade"], words.RISK_GRADES, words.RISK_ALIASES, "risk grade", RISK.example)
    child = records.require_child(ctx.session, ref)
    records.regrade(ctx, child, grade)
    return Reply(f":large_orange_diamond: {who(child.child_ref, child.label)}: risk now *{words.risk_word(grade)}*.")


# -- the report and child forms' submissions (the forms: handlers/modals.py) ----------------
def submit_report(ctx: Ctx, values: dict, meta: str) -> str:
    """Create the child if needed and open the episode; returns the confirmation text."""
    ref = modals.FormMeta.load(meta).child_ref
    if ref is None:
        try:
            ref = g.child_ref(modals.text_value(values, "child_ref") or "", REPORT.example)
        except g.GrammarError as exc:
            raise field_error("child_ref", exc.message) from None
    try:
        started_at = g.when(modals.text_value(values, "when") or "now", ctx.now, ctx.zone, ctx.protocol.future_grace_minutes, "")
    except g.GrammarError as exc:
        raise field_error("when", exc.message + " For example: yesterday 22:15") from None
    child = records.get_child(ctx.session, ref)
    if child is None:
        fields = modals.child_fields_from(values, ctx)
        if not fields.get("label"):
            raise field_error("label", "A new child needs a label (initials or a pseudonym).")
        child = records.upsert_child(ctx, ref, fields).child
    practice = modals.practice_from(values, ctx.protocol)
    episode = {"started_at": started_at, "missing_from": (modals.text_value(values, "from") or "")[:200],
               "risk_grade": modals.text_value(values, "risk"), "police_ref": (modals.text_value(values, "police") or "")[:64],
               "episode_type": "away" if "away" in (values.get("away") or []) else "missing",
               "practice": practice}
    try:
        return done_report(ctx, child, episode)["text"]
    except Refusal as exc:
        raise field_error("when", exc.message) from None


def submit_child(ctx: Ctx, values: dict, meta: str):
    ref = modals.FormMeta.load(meta).child_ref
    if not (ref and g.CHILD_REF.match(ref)):
        raise field_error("label", "This form has expired; run the command again.")
    fields = modals.child_fields_from(values, ctx)
    if not fields.get("label"):
        raise field_error("label", "Give a label (initials or a pseudonym).")
    result = records.upsert_child(ctx, ref, fields)
    verb = "Recorded" if result.created else "Updated"
    return f":bust_in_silhouette: {verb} {ref} ({result.child.label}): " + describe_child(result.child) + "."
