"""The report and child forms (neutral `bot.messages.Form`s) and what happens when they are submitted.

Each form carries typed metadata (`FormMeta`) in `Form.meta`. A submission arrives as a neutral
dict of field name -> value (handlers/slack/forms.py reads Slack's view state into it) and is
checked with the same grammar and rules as the inline commands; a problem is shown beside the
field (`FieldErrors`) and nothing is written."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from bot.context import Ctx
from bot.messages import Field, Form
from bot.protocol import grammar as g
from bot.protocol import words

from handlers.registry import FieldErrors, field_error

log = logging.getLogger(__name__)

REPORT_FORM = "missing_report"
CHILD_FORM = "missing_child"
# Kept for the callers that named the Slack callback ids.
REPORT_CALLBACK, CHILD_CALLBACK = REPORT_FORM, CHILD_FORM
FieldError = FieldErrors


@dataclass
class FormMeta:
    channel_id: str
    child_ref: str | None = None

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, raw: str) -> "FormMeta":
        try:
            data = json.loads(raw or "{}")
            return cls(channel_id=str(data.get("channel_id") or ""), child_ref=data.get("child_ref"))
        except (ValueError, AttributeError):
            return cls(channel_id="")


def meta_channel(meta: str) -> str:
    """The channel a form was opened from (where its confirmation goes), or ""."""
    return FormMeta.load(meta).channel_id


# -- the fields ------------------------------------------------------------------------------

def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


def _yes_no(name: str, label: str, initial: bool | None) -> Field:
    return Field(name, "choice", label, _choices(("yes", "no")),
                 initial=None if initial is None else ("yes" if initial else "no"))


CONCERN_OPTIONS = (("cse", "CSE concern (child sexual exploitation)"), ("cce", "CCE concern (child criminal exploitation)"))


def practice_fields(protocol, episode=None) -> list[Field]:
    """Reasons, push/pull factors (the protocol's list) and CSE/CCE concerns. The factors and
    concerns already recorded on `episode` are preselected; its reasons are not shown again
    (an empty box keeps them)."""
    factors = [(code, text[:75]) for code, text in protocol.factors.items()]
    chosen = [code for code, _ in factors if code in ((episode.factors or []) if episode is not None else [])]
    ticked = ([v for v, _ in CONCERN_OPTIONS if getattr(episode, f"{v}_concern")] if episode is not None else [])
    reason_hint = "Leave empty to keep what is recorded." if episode is not None and episode.reasons else None
    return [
        Field("reason", "multiline", "Reasons for going missing", hint=reason_hint, max_length=1000,
              initial=getattr(episode, "typed_reason", "") or None),
        Field("factors", "choices", "Push/pull factors", factors, initial=chosen or None,
              placeholder="Choose any that apply"),
        Field("concerns", "checks", "Exploitation concerns", list(CONCERN_OPTIONS), initial=ticked or None),
    ]


def interview_fields(protocol) -> list[Field]:
    """The return interview's details beyond outcome, time and who held it."""
    return [
        _yes_no("independent", "Held by someone independent of the placement?", None),
        Field("offered", "datetime", "When was it offered?"),
        Field("account", "multiline", "The child's account (private: never posted to a channel)", max_length=2000),
        Field("followup", "multiline", "Follow-up", max_length=1000),
    ]


def text_value(values: dict, name: str) -> str | None:
    v = values.get(name)
    if v is None:
        return None
    return str(v).strip() or None


def practice_from(values: dict, protocol) -> "records.Practice":
    from store import records

    reason = text_value(values, "reason")
    if reason is not None and len(" ".join(reason.split())) > 1000:
        raise field_error("reason", "The reason is too long (at most 1000 characters).")
    factors = values.get("factors")
    if factors:
        unknown = [f for f in factors if f not in protocol.factors]
        if unknown:
            raise field_error("factors", "Choose from the list: " + ", ".join(protocol.factors.values()))
    concerns = (values.get("concerns") or []) if "concerns" in values else None
    return records.Practice(
        reasons=" ".join(reason.split()) if reason else None,
        factors=[f for f in protocol.factors if f in factors] if factors else None,
        cse=None if concerns is None else "cse" in concerns,
        cce=None if concerns is None else "cce" in concerns,
    )


def interview_from(values: dict, by: str = "") -> "records.Interview":
    from store import records

    independent = values.get("independent")
    offered = values.get("offered")
    account = " ".join((text_value(values, "account") or "").split())
    followup = " ".join((text_value(values, "followup") or "").split())
    if len(account) > 2000:
        raise field_error("account", "The account is too long (at most 2000 characters).")
    if len(followup) > 1000:
        raise field_error("followup", "The follow-up is too long (at most 1000 characters).")
    if offered is not None and not isinstance(offered, datetime):
        raise field_error("offered", "Give the date and time the interview was offered.")
    return records.Interview(by=by, independent=None if independent is None else independent == "yes",
                             offered_at=offered, account=account, followup=followup)


def child_fields(child=None) -> list[Field]:
    return [
        Field("label", "text", "Label (initials or pseudonym, never a full name)",
              initial=getattr(child, "label", "") or None, max_length=64),
        Field("dob", "date", "Date of birth", initial=getattr(child, "date_of_birth", None)),
        Field("gender", "choice", "Gender", _choices(words.GENDERS), initial=getattr(child, "gender", None)),
        _yes_no("looked_after", "Looked after?", getattr(child, "looked_after", None)),
        Field("placement", "choice", "Placement type", _choices(words.PLACEMENT_TYPES),
              initial=getattr(child, "placement_type", None)),
        Field("placed_by", "text", "Placed here by another council (its name)", max_length=100,
              initial=getattr(child, "placed_by", None) or None, hint="e.g. Nottinghamshire; none clears"),
        Field("placed_in", "text", "Placed in another council's area (its name)", max_length=100,
              initial=getattr(child, "placed_in", None) or None, hint="e.g. Derbyshire; none clears"),
        Field("worker", "person", "Allocated worker", initial=getattr(child, "worker_user_id", None)),
    ]


def report_form(ctx: Ctx, child_ref: str | None, values: dict) -> Form:
    values = values or {}
    fields: list[Field] = []
    if child_ref is None:
        fields.append(Field("child_ref", "text", "Case reference", required=True, placeholder="e.g. C1234", max_length=64))
        fields.append(Field("about_ref", "note", "For a child the bot already knows, only the case reference is needed "
                                                 "below; the child's details are used for a new child."))
    fields.append(Field("the_child", "heading", "The child"))
    fields += child_fields()
    started = values.get("started_at")
    when_text = started.astimezone(ctx.zone).strftime("%Y-%m-%d %H:%M") if started else "now"
    grade = values.get("risk_grade")
    fields += [
        Field("the_episode", "heading", "The episode"),
        Field("when", "text", "Missing since", required=True, initial=when_text, max_length=200,
              hint="now, 14:30, yesterday 22:15, 2h ago, 20/11/2026 14:30"),
        Field("from", "text", "Missing from (place)", initial=values.get("missing_from") or None, max_length=200),
        Field("risk", "choice", "Police risk grade", _choices(words.RISK_GRADES),
              initial=grade if grade in words.RISK_GRADES else None),
        Field("police", "text", "Police reference", initial=values.get("police_ref") or None, max_length=64),
        Field("away", "checks", "Type", [("away", "Away from placement (whereabouts known)")],
              initial=["away"] if values.get("episode_type") == "away" else None),
    ]
    fields += practice_fields(ctx.protocol, _Given(values.get("practice")))
    title = f"Missing: {child_ref}" if child_ref else "Report a child missing"
    return Form(REPORT_FORM, title[:24], fields, submit="Record", meta=FormMeta(ctx.channel_id, child_ref).dump())


class _Given:
    """The practice values typed inline, shaped like an episode for `practice_fields` (the typed
    reason is put back in the box: the form replaces the command the user typed)."""

    def __init__(self, practice) -> None:
        self.factors = getattr(practice, "factors", None) or []
        self.cse_concern = bool(getattr(practice, "cse", False))
        self.cce_concern = bool(getattr(practice, "cce", False))
        self.reasons = ""
        self.typed_reason = getattr(practice, "reasons", None) or ""


def child_form(ctx: Ctx, child_ref: str, child) -> Form:
    return Form(CHILD_FORM, f"Child {child_ref}"[:24], child_fields(child), submit="Save",
                meta=FormMeta(ctx.channel_id, child_ref).dump())


# -- reading a submission -----------------------------------------------------------------

def _placement(values: dict) -> dict:
    """The placed-by / placed-in boxes: a council on the ONS list, or `none` to clear."""
    from bot.protocol import authorities

    fields: dict = {}
    for block in ("placed_by", "placed_in"):
        value = text_value(values, block)
        if value is None:
            continue
        if value.lower() in ("none", "no", "-"):
            fields[block] = None
            continue
        try:
            fields[block] = authorities.lookup(value, block.replace("_", "-")).name
        except authorities.UnknownAuthority as exc:
            raise field_error(block, exc.message.replace("`", "")[:150]) from None
    if fields.get("placed_by") and fields.get("placed_in"):
        raise field_error("placed_in", "Either placed here by another council or placed in another area, not both.")
    return fields


def child_fields_from(values: dict, ctx: Ctx) -> dict:
    fields: dict = {}
    label = text_value(values, "label")
    if label is not None:
        try:
            fields["label"] = g.label(label, "")
        except g.GrammarError as exc:
            raise field_error("label", exc.message) from None
    dob = text_value(values, "dob")
    if dob:
        try:
            fields["date_of_birth"] = g.day(dob, "date of birth", "", today=ctx.now.astimezone(ctx.zone).date())
        except g.GrammarError as exc:
            raise field_error("dob", exc.message) from None
    for block, name in (("gender", "gender"), ("placement", "placement_type")):
        value = text_value(values, block)
        if value:
            fields[name] = value
    value = text_value(values, "looked_after")
    if value:
        fields["looked_after"] = value == "yes"
    fields.update(_placement(values))
    worker = text_value(values, "worker")
    if worker:
        from bot.auth import WORKER_REFUSAL, worker_allowed

        if not worker_allowed(ctx.services, worker):
            raise field_error("worker", WORKER_REFUSAL)
        fields["worker_user_id"] = worker
    return fields
