"""The council's data-protection duties: subject access requests and retention.

`sar_bundle` gathers everything the bot holds about one child: the record, every episode (with
its return interview), alerts, outbox rows (messages about the child), meeting actions and the
audit rows about the child, its episodes, alerts and actions.

Retention (`due_for_erasure`, `erase_child`): a looked-after child's record is kept until their
75th birthday, any other child's until their 25th (protocol file: `retention_years_looked_after`,
`retention_years_other`). Past that the child is anonymised, not deleted, so figures for earlier
periods keep their counts: the child row keeps gender, looked-after status and placement type,
its reference becomes `ERASED-<id>`, the label goes, and the date of birth becomes the earliest
day of the birth year that puts every episode in the same age band (the figures' only use of it).
Episodes keep their times, types, placement, risk grade, concern flags and interview outcome and
times; every free-text field (places, police reference, reasons, concern notes, the child's
account, who reported, who interviewed, ...: every text column but the codes) is cleared. Messages about the child lose their text, audit rows about it keep who, what and when
but their before/after values become {"erased": "retention"} (migration 0006 allows exactly this
update and nothing else), and one audit row records the erasure. One transaction per child."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.protocol.figures import age_band, age_on
from store.alerts import Alert
from store.audit import audit, snapshot
from store.meetings import Action, MeetingOccurrence
from store.models import AuditRecord, Child, Episode, HeldMeeting, Outbox, episode_free_text_columns

# Episode text columns that are codes, not free text: kept by erasure (figures use them).
ERASED = {"erased": "retention"}
ERASED_TEXT = "(erased under the retention rule)"


# -- subject access -------------------------------------------------------------------------
def _rows(objs) -> list[dict]:
    return [snapshot(o) for o in objs]


def _audit_about(session: Session, child: Child) -> list[AuditRecord]:
    episode_ids = [e.id for e in child.episodes]
    alert_ids = list(session.scalars(select(Alert.id).where(Alert.child_id == child.id)))
    action_ids = list(session.scalars(select(Action.id).where(Action.child_id == child.id)))
    about = [(AuditRecord.entity == "child") & (AuditRecord.entity_id == child.id)]
    for entity, ids in (("episode", episode_ids), ("alert", alert_ids), ("meeting_action", action_ids)):
        if ids:
            about.append((AuditRecord.entity == entity) & AuditRecord.entity_id.in_(ids))
    return list(session.scalars(select(AuditRecord).where(or_(*about)).order_by(AuditRecord.at, AuditRecord.id)))


def _outbox_about(session: Session, child: Child) -> list[Outbox]:
    episode_ids = [e.id for e in child.episodes]
    cond = [Outbox.child_id == child.id]
    if episode_ids:
        cond.append(Outbox.episode_id.in_(episode_ids))
    return list(session.scalars(select(Outbox).where(or_(*cond)).order_by(Outbox.id)))


def sar_bundle(session: Session, child: Child, now: datetime) -> dict[str, Any]:
    """Everything held about `child`, JSON-ready."""
    outbox = []
    for row in _outbox_about(session, child):
        item = snapshot(row)
        if isinstance(item.get("payload"), dict) and isinstance(item["payload"].get("file"), dict):
            f = item["payload"]["file"]
            item["payload"] = {"file": {k: v for k, v in f.items() if k != "content" or f.get("encoding") != "base64"}}
        outbox.append(item)
    return {
        "generated_at": now.isoformat(),
        "child": snapshot(child),
        "episodes": _rows(child.episodes),
        "return_interviews": [
            {"episode_id": e.id, "returned_at": e.returned_at.isoformat() if e.returned_at else None,
             "outcome": e.ri_outcome, "at": e.ri_at.isoformat() if e.ri_at else None, "by": e.ri_by}
            for e in child.episodes if e.returned_at is not None],
        "alerts": _rows(session.scalars(select(Alert).where(Alert.child_id == child.id).order_by(Alert.id))),
        "messages": outbox,
        "meeting_actions": _rows(session.scalars(select(Action).where(Action.child_id == child.id).order_by(Action.id))),
        "meetings_held": _rows(session.scalars(select(HeldMeeting).where(HeldMeeting.child_id == child.id)
                                               .order_by(HeldMeeting.id))),
        "audit": _rows(_audit_about(session, child)),
    }


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return html.escape("" if value is None else str(value))


def sar_html(bundle: dict) -> str:
    """The same bundle as one readable, self-contained HTML page."""
    child = bundle["child"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Subject access: {_cell(child['child_ref'])}</title>",
           "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;"
           "padding:2px 6px;vertical-align:top;font-size:90%}</style></head><body>",
           f"<h1>Everything missing-bot holds about {_cell(child['child_ref'])}</h1>",
           f"<p>Generated {_cell(bundle['generated_at'])}.</p>", "<h2>Child</h2><table>"]
    out += [f"<tr><th>{_cell(k)}</th><td>{_cell(v)}</td></tr>" for k, v in child.items()]
    out.append("</table>")
    for title, key in (("Episodes", "episodes"), ("Return interviews", "return_interviews"), ("Alerts", "alerts"),
                       ("Messages sent", "messages"), ("Meeting actions", "meeting_actions"),
                       ("Strategy meetings and IPMs held", "meetings_held"), ("Audit trail", "audit")):
        rows = bundle[key]
        out.append(f"<h2>{title} ({len(rows)})</h2>")
        if not rows:
            out.append("<p>None.</p>")
            continue
        cols = list(rows[0])
        out.append("<table><tr>" + "".join(f"<th>{_cell(c)}</th>" for c in cols) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


# -- retention ------------------------------------------------------------------------------
@dataclass
class Due:
    child_id: int
    child_ref: str
    looked_after: bool
    keep_until: date


def keep_until(child: Child, protocol) -> date | None:
    if child.date_of_birth is None:
        return None
    years = protocol.retention_years_looked_after if child.looked_after else protocol.retention_years_other
    dob = child.date_of_birth
    try:
        return dob.replace(year=dob.year + years)
    except ValueError:  # 29 February: the birthday is 1 March in other years
        return date(dob.year + years, 3, 1)


def due_for_erasure(session: Session, protocol, today: date) -> tuple[list[Due], int]:
    """Children past the rule (on or after the birthday it names), and how many have no date of birth."""
    due, undated = [], 0
    for child in session.scalars(select(Child).where(~Child.child_ref.like("ERASED-%")).order_by(Child.child_ref)):
        until = keep_until(child, protocol)
        if until is None:
            undated += 1
        elif today >= until:
            due.append(Due(child.id, child.child_ref, child.looked_after, until))
    return due, undated


def _same_bands_dob(dob: date, days: list[date]) -> date:
    """The earliest day of the birth year giving the same age band on every day in `days`."""
    want = [age_band(age_on(dob, d)) for d in days]
    day = date(dob.year, 1, 1)
    while day < dob:
        if [age_band(age_on(day, d)) for d in days] == want:
            return day
        day += timedelta(days=1)
    return dob


def erase_child(session: Session, child: Child, *, actor: str, now: datetime, zone) -> None:
    """Anonymise one child in the caller's transaction (see the module docstring)."""
    old_ref, label = child.child_ref, child.label
    episodes = list(child.episodes)
    audit_rows = _audit_about(session, child)
    outbox_rows = _outbox_about(session, child)
    days = [e.started_at.astimezone(zone).date() for e in episodes]
    if child.date_of_birth is not None:
        child.date_of_birth = _same_bands_dob(child.date_of_birth, days)
    child.child_ref = f"ERASED-{child.id}"
    child.label = ""
    child.worker_user_id = None
    child.updated_at = now
    free_text = episode_free_text_columns()
    for e in episodes:
        for col in free_text:
            setattr(e, col.key, None if col.nullable else "")
        e.updated_at = now
    for held in session.scalars(select(HeldMeeting).where(HeldMeeting.child_id == child.id)):
        held.note = ""
    for a in session.scalars(select(Alert).where(Alert.child_id == child.id)):
        a.detail = None
    for row in outbox_rows:
        row.text = ERASED_TEXT
        row.message = {"text": ERASED_TEXT}
        row.payload = None
        row.error = None
    for action in session.scalars(select(Action).where(Action.child_id == child.id)):
        action.text = ERASED_TEXT
    # Stored agendas: every line naming the child goes (it may carry where they were found, concerns).
    for occ in session.scalars(select(MeetingOccurrence).where(MeetingOccurrence.agenda_text.like(f"%{old_ref}%"))):
        occ.agenda_text = "\n".join(ERASED_TEXT if old_ref in line else line
                                     for line in (occ.agenda_text or "").split("\n"))
    session.flush()
    ids = [r.id for r in audit_rows]
    if ids:
        session.execute(update(AuditRecord).where(AuditRecord.id.in_(ids), AuditRecord.before.is_not(None))
                        .values(before=ERASED).execution_options(synchronize_session=False))
        session.execute(update(AuditRecord).where(AuditRecord.id.in_(ids), AuditRecord.after.is_not(None))
                        .values(after=ERASED).execution_options(synchronize_session=False))
    audit(session, actor=actor, action="child.erased", entity="child", entity_id=child.id, now=now,
          after={"rule": "retention", "looked_after": child.looked_after, "episodes": len(episodes)})
