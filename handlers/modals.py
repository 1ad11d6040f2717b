"""The report and child forms (Slack modals) and what happens when they are submitted.

Each view carries typed metadata (`FormMeta`) in `private_metadata`. A submission is checked
with the same grammar and rules as the inline commands; a problem is shown beside the field
(`response_action: errors`) and nothing is written."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from sqlalchemy.exc import IntegrityError

from bot.context import Ctx, Services
from bot.protocol import grammar as g
from bot.protocol import words
from bot.protocol.words import Refusal

log = logging.getLogger(__name__)

REPORT_CALLBACK = "missing_report"
CHILD_CALLBACK = "missing_child"


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


# -- building blocks ----------------------------------------------------------------------

def _text(block_id: str, label: str, *, initial: str = "", optional: bool = False, hint: str = "",
          placeholder: str = "", max_length: int = 200) -> dict:
    element = {"type": "plain_text_input", "action_id": "value", "max_length": max_length}
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder}
    block = {"type": "input", "block_id": block_id, "optional": optional,
             "label": {"type": "plain_text", "text": label}, "element": element}
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _option(value: str) -> dict:
    return {"text": {"type": "plain_text", "text": value.replace("_", " ")}, "value": value}


def _select(block_id: str, label: str, values: tuple[str, ...], *, initial: str | None = None,
            optional: bool = True) -> dict:
    element = {"type": "static_select", "action_id": "value", "options": [_option(v) for v in values]}
    if initial in values:
        element["initial_option"] = _option(initial)
    return {"type": "input", "block_id": block_id, "optional": optional,
            "label": {"type": "plain_text", "text": label}, "element": element}


def _date(block_id: str, label: str, initial=None) -> dict:
    element = {"type": "datepicker", "action_id": "value"}
    if initial:
        element["initial_date"] = initial.isoformat()
    return {"type": "input", "block_id": block_id, "optional": True,
            "label": {"type": "plain_text", "text": label}, "element": element}


def _user(block_id: str, label: str, initial: str | None) -> dict:
    element = {"type": "users_select", "action_id": "value"}
    if initial:
        element["initial_user"] = initial
    return {"type": "input", "block_id": block_id, "optional": True,
            "label": {"type": "plain_text", "text": label}, "element": element}


def _yes_no(block_id: str, label: str, initial: bool | None) -> dict:
    return _select(block_id, label, ("yes", "no"), initial=None if initial is None else ("yes" if initial else "no"))


def _multiline(block_id: str, label: str, *, hint: str = "", max_length: int = 1000) -> dict:
    block = _text(block_id, label, optional=True, hint=hint, max_length=max_length)
    block["element"]["multiline"] = True
    return block


def _option_text(value: str, text: str) -> dict:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value}


CONCERN_OPTIONS = (("cse", "CSE concern (child sexual exploitation)"), ("cce", "CCE concern (child criminal exploitation)"))


def practice_blocks(protocol, episode=None) -> list[dict]:
    """Reasons, push/pull factors (the protocol's list) and CSE/CCE concerns. The factors and
    concerns already recorded on `episode` are preselected; its reasons are not shown again
    (an empty box keeps them)."""
    factors = protocol.factors
    options = [_option_text(code, text) for code, text in factors.items()]
    element = {"type": "multi_static_select", "action_id": "value", "options": options,
               "placeholder": {"type": "plain_text", "text": "Choose any that apply"}}
    chosen = [o for o in options if o["value"] in ((episode.factors or []) if episode is not None else [])]
    if chosen:
        element["initial_options"] = chosen
    concern_opts = [_option_text(v, t) for v, t in CONCERN_OPTIONS]
    concerns = {"type": "checkboxes", "action_id": "value", "options": concern_opts}
    if episode is not None:
        ticked = [o for o in concern_opts if getattr(episode, f"{o['value']}_concern")]
        if ticked:
            concerns["initial_options"] = ticked
    reason_hint = "Leave empty to keep what is recorded." if episode is not None and episode.reasons else ""
    reason = _multiline("reason", "Reasons for going missing", hint=reason_hint)
    if getattr(episode, "typed_reason", ""):
        reason["element"]["initial_value"] = episode.typed_reason
    return [
        reason,
        {"type": "input", "block_id": "factors", "optional": True,
         "label": {"type": "plain_text", "text": "Push/pull factors"}, "element": element},
        {"type": "input", "block_id": "concerns", "optional": True,
         "label": {"type": "plain_text", "text": "Exploitation concerns"}, "element": concerns},
    ]


def interview_blocks(protocol) -> list[dict]:
    """The return interview's details beyond outcome, time and who held it."""
    return [
        _yes_no("independent", "Held by someone independent of the placement?", None),
        {"type": "input", "block_id": "offered", "optional": True,
         "label": {"type": "plain_text", "text": "When was it offered?"},
         "element": {"type": "datetimepicker", "action_id": "value"}},
        _multiline("account", "The child's account (private: never posted to a channel)", max_length=2000),
        _multiline("followup", "Follow-up"),
    ]


def practice_from(state: dict, protocol) -> "records.Practice":
    from store import records

    reason = _value(state, "reason")
    if reason is not None and len(" ".join(reason.split())) > 1000:
        raise FieldError("reason", "The reason is too long (at most 1000 characters).")
    factors = _value(state, "factors")
    if factors:
        unknown = [f for f in factors if f not in protocol.factors]
        if unknown:
            raise FieldError("factors", "Choose from the list: " + ", ".join(protocol.factors.values()))
    concerns = _value(state, "concerns") if "concerns" in state else None
    return records.Practice(
        reasons=" ".join(reason.split()) if reason else None,
        factors=[f for f in protocol.factors if f in factors] if factors else None,
        cse=None if concerns is None else "cse" in concerns,
        cce=None if concerns is None else "cce" in concerns,
    )


def interview_from(state: dict, by: str = "") -> "records.Interview":
    from datetime import datetime, timezone

    from store import records

    independent = _value(state, "independent")
    offered = _value(state, "offered")
    account = " ".join((_value(state, "account") or "").split())
    followup = " ".join((_value(state, "followup") or "").split())
    if len(account) > 2000:
        raise FieldError("account", "The account is too long (at most 2000 characters).")
    if len(followup) > 1000:
        raise FieldError("followup", "The follow-up is too long (at most 1000 characters).")
    try:
        offered_at = datetime.fromtimestamp(int(offered), timezone.utc) if offered is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        raise FieldError("offered", "Give the date and time the interview was offered.") from None
    return records.Interview(by=by, independent=None if independent is None else independent == "yes",
                             offered_at=offered_at, account=account, followup=followup)


def child_blocks(child=None) -> list[dict]:
    return [
        _text("label", "Label (initials or pseudonym, never a full name)", initial=getattr(child, "label", "") or "",
              max_length=64, optional=True),
        _date("dob", "Date of birth", getattr(child, "date_of_birth", None)),
        _select("gender", "Gender", words.GENDERS, initial=getattr(child, "gender", None)),
        _yes_no("looked_after", "Looked after?", getattr(child, "looked_after", None)),
        _select("placement", "Placement type", words.PLACEMENT_TYPES, initial=getattr(child, "placement_type", None)),
        _text("placed_by", "Placed here by another council (its name)", optional=True, max_length=100,
              initial=getattr(child, "placed_by", None) or "", hint="e.g. Nottinghamshire; none clears"),
        _text("placed_in", "Placed in another council's area (its name)", optional=True, max_length=100,
              initial=getattr(child, "placed_in", None) or "", hint="e.g. Derbyshire; none clears"),
        _user("worker", "Allocated worker", getattr(child, "worker_user_id", None)),
    ]


def report_view(ctx: Ctx, child_ref: str | None, values: dict) -> dict:
    blocks: list[dict] = []
    if child_ref is None:
        blocks.append(_text("child_ref", "Case reference", placeholder="e.g. C1234", max_length=64))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       "For a child the bot already knows, only the case reference is needed below; "
                       "the child's details are used for a new child."}]})
    blocks += [{"type": "header", "text": {"type": "plain_text", "text": "The child"}}]
    blocks += child_blocks()
    started = values.get("started_at")
    when_text = started.astimezone(ctx.zone).strftime("%Y-%m-%d %H:%M") if started else "now"
    blocks += [
        {"type": "header", "text": {"type": "plain_text", "text": "The episode"}},
        _text("when", "Missing since", initial=when_text,
              hint="now, 14:30, yesterday 22:15, 2h ago, 20/11/2026 14:30"),
        _text("from", "Missing from (place)", initial=values.get("missing_from", "") if values else "", optional=True),
        _select("risk", "Police risk grade", words.RISK_GRADES, initial=(values or {}).get("risk_grade"), optional=True),
        _text("police", "Police reference", initial=(values or {}).get("police_ref", ""), optional=True, max_length=64),
        {"type": "input", "block_id": "away", "optional": True, "label": {"type": "plain_text", "text": "Type"},
         "element": {"type": "checkboxes", "action_id": "value", "options": [
             {"text": {"type": "plain_text", "text": "Away from placement (whereabouts known)"}, "value": "away"}],
             **({"initial_options": [{"text": {"type": "plain_text", "text": "Away from placement (whereabouts known)"},
                                       "value": "away"}]} if (values or {}).get("episode_type") == "away" else {})}},
    ]
    blocks += practice_blocks(ctx.protocol, _Given((values or {}).get("practice")))
    title = f"Missing: {child_ref}" if child_ref else "Report a child missing"
    return {"type": "modal", "callback_id": REPORT_CALLBACK, "title": {"type": "plain_text", "text": title[:24]},
            "submit": {"type": "plain_text", "text": "Record"}, "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": FormMeta(ctx.channel_id, child_ref).dump(), "blocks": blocks}


class _Given:
    """The practice values typed inline, shaped like an episode for `practice_blocks` (the typed
    reason is put back in the box: the form replaces the command the user typed)."""

    def __init__(self, practice) -> None:
        self.factors = getattr(practice, "factors", None) or []
        self.cse_concern = bool(getattr(practice, "cse", False))
        self.cce_concern = bool(getattr(practice, "cce", False))
        self.reasons = ""
        self.typed_reason = getattr(practice, "reasons", None) or ""


def child_view(ctx: Ctx, child_ref: str, child) -> dict:
    return {"type": "modal", "callback_id": CHILD_CALLBACK,
            "title": {"type": "plain_text", "text": f"Child {child_ref}"[:24]},
            "submit": {"type": "plain_text", "text": "Save"}, "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": FormMeta(ctx.channel_id, child_ref).dump(), "blocks": child_blocks(child)}


# -- reading a submission -----------------------------------------------------------------

def _value(state: dict, block_id: str):
    element = (state.get(block_id) or {}).get("value")
    if not element:
        return None
    kind = element.get("type")
    if kind == "plain_text_input":
        return (element.get("value") or "").strip() or None
    if kind in ("static_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value")
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "users_select":
        return element.get("selected_user")
    if kind in ("checkboxes", "multi_static_select"):
        return [o.get("value") for o in element.get("selected_options") or []]
    if kind == "datetimepicker":
        return element.get("selected_date_time")
    return None


class FieldError(Exception):
    def __init__(self, block_id: str, message: str) -> None:
        super().__init__(message)
        self.errors = {block_id: message}


def _placement(state: dict) -> dict:
    """The placed-by / placed-in boxes: a council on the ONS list, or `none` to clear."""
    from bot.protocol import authorities

    fields: dict = {}
    for block in ("placed_by", "placed_in"):
        value = _value(state, block)
        if value is None:
            continue
        if value.lower() in ("none", "no", "-"):
            fields[block] = None
            continue
        try:
            fields[block] = authorities.lookup(value, block.replace("_", "-")).name
        except authorities.UnknownAuthority as exc:
            raise FieldError(block, exc.message.replace("`", "")[:150]) from None
    if fields.get("placed_by") and fields.get("placed_in"):
        raise FieldError("placed_in", "Either placed here by another council or placed in another area, not both.")
    return fields


def child_fields_from(state: dict, ctx: Ctx) -> dict:
    fields: dict = {}
    label = _value(state, "label")
    if label is not None:
        try:
            fields["label"] = g.label(label, "")
        except g.GrammarError as exc:
            raise FieldError("label", exc.message) from None
    dob = _value(state, "dob")
    if dob:
        try:
            fields["date_of_birth"] = g.day(dob, "date of birth", "", today=ctx.now.astimezone(ctx.zone).date())
        except g.GrammarError as exc:
            raise FieldError("dob", exc.message) from None
    for block, name in (("gender", "gender"), ("placement", "placement_type")):
        value = _value(state, block)
        if value:
            fields[name] = value
    value = _value(state, "looked_after")
    if value:
        fields["looked_after"] = value == "yes"
    fields.update(_placement(state))
    worker = _value(state, "worker")
    if worker:
        from bot.auth import WORKER_REFUSAL, worker_allowed

        if not worker_allowed(ctx.services, worker):
            raise FieldError("worker", WORKER_REFUSAL.format(user=worker))
        fields["worker_user_id"] = worker
    return fields


def submit_report(ctx: Ctx, meta: FormMeta, state: dict) -> str:
    """Create the child if needed and open the episode; returns the confirmation text."""
    from handlers.record import REPORT, done_report
    from store import records

    ref = meta.child_ref
    if ref is None:
        try:
            ref = g.child_ref(_value(state, "child_ref") or "", REPORT.example)
        except g.GrammarError as exc:
            raise FieldError("child_ref", exc.message) from None
    try:
        started_at = g.when(_value(state, "when") or "now", ctx.now, ctx.zone, ctx.protocol.future_grace_minutes, "")
    except g.GrammarError as exc:
        raise FieldError("when", exc.message + " For example: yesterday 22:15") from None
    child = records.get_child(ctx.session, ref)
    if child is None:
        fields = child_fields_from(state, ctx)
        if not fields.get("label"):
            raise FieldError("label", "A new child needs a label (initials or a pseudonym).")
        child = records.upsert_child(ctx, ref, fields).child
    practice = practice_from(state, ctx.protocol)
    values = {"started_at": started_at, "missing_from": (_value(state, "from") or "")[:200],
              "risk_grade": _value(state, "risk"), "police_ref": (_value(state, "police") or "")[:64],
              "episode_type": "away" if "away" in (_value(state, "away") or []) else "missing",
              "practice": practice}
    try:
        return done_report(ctx, child, values)["text"]
    except Refusal as exc:
        raise FieldError("when", exc.message) from None


def submit_child(ctx: Ctx, meta: FormMeta, state: dict) -> str:
    from handlers.record import describe_child
    from store import records

    fields = child_fields_from(state, ctx)
    if not fields.get("label"):
        raise FieldError("label", "Give a label (initials or a pseudonym).")
    result = records.upsert_child(ctx, meta.child_ref or "", fields)
    verb = "Recorded" if result.created else "Updated"
    return f":bust_in_silhouette: {verb} {meta.child_ref} ({result.child.label}): {describe_child(result.child)}."


def handle_submission(services: Services, *, user_id: str, is_admin: bool, callback_id: str, metadata: str,
                      state: dict) -> tuple[dict | None, str | None, str]:
    """Returns (errors or None, confirmation text, channel_id)."""
    from handlers.commands import log_failure

    meta = FormMeta.load(metadata)
    submit = submit_report if callback_id == REPORT_CALLBACK else submit_child
    main = "when" if callback_id == REPORT_CALLBACK else "label"  # an input block each form has
    if callback_id == CHILD_CALLBACK and not (meta.child_ref and g.CHILD_REF.match(meta.child_ref)):
        return {"label": "This form has expired; run the command again."}, None, meta.channel_id
    try:
        with services.sessions.begin() as session:
            ctx = Ctx(services=services, session=session, user_id=user_id, channel_id=meta.channel_id,
                      now=services.now(), is_admin=is_admin)
            text = submit(ctx, meta, state)
    except FieldError as exc:
        return exc.errors, None, meta.channel_id
    except Refusal as exc:
        return {main: exc.message}, None, meta.channel_id
    except IntegrityError:
        return {main: "This was just recorded (sent twice?). Check /missing status."}, None, meta.channel_id
    except Exception as exc:  # noqa: BLE001
        ref = log_failure(f"form {callback_id}", exc)
        block = "child_ref" if callback_id == REPORT_CALLBACK and meta.child_ref is None else "label"
        return {block: f"Something went wrong (ref {ref}); nothing was saved."}, None, meta.channel_id
    services.on_enqueued()
    return None, text, meta.channel_id
