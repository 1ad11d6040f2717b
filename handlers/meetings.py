"""`/missing meeting ...`, `/missing agenda ...`, `/missing action ...` and the meeting setup form
(a neutral `Form`; its submission is read as field name -> value)."""
from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, time, timedelta, timezone

from pydantic import ValidationError
from sqlalchemy import select

from bot.context import Ctx
from bot.messages import PRIVATE, Field, Form, Person, Place, Rich, join
from bot.protocol import grammar as g
from bot.protocol import meetings as pm
from bot.platforms import is_channel, platform_for
from bot.render import local, who
from bot.render_agenda import agenda_message
from handlers.registry import FieldErrors, Reply, UserError, field_error, subcommand
from store import meetings as sm
from store.models import Child

log = logging.getLogger(__name__)

SETUP_FORM = SETUP_CALLBACK = "meeting_setup"
SETUP_EXAMPLE = '/missing meeting setup name="MACE" rrule="FREQ=MONTHLY;BYDAY=+2TU" time=14:00 location="Room 4"'
CANCEL_EXAMPLE = "/missing meeting cancel monitoring 2026-12-17"
AGENDA_EXAMPLE = "/missing agenda monitoring 2026-12-17"
ACTION_EXAMPLE = '/missing action add C1234 "Book a strategy meeting" owner @jo due friday'
SETUP_KEYS = ("name", "rrule", "time", "duration", "location", "chair", "attendees", "channel", "lead", "first")


def _fail(exc: g.GrammarError) -> UserError:
    return UserError(exc.message, exc.example)


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "meeting"
    return f"{field}: {err['msg'].removeprefix('Value error, ')}"


def _series(ctx: Ctx, text: str, example: str) -> sm.MeetingSeries:
    live = sm.all_series(ctx.session)
    if not live:
        raise UserError("No meeting series is set up yet.", "/missing meeting setup")
    if not text:
        if len(live) == 1:
            return live[0]
        raise UserError("Say which series: " + ", ".join(f"`{s.name}` (#{s.id})" for s in live) + ".", example)
    found = sm.find_series(ctx.session, text)
    if found is None:
        raise UserError(f"No single series matches `{text[:60]}`. Series: "
                        + ", ".join(f"`{s.name}` (#{s.id})" for s in live) + ".", example)
    return found


_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}(?:[-/.]\d{1,4})?$")


def _split_date(ctx: Ctx, tokens: list[str], example: str) -> tuple[list[str], date | None]:
    """Split a trailing date (one or two words, e.g. `2026-12-17` or `next thursday`) off `tokens`."""
    today = ctx.now.astimezone(ctx.zone).date()
    for n in (2, 1):
        if len(tokens) >= n:
            d = pm.parse_day(" ".join(tokens[-n:]), today)
            if d is not None:
                return tokens[:-n], d
    if tokens and _DATE_LIKE.match(tokens[-1]):
        raise UserError(f"`{tokens[-1][:20]}` is not a date. Write 2026-12-17 or 17/12/2026.", example)
    return tokens, None


def _occurrence_on(series: sm.MeetingSeries, day: date, example: str, now: datetime) -> datetime:
    spec = series.spec
    zone = spec.zone
    lo = datetime.combine(day, time(0), tzinfo=zone)
    hi = datetime.combine(day, time(23, 59), tzinfo=zone)
    found = pm.occurrences(spec, series.dtstart, lo, hi)
    if not found:
        near = sm.upcoming(series, now, 3)
        dates = ", ".join(f"{t:%a %d %b %Y}" for t in near) or "none"
        raise UserError(f"{series.name} does not meet on {day:%a %d %b %Y}. Next dates: {dates}.", example)
    return found[0]


# -- meeting setup / list / cancel ---------------------------------------------------
def setup_fields(text: str, base: pm.SeriesConfig | None, today: date) -> pm.SeriesConfig:
    """Inline `key=value` settings over `base` (the existing series or the defaults)."""
    values = (base or pm.SeriesConfig()).model_dump()
    for token in g.tokenize(text, SETUP_EXAMPLE):
        key, eq, value = token.partition("=")
        key = key.lower()
        if not eq or key not in SETUP_KEYS:
            raise g.GrammarError(f"`{token[:40]}` is not a setting. Settings: {', '.join(SETUP_KEYS)} (as key=value).",
                                 SETUP_EXAMPLE)
        value = value.strip()
        if key == "time":
            start, _, end = value.partition("-")
            try:
                values["start_time"] = time.fromisoformat(start.strip().zfill(5))
                if end:
                    finish = time.fromisoformat(end.strip().zfill(5))
                    values["duration_minutes"] = (finish.hour * 60 + finish.minute) - (values["start_time"].hour * 60
                                                                                      + values["start_time"].minute)
            except ValueError:
                raise g.GrammarError(f"`{value[:20]}` is not a time. Write 10:00 or 10:00-11:30.", SETUP_EXAMPLE) from None
        elif key in ("duration", "lead"):
            if not value.isdigit():
                raise g.GrammarError(f"`{key}` is a whole number.", SETUP_EXAMPLE)
            values["duration_minutes" if key == "duration" else "lead_working_days"] = int(value)
        elif key == "chair":
            values["chair"] = _person(value) if value else None
        elif key == "attendees":
            values["attendees"] = [_person(p) for p in value.replace("\n", ";").split(";") if p.strip()]
        elif key == "channel":
            values["channel"] = value.lstrip("<#").split("|")[0].rstrip(">")
        elif key == "first":
            d = pm.parse_day(value, today)
            if d is None:
                raise g.GrammarError(f"`{value[:20]}` is not a date.", SETUP_EXAMPLE)
            values["first_date"] = d
        else:
            values[key] = value
    try:
        return pm.SeriesConfig.model_validate(values)
    except ValidationError as exc:
        raise g.GrammarError(_validation_message(exc), SETUP_EXAMPLE) from None


def _person(text: str) -> dict:
    try:
        return pm.Person.parse(text).model_dump()
    except ValidationError:
        raise g.GrammarError(f"`{text[:60]}` is not `Name <email>`.", SETUP_EXAMPLE) from None


MANAGE_REFUSAL = (":no_entry: Only missing-bot administrators (ADMIN_USERS) and meeting chairs (MEETING_CHAIRS) can "
                  "set up, change or cancel a meeting series: it chooses who outside the council is emailed. "
                  "`/missing meeting list` and `/missing agenda` are open to everyone.")


def may_manage(ctx: Ctx) -> bool:
    return ctx.is_admin or ctx.settings.may_manage_meetings(ctx.user_id)


PROTOCOL_OWNED = "{name} is set in the protocol file (PROTOCOL_FILE); change it there, or give the series a new name."


def _not_from_protocol(session, name: str) -> None:
    row = sm.series_named(session, name)
    if row is not None and row.source == "protocol":
        raise UserError(PROTOCOL_OWNED.format(name=row.name), SETUP_EXAMPLE)


def _series_line(series: sm.MeetingSeries, now: datetime, default_channel: str) -> Rich:
    spec = series.spec
    nxt = sm.upcoming(series, now, 3)
    dates = ", ".join(f"{t:%a %d %b %Y}" for t in nxt) or "no more dates"
    channel = sm.channel_of(series, default_channel)
    end = (datetime.combine(date(2000, 1, 1), spec.start_time) + spec.duration).time()
    return (f"*#{series.id} {series.name}* — {pm.describe_rrule(spec.rrule)}, {spec.start_time:%H:%M}–{end:%H:%M} "
            f"({spec.timezone}){', ' + spec.location if spec.location else ''}. Chair: "
            f"{spec.chair or 'not set'}; {len(spec.attendees)} attendee(s); agenda {spec.lead_working_days} working "
            "day(s) before" + (" in " + Place(channel) if channel else "") + f". Next: {dates}."
            + (" _(from the protocol file)_" if series.source == "protocol" else ""))


@subcommand("meeting", usage="/missing meeting setup|list|cancel ...",
            summary="set up, list or cancel the monitoring meeting series",
            examples=["/missing meeting setup", "/missing meeting list", CANCEL_EXAMPLE], aliases=("meetings",))
def meeting(ctx: Ctx, args: str) -> Reply:
    word, _, rest = args.strip().partition(" ")
    word = word.lower() or "list"
    if word == "list":
        live = sm.all_series(ctx.session)
        if not live:
            return Reply("No meeting series yet. `/missing meeting setup` opens a form "
                         "(default: the third Thursday of each month, 10:00–11:30).")
        return Reply(join(_series_line(s, ctx.now, ctx.settings.alert_channel) for s in live))
    if word in ("setup", "cancel") and not may_manage(ctx):
        return Reply(MANAGE_REFUSAL)
    if word == "setup":
        if not rest.strip():
            live = sm.all_series(ctx.session)
            return Reply("Opening the meeting form…",
                         form=setup_form(live[0].spec if len(live) == 1 else None, ctx.channel_id))
        if "=" not in rest:  # `/missing meeting setup <series>`: the form, filled with that series
            return Reply("Opening the meeting form…",
                         form=setup_form(_series(ctx, rest.strip(), SETUP_EXAMPLE).spec, ctx.channel_id))
        try:
            name = next((t.partition("=")[2] for t in g.tokenize(rest) if t.lower().startswith("name=")), "")
            # the settings not given are those of the series being changed (named, or the default one)
            base = sm.series_named(ctx.session, name.strip() or pm.DEFAULT_NAME)
            config = setup_fields(rest, base.spec if base else None, ctx.now.astimezone(ctx.zone).date())
        except g.GrammarError as exc:
            raise _fail(exc) from None
        _not_from_protocol(ctx.session, config.name)
        version = base.sequence if base is not None and base.cancelled_at is None else None
        try:
            series, changed = sm.save_series(ctx.session, config, actor=ctx.user_id, now=ctx.now,
                                             channel=ctx.settings.alert_channel)
        except pm.NoMeetingLeft as exc:
            raise UserError(f"No meeting left: {exc} (see its UNTIL or COUNT).", SETUP_EXAMPLE) from None
        if not changed:
            return Reply("Nothing changed: " + _series_line(series, ctx.now, ctx.settings.alert_channel))
        if version == series.sequence:  # e.g. the channel or the agenda's lead time: not in the invite
            return Reply(":calendar: Saved. Nothing the invite shows has changed, so it is not sent again. "
                         + _series_line(series, ctx.now, ctx.settings.alert_channel))
        return Reply(f":calendar: Saved (invite version {series.sequence}). "
                     + _series_line(series, ctx.now, ctx.settings.alert_channel) + "\nThe invite is posted to the channel"
                     + (" and emailed to the attendees." if ctx.settings.smtp_url else "."))
    if word == "cancel":
        try:
            tokens = g.tokenize(rest, CANCEL_EXAMPLE)
        except g.GrammarError as exc:
            raise _fail(exc) from None
        tokens, day = _split_date(ctx, tokens, CANCEL_EXAMPLE)
        if not tokens:
            raise UserError("Say which series to cancel.", CANCEL_EXAMPLE)
        series = _series(ctx, " ".join(tokens), CANCEL_EXAMPLE)
        if day is None:
            sm.cancel_series(ctx.session, series, actor=ctx.user_id, now=ctx.now, channel=ctx.settings.alert_channel)
            return Reply(f":x: {series.name} is cancelled, every future meeting. Attendees are sent a cancellation.")
        start = _occurrence_on(series, day, CANCEL_EXAMPLE, ctx.now)
        if start < ctx.now:
            raise UserError(f"The meeting of {start:%a %d %b %Y} has already started.", CANCEL_EXAMPLE)
        if start.astimezone(timezone.utc) in series.skip():
            raise UserError(f"The meeting of {start:%a %d %b %Y} is already cancelled.", CANCEL_EXAMPLE)
        sm.cancel_occurrence(ctx.session, series, start, actor=ctx.user_id, now=ctx.now,
                             channel=ctx.settings.alert_channel)
        return Reply(f":x: {series.name} on {local(start, series.spec.zone)} is cancelled; the series carries on.")
    raise UserError(f"`meeting {word[:20]}` is not a meeting command. Use setup, list or cancel.", CANCEL_EXAMPLE)


# -- agenda --------------------------------------------------------------------------
@subcommand("agenda", usage="/missing agenda [series] [date] [post]",
            summary="the agenda of the next (or a given) meeting; `post` puts it in the channel",
            examples=["/missing agenda", AGENDA_EXAMPLE, "/missing agenda post"])
def agenda(ctx: Ctx, args: str) -> Reply:
    try:
        tokens = g.tokenize(args, AGENDA_EXAMPLE)
    except g.GrammarError as exc:
        raise _fail(exc) from None
    post = bool(tokens) and tokens[-1].lower() == "post"
    tokens = tokens[:-1] if post else tokens
    tokens, day = _split_date(ctx, tokens, AGENDA_EXAMPLE)
    series = _series(ctx, " ".join(tokens), AGENDA_EXAMPLE)
    spec = series.spec
    if day is None:
        # the meeting in progress, else the next one
        start = pm.next_occurrence(spec, series.dtstart, ctx.now - spec.duration + timedelta(seconds=1), series.skip())
        if start is None:
            raise UserError(f"{series.name} has no more meetings.", AGENDA_EXAMPLE)
    else:
        start = _occurrence_on(series, day, AGENDA_EXAMPLE, ctx.now)
        if start.astimezone(timezone.utc) in series.skip():
            raise UserError(f"The meeting of {start:%a %d %b %Y} is cancelled: it has no agenda.", AGENDA_EXAMPLE)
    built = sm.build_agenda(ctx.session, series, start, protocol=ctx.protocol, now=ctx.now)
    if built.period_start > ctx.now:  # a meeting after the next one: its period has not begun
        raise UserError(f"The agenda of {local(start, spec.zone)} reviews from {local(built.period_start, spec.zone)}, "
                        "which has not come yet; ask for it after then, or for the next meeting's agenda.",
                        "/missing agenda")
    channel = sm.channel_of(series, ctx.settings.alert_channel)
    if post:
        from scheduler.transports import NotPrivate, require_private

        try:
            require_private(ctx.services, platform_for(channel), channel)
        except NotPrivate as exc:
            raise UserError(Place(channel) + f" {exc}: the agenda names children with where they were found and any "
                            "concerns, so I post it only to a private channel. Set the series' channel to a private one "
                            "(`/missing meeting setup`), or leave out `post` to see it here, privately.",
                            "/missing agenda") from None
        key = f"meeting:agenda-on-demand:{series.id}:{start:%Y%m%d}:{ctx.now:%Y%m%dT%H%M%S}:{ctx.user_id}"
        sm.post_agenda(ctx.session, series, built, channel=channel, now=ctx.now, key=key)
        return Reply(f":white_check_mark: The agenda for {local(start, spec.zone)} is posted to " + Place(channel)
                     + " with the full document.")
    msg = agenda_message(built, document_note="`/missing agenda ... post` puts the full agenda in the channel.")
    msg.visibility = PRIVATE
    return msg


# -- actions -------------------------------------------------------------------------
@subcommand("action", usage='/missing action add <child-ref|general> "<text>" owner @user due <date> [series <name>] '
                           '| done <id> | list',
            summary="meeting actions: add, complete, list",
            examples=[ACTION_EXAMPLE, "/missing action done 12", "/missing action list"], aliases=("actions",))
def action(ctx: Ctx, args: str) -> Reply:
    word, _, rest = args.strip().partition(" ")
    word = word.lower() or "list"
    today = ctx.now.astimezone(ctx.zone).date()
    if word == "list":
        rows = sm.open_actions(ctx.session)
        if not rows:
            return Reply("No open actions.")
        return Reply(join(
            f"#{a.id} {sm.action_label(ctx.session, a)}: {a.text} — " + Person(a.owner_user_id)
            + f", due {a.due_on:%a %d %b %Y}" + (" *(overdue)*" if a.due_on < today else "") for a in rows[:50]))
    if word == "done":
        ident = rest.strip().lstrip("#")
        if not ident.isdigit():
            raise UserError("Give the action number.", "/missing action done 12")
        row = ctx.session.get(sm.Action, int(ident))
        if row is None:
            raise UserError(f"There is no action #{ident}.", "/missing action list")
        if row.done_at:
            raise UserError(f"Action #{row.id} was already done {local(row.done_at, ctx.zone)}.", "/missing action list")
        sm.complete_action(ctx.session, row, actor=ctx.user_id, now=ctx.now)
        return Reply(f":white_check_mark: Action #{row.id} ({sm.action_label(ctx.session, row)}) is done.")
    if word != "add":
        raise UserError(f"`action {word[:20]}` is not an action command. Use add, done or list.", ACTION_EXAMPLE)
    try:
        tokens = g.tokenize(rest, ACTION_EXAMPLE)
        lower = [t.lower() for t in tokens]
        if "owner" not in lower or "due" not in lower or lower.index("owner") > lower.index("due"):
            raise g.GrammarError("An action needs `owner @user` and then `due <date>`.", ACTION_EXAMPLE)
        i_owner, i_due = lower.index("owner"), lower.index("due")
        if i_owner < 2:
            raise g.GrammarError("Say who the action is for (a case reference or `general`) and what it is.",
                                 ACTION_EXAMPLE)
        i_series = lower.index("series", i_due) if "series" in lower[i_due:] else len(tokens)
        subject, text = tokens[0], g.free_text(" ".join(tokens[1:i_owner]), "action", 500)
        owner = g.user_id(" ".join(tokens[i_owner + 1:i_due]), ACTION_EXAMPLE)
        due = pm.parse_day(" ".join(tokens[i_due + 1:i_series]), today)
        if due is None:
            raise g.GrammarError("Write the due date as 2026-12-17, 17/12/2026, friday or `in 7 days`.", ACTION_EXAMPLE)
        child = None
        if subject.lower() != "general":
            ref = g.child_ref(subject, ACTION_EXAMPLE)
            child = ctx.session.scalar(select(Child).where(Child.child_ref == ref))
            if child is None:
                raise g.GrammarError(f"No child with case reference {ref} is recorded.", ACTION_EXAMPLE)
    except g.GrammarError as exc:
        raise _fail(exc) from None
    if not text:
        raise UserError("The action needs some text.", ACTION_EXAMPLE)
    if due < today:
        raise UserError(f"The due date {due:%d %b %Y} is in the past.", ACTION_EXAMPLE)
    if i_series < len(tokens):  # `series <name>`: the action belongs to that series' agendas
        series = _series(ctx, " ".join(tokens[i_series + 1:]), ACTION_EXAMPLE + " series MACE")
    else:  # the only series, or (several) every series' agenda
        live = sm.all_series(ctx.session)
        series = live[0] if len(live) == 1 else None
    row = sm.add_action(ctx.session, child=child, text=text, owner=owner, due_on=due, actor=ctx.user_id,
                        now=ctx.now, series=series)
    label = who(child.child_ref, child.label) if child else "general"
    return Reply(f":pushpin: Action #{row.id} ({label}) for " + Person(owner) + f", due {due:%a %d %b %Y}"
                 + (f" ({series.name})" if series else "") + f": {text}\n"
                 f"It stays on the agenda until `/missing action done {row.id}`.")


# -- the setup form -------------------------------------------------------------------
def setup_form(config: pm.SeriesConfig | None, channel_id: str) -> Form:
    c = config or pm.SeriesConfig()
    channel = c.channel or (channel_id if is_channel(platform_for(channel_id), channel_id) else None)
    return Form(SETUP_FORM, "Meeting series", [
        Field("name", "text", "Name", required=True, initial=c.name, max_length=120),
        Field("rrule", "text", "Recurrence (RFC 5545 RRULE)", required=True, initial=c.rrule, max_length=200,
              hint="FREQ=MONTHLY;BYDAY=+3TH is the third Thursday of each month; "
                   "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU every other Tuesday."),
        Field("start_time", "time", "Starts at", required=True, initial=f"{c.start_time:%H:%M}"),
        Field("duration", "text", "Length in minutes", required=True, initial=str(c.duration_minutes), max_length=4),
        Field("location", "text", "Location or online link", initial=c.location or None, max_length=300),
        Field("chair", "text", "Chair (Name <email>)", initial=str(c.chair) if c.chair else None, max_length=300),
        Field("attendees", "multiline", "Attendees, one per line (Name <email>)",
              initial="\n".join(str(p) for p in c.attendees) or None, max_length=3000),
        Field("channel", "place", "Channel for the invite and agenda", initial=channel),
        Field("lead", "text", "Agenda this many working days before", required=True,
              initial=str(c.lead_working_days), max_length=2),
    ], submit="Save", meta=json.dumps({"channel_id": channel_id}))


_FIELD_BLOCK = {"name": "name", "rrule": "rrule", "start_time": "start_time", "duration_minutes": "duration",
                "location": "location", "chair": "chair", "attendees": "attendees", "channel": "channel",
                "lead_working_days": "lead"}


def _given(values: dict, name: str) -> str:
    return str(values.get(name) or "")


def submit_setup(ctx: Ctx, values: dict, meta: str) -> str:
    """Validate and save the form; every problem is a field error and nothing is saved."""
    if not ctx.settings.may_manage_meetings(ctx.user_id):
        raise field_error("name", MANAGE_REFUSAL.removeprefix(":no_entry: ")[:150])
    errors: dict[str, str] = {}
    config_values: dict = {"name": _given(values, "name").strip(), "rrule": _given(values, "rrule"),
                           "location": _given(values, "location").strip(), "channel": _given(values, "channel")}
    try:
        config_values["start_time"] = time.fromisoformat(_given(values, "start_time") or "10:00")
    except ValueError:
        errors["start_time"] = "Pick a time."
    for key, name in (("duration_minutes", "duration"), ("lead_working_days", "lead")):
        raw = _given(values, name).strip()
        if raw.isdigit():
            config_values[key] = int(raw)
        else:
            errors[name] = "A whole number."
    try:
        chair = _given(values, "chair").strip()
        config_values["chair"] = pm.Person.parse(chair) if chair else None
    except ValidationError:
        errors["chair"] = "Write Name <email>."
    people = []
    for line in _given(values, "attendees").replace(";", "\n").splitlines():
        if line.strip():
            try:
                people.append(pm.Person.parse(line))
            except ValidationError:
                errors["attendees"] = f"`{line[:40]}` is not Name <email>."
    config_values["attendees"] = people
    if errors:
        raise FieldErrors(errors)
    try:
        config = pm.SeriesConfig.model_validate(config_values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = _FIELD_BLOCK.get(str(err["loc"][0]) if err["loc"] else "", "name")
        raise field_error(name, err["msg"].removeprefix("Value error, ")[:150]) from None
    try:
        _not_from_protocol(ctx.session, config.name)
    except UserError as exc:
        raise field_error("name", exc.message[:150]) from None
    base = sm.series_named(ctx.session, config.name)
    if base is not None:  # what the form does not show stays as it was
        config = pm.SeriesConfig.model_validate({**base.spec.model_dump(),
                                                 **config.model_dump(include=set(_FIELD_BLOCK))})
    try:
        series, changed = sm.save_series(ctx.session, config, actor=ctx.user_id, now=ctx.now,
                                         channel=ctx.settings.alert_channel)
    except pm.NoMeetingLeft as exc:
        raise field_error("rrule", f"No meeting left: {exc}."[:150]) from None
    return (f":calendar: {series.name} saved (invite version {series.sequence})." if changed
            else f"{series.name}: nothing changed.")
