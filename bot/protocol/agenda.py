"""The monitoring meeting agenda, built from plain data and `now`.

`build_agenda` takes the episodes (with their child), the open actions and the review
period, and returns an `Agenda`: nine sections, each a small table. Two renderers here turn it
into Markdown and HTML documents; bot/render_agenda.py makes the short posted summary. Children appear only by case
reference and label; no names, dates of birth, police references or reasons.

Which episodes each section looks at (period = [start, end), end = min(now, meeting); start is
where the previous meeting's agenda stopped, see bot.protocol.meetings.review_period_start):
1, 3, 7  episodes *in* the period: started before its end and not returned before its start;
2        persistence: at the start of an episode in the period, the child's episodes started in
         the rule's window (t - days, t] reach the rule's count;
4        return interviews with no outcome, for returns since the previous period began;
5        every episode still open at `now`;
6        found locations of episodes that returned in the period;
8        every open action;
9        episodes *started* in this period against the previous one (the report convention)."""
from __future__ import annotations

import html
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.messages import Person
from bot.protocol.clock import LONG_MISSING, PERSISTENCE, count_at, counts, ri_deadline, ri_overdue
from bot.protocol.config import Protocol
from bot.protocol.words import held_meeting_word, episode_word, outcome_word, placement_word, risk_word
from bot.render import duration, local, who

RISK_ORDER = {None: -1, "no_apparent_risk": 0, "low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class ChildInfo:
    ref: str
    label: str
    looked_after: bool
    placement_type: str


@dataclass(frozen=True)
class EpisodeInfo:
    id: int
    child: ChildInfo
    started_at: datetime
    returned_at: datetime | None = None
    episode_type: str = "missing"
    placement_type: str = ""
    risk_grade: str | None = None
    found_location: str = ""
    cse_concern: bool = False
    cce_concern: bool = False
    ri_outcome: str | None = None
    ri_at: datetime | None = None
    # Strategy meetings, IPMs and strategy discussions held about this episode: (kind, held at).
    meetings_held: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True)
class ActionInfo:
    id: int
    child: ChildInfo | None  # None: a general action
    text: str
    owner_user_id: str
    due_on: date
    created_at: datetime


@dataclass
class Section:
    number: int
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)  # cells: text, or the Person who owns an action
    empty: str = "None."
    note: str = ""


@dataclass
class Agenda:
    series: str
    meeting: datetime
    period_start: datetime
    period_end: datetime
    built_at: datetime
    zone: ZoneInfo
    sections: list[Section]

    @property
    def title(self) -> str:
        return f"{self.series}: agenda for {local(self.meeting, self.zone)}"

    @property
    def period(self) -> str:
        return f"Review period {local(self.period_start, self.zone)} to {local(self.period_end, self.zone)}"


# -- the rules ----------------------------------------------------------------
def _in_period(e: EpisodeInfo, start: datetime, end: datetime) -> bool:
    return e.started_at < end and (e.returned_at is None or e.returned_at >= start)


def _length(e: EpisodeInfo, at: datetime) -> timedelta:
    return (e.returned_at or at) - e.started_at


def _still(e: EpisodeInfo) -> str:
    return " (still away)" if e.episode_type == "away" else " (still missing)"


def _ri_status(e: EpisodeInfo, now: datetime, protocol: Protocol) -> str:
    if e.returned_at is None:
        return "still away" if e.episode_type == "away" else "still missing"
    if e.ri_outcome:
        return e.ri_outcome
    return "overdue" if ri_overdue(e.returned_at, protocol, now) else "due"


def persistence_crossings(episodes: list[EpisodeInfo], start: datetime, end: datetime,
                          protocol: Protocol, zone: ZoneInfo) -> list[tuple[ChildInfo, str, datetime, int]]:
    """(child, rule, first time at or over it in the period, count then) for each child and rule: the
    children the meeting must see as persistently missing, whether the threshold was first crossed
    in the period or before it. Counted as the clock counts (calendar-day windows in `zone`; away
    episodes only when the protocol's `count_away_persistence` says so)."""
    by_child: dict[str, list[EpisodeInfo]] = defaultdict(list)
    for e in episodes:
        if counts(e, protocol, PERSISTENCE):
            by_child[e.child.ref].append(e)
    out = []
    for ref in sorted(by_child):
        eps = sorted(by_child[ref], key=lambda e: e.started_at)
        for rule in protocol.persistence:
            starts = [o.started_at for o in eps]
            for e in eps:
                if not start <= e.started_at < end:
                    continue
                n = count_at(starts, e.started_at, rule.days, zone)
                if n >= rule.episodes:
                    out.append((e.child, f"{rule.episodes} in {rule.days} days: {rule.action}", e.started_at, n))
                    break
    return out


def headline(episodes: list[EpisodeInfo], start: datetime, end: datetime, now: datetime,
             protocol: Protocol) -> dict[str, int]:
    """The headline figures of episodes started in [start, end)."""
    started = [e for e in episodes if start <= e.started_at < end]
    per_child = Counter(e.child.ref for e in started)
    long_h = protocol.long_missing_hours[0] if protocol.long_missing_hours else 24
    returned = [e for e in episodes if e.returned_at and start <= e.returned_at < end]
    in_time = [e for e in returned if e.ri_outcome == "completed" and e.ri_at
               and e.ri_at <= ri_deadline(e.returned_at, protocol)]
    return {
        "Episodes started": len(started),
        "of which away from placement": sum(1 for e in started if e.episode_type == "away"),
        "Children": len(per_child),
        "Looked-after children": len({e.child.ref for e in started if e.child.looked_after}),
        f"Children with {protocol.report_persistent_threshold}+ episodes":
            sum(1 for n in per_child.values() if n >= protocol.report_persistent_threshold),
        "High-risk episodes": sum(1 for e in started if e.risk_grade == "high"),
        f"Episodes over {long_h} hours": sum(1 for e in started if _length(e, min(now, end)) > timedelta(hours=long_h)),
        "CSE/CCE concerns": sum(1 for e in started if e.cse_concern or e.cce_concern),
        "Returns in the period": len(returned),
        f"Return interviews within {protocol.interview_hours} h": len(in_time),
    }


def build_agenda(*, series: str, meeting: datetime, period_start: datetime, previous_start: datetime,
                 episodes: list[EpisodeInfo], actions: list[ActionInfo], protocol: Protocol,
                 now: datetime, zone: ZoneInfo) -> Agenda:
    """The agenda of the meeting at `meeting` reviewing [period_start, min(now, meeting)).

    `episodes` must hold every episode started since `previous_start` minus the longest
    persistence window, and every episode still open; `actions` the open actions."""
    end = min(now, meeting)
    in_period = [e for e in episodes if _in_period(e, period_start, end)]
    at = lambda t: local(t, zone)  # noqa: E731
    sections: list[Section] = []

    # 1. Children missing in the period, looked-after children first.
    by_child: dict[str, list[EpisodeInfo]] = defaultdict(list)
    for e in in_period:
        by_child[e.child.ref].append(e)
    order = sorted(by_child, key=lambda r: (not by_child[r][0].child.looked_after, -len(by_child[r]), r))
    s1 = Section(1, "Children missing in the period",
                 ["Child", "Looked after", "Placement", "Episodes", "Longest", "Highest risk", "Return interviews"])
    for ref in order:
        eps = sorted(by_child[ref], key=lambda e: e.started_at)
        child = eps[0].child
        longest = max(eps, key=lambda e: _length(e, now))
        risk = max((e.risk_grade for e in eps), key=lambda g: RISK_ORDER.get(g, -1))
        ri = Counter(_ri_status(e, now, protocol) for e in eps)
        away = sum(1 for e in eps if e.episode_type == "away")
        s1.rows.append([who(child.ref, child.label), "yes" if child.looked_after else "no",
                        placement_word(eps[-1].placement_type or child.placement_type),
                        str(len(eps)) + (f" ({away} away from placement)" if away else ""),
                        duration(_length(longest, now)) + (_still(longest) if longest.returned_at is None else ""),
                        risk_word(risk),
                        ", ".join(f"{outcome_word(k)} {v}" for k, v in sorted(ri.items()))])
    away_total = sum(1 for e in in_period if e.episode_type == "away")
    s1.note = f"{len(order)} children, {len(in_period)} episodes" + (
        f" ({away_total} of them away from placement)." if away_total else ".")
    sections.append(s1)

    # 2. Persistence thresholds reached in the period.
    s2 = Section(2, "Children at or over a persistence threshold", ["Child", "Threshold", "Reached", "Count"])
    for child, rule, when, n in persistence_crossings(episodes, period_start, end, protocol, zone):
        s2.rows.append([who(child.ref, child.label), rule, at(when), str(n)])
    sections.append(s2)

    # 3. Episodes over the first long-missing threshold (24 h).
    long_h = protocol.long_missing_hours[0] if protocol.long_missing_hours else 24
    s3 = Section(3, f"Episodes over {long_h} hours", ["Child", "Episode", "Started", "Length", "Meetings held"])
    for e in sorted(in_period, key=lambda e: e.started_at):
        if _length(e, now) > timedelta(hours=long_h):
            if e.meetings_held:
                held = "; ".join(f"{held_meeting_word(k)} held {at(t)}" for k, t in e.meetings_held)
            elif counts(e, protocol, LONG_MISSING):
                held = "not recorded"
            else:  # the protocol file does not ask for one when the child's whereabouts are known
                held = "not required (away from placement)"
            s3.rows.append([who(e.child.ref, e.child.label), episode_word(e.episode_type), at(e.started_at),
                            duration(_length(e, now)) + (_still(e) if e.returned_at is None else ""),
                            held])
    sections.append(s3)

    # 4. Return interviews overdue or not yet done.
    s4 = Section(4, "Return interviews overdue or incomplete", ["Child", "Returned", "Deadline", "Status"])
    pending = [e for e in episodes if e.returned_at and e.returned_at >= previous_start and not e.ri_outcome
               and e.returned_at <= now]
    for e in sorted(pending, key=lambda e: e.returned_at):
        deadline = ri_deadline(e.returned_at, protocol)
        status = f"overdue by {duration(now - deadline)}" if now >= deadline else f"due in {duration(deadline - now)}"
        s4.rows.append([who(e.child.ref, e.child.label), at(e.returned_at), at(deadline), status])
    sections.append(s4)

    # 5. Children still missing or away now, longest first.
    s5 = Section(5, "Children still missing or away from placement now", ["Child", "Episode", "Since", "For", "Risk"])
    for e in sorted((e for e in episodes if e.returned_at is None and e.started_at <= now), key=lambda e: e.started_at):
        s5.rows.append([who(e.child.ref, e.child.label), episode_word(e.episode_type), at(e.started_at),
                        duration(now - e.started_at), risk_word(e.risk_grade)])
    sections.append(s5)

    # 6. Where children were found, most frequent first.
    s6 = Section(6, "Where children were found", ["Place", "Episodes", "Children"])
    places: dict[str, list[EpisodeInfo]] = defaultdict(list)
    spelling: dict[str, str] = {}
    unrecorded = 0
    for e in sorted(episodes, key=lambda e: (e.returned_at or e.started_at, e.id)):
        if e.returned_at and period_start <= e.returned_at < end:
            place = " ".join(e.found_location.split())
            if not place:
                unrecorded += 1
                continue
            places[place.casefold()].append(e)
            spelling.setdefault(place.casefold(), place)
    for key in sorted(places, key=lambda k: (-len(places[k]), k)):
        s6.rows.append([spelling[key], str(len(places[key])), str(len({e.child.ref for e in places[key]}))])
    if unrecorded:
        s6.note = f"Not recorded for {unrecorded} return{'s' if unrecorded != 1 else ''}."
    sections.append(s6)

    # 7. CSE and CCE concerns.
    s7 = Section(7, "CSE and CCE concerns", ["Child", "CSE", "CCE", "Episodes with a concern"])
    concerns: dict[str, list[EpisodeInfo]] = defaultdict(list)
    for e in in_period:
        if e.cse_concern or e.cce_concern:
            concerns[e.child.ref].append(e)
    for ref in sorted(concerns, key=lambda r: (not concerns[r][0].child.looked_after, r)):
        eps = concerns[ref]
        s7.rows.append([who(ref, eps[0].child.label), "yes" if any(e.cse_concern for e in eps) else "no",
                        "yes" if any(e.cce_concern for e in eps) else "no", str(len(eps))])
    sections.append(s7)

    # 8. Open actions.
    today = now.astimezone(zone).date()
    s8 = Section(8, "Open actions from earlier meetings", ["#", "For", "Action", "Owner", "Due"])
    for a in sorted(actions, key=lambda a: (a.due_on, a.id)):
        due = a.due_on.strftime("%a %d %b %Y") + (" (overdue)" if a.due_on < today else "")
        s8.rows.append([str(a.id), who(a.child.ref, a.child.label) if a.child else "general", a.text,
                        Person(a.owner_user_id), due])
    sections.append(s8)

    # 9. Headline figures against the previous period.
    this = headline(episodes, period_start, end, now, protocol)
    prev = headline(episodes, previous_start, period_start, now, protocol)
    s9 = Section(9, "Headline figures", ["Figure", "This period", "Previous period", "Change"])
    for name, value in this.items():
        change = value - prev[name]
        s9.rows.append([name, str(value), str(prev[name]), f"{change:+d}" if change else "0"])
    s9.note = f"Previous period {at(previous_start)} to {at(period_start)}."
    sections.append(s9)

    return Agenda(series=series, meeting=meeting, period_start=period_start, period_end=end,
                  built_at=now, zone=zone, sections=sections)


# -- renderers (documents; the posted summary is bot/render_agenda.py) ----------------------
def cell_text(cell) -> str:
    """A cell as document text: an action's owner (a Person) by their platform id."""
    return cell if isinstance(cell, str) else f"@{cell.id}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(agenda: Agenda) -> str:
    lines = [f"# {agenda.title}", "", f"_{agenda.period}. Built {local(agenda.built_at, agenda.zone)}._", ""]
    for s in agenda.sections:
        lines += [f"## {s.number}. {s.title}", ""]
        if s.note:
            lines += [s.note, ""]
        if not s.rows:
            lines += [s.empty, ""]
            continue
        lines.append("| " + " | ".join(s.columns) + " |")
        lines.append("|" + "---|" * len(s.columns))
        lines += ["| " + " | ".join(_md_cell(cell_text(c)) for c in row) + " |" for row in s.rows]
        lines.append("")
    return "\n".join(lines)


def to_html(agenda: Agenda) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(agenda.title)}</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #999;padding:.2em .5em;text-align:left}</style></head><body>",
           f"<h1>{e(agenda.title)}</h1>",
           f"<p><em>{e(agenda.period)}. Built {e(local(agenda.built_at, agenda.zone))}.</em></p>"]
    for s in agenda.sections:
        out.append(f"<h2>{s.number}. {e(s.title)}</h2>")
        if s.note:
            out.append(f"<p>{e(s.note)}</p>")
        if not s.rows:
            out.append(f"<p>{e(s.empty)}</p>")
            continue
        out.append("<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in s.columns) + "</tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{e(cell_text(c))}</td>" for c in row) + "</tr>" for row in s.rows]
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out)


def summary_text(agenda: Agenda) -> str:
    """The notification text of the posted agenda (no child is named)."""
    s1 = agenda.sections[0]
    return f"{agenda.title}. {s1.note}"
