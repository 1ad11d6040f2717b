"""Board figures: the tables of the Corporate Parenting Board reports, for any period.

Pure: `EpisodeFact` rows in (any iterable, any order: rows as a query streams them), a JSON-ready
dict out (keys fixed by issue 5), plus CSV,
Markdown and a short Slack summary of the same dict. No SQL, no clock: callers pass `now`.

Counting rules (each one is a choice a board report author should be able to read here):
- an episode belongs to the period when it *started* within it: local dates, both inclusive;
- "children" in a breakdown are the distinct children with at least one episode in that row,
  so a child who moved placement is counted under both placement types;
- age band is the child's age on the local date the episode started;
- durations: under 24 h, 24 h up to 72 h, 72 h up to 7 days, 7 days or more; open = ongoing;
- return interviews, over the episodes of the period that have ended: completed within the
  protocol's hours of the return = in timescale; completed later (or with no time) = out of
  timescale; declined; voided; no outcome and deadline passed = incomplete; else pending.
- missing and away from placement: every total also counts the two apart (`by_episode_type`).
- reasons are free text and never leave the record: only whether one was recorded is counted.
  Push/pull factors are counted per factor (an episode with two factors counts under both).
- who held the return interview (independent of the placement or not, signed off by a manager or
  not) is counted over the *completed* interviews of the period's episodes.
- strategy meetings, intervention planning meetings and strategy discussions count in the period
  they were *held*; "how soon" runs from when the alert that asked for one was raised (stored and
  sent: `alerts.created_at`) to when it was held (a meeting held before the alert counts as 0
  hours); within 1 working day = by the same time on the next working day (weekends and English
  bank holidays skipped).
- withdrawn episodes (recorded in error) count in nothing above; `withdrawn` says how many there
  were, so the board can see corrections happened.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Generator, Iterable
from zoneinfo import ZoneInfo

from bot.csvsafe import csv_text
from bot.protocol.config import Protocol
from bot.protocol import words
from bot.protocol.meetings import is_working_day
from bot.protocol.words import EPISODE_TYPES, GENDERS, HELD_MEETING_KINDS, PLACEMENT_TYPES

AGE_BANDS = ("under_13", "13_15", "16_17", "18_plus", "unknown")
DURATION_BANDS = ("under_24h", "24h_to_72h", "72h_to_7d", "over_7d", "ongoing")
RI_KEYS = ("in_timescale", "out_of_timescale", "declined", "voided", "incomplete", "pending")
TOP_N = 12


@dataclass(frozen=True)
class EpisodeFact:
    """One episode with the child's details the figures need. All times aware UTC."""

    child_ref: str
    date_of_birth: date | None
    gender: str
    looked_after: bool  # at the episode
    placement_type: str  # at the episode
    episode_type: str  # missing | away
    started_at: datetime
    returned_at: datetime | None
    found_location: str = ""
    cse: bool = False
    cce: bool = False
    ri_outcome: str | None = None
    ri_at: datetime | None = None
    reason_recorded: bool = False  # whether a reason was written (the text itself never comes here)
    factors: tuple[str, ...] = ()  # push/pull factor codes
    ri_independent: bool | None = None  # None: not recorded
    ri_signed_off: bool = False
    placed_by: str | None = None  # the placing council of another council's child placed here


@dataclass(frozen=True)
class MeetingFact:
    """A strategy meeting, IPM or strategy discussion held, and when the alert that asked for it was raised."""

    kind: str  # strategy | ipm | discussion
    held_at: datetime
    alert_at: datetime | None = None  # None: recorded without an alert


def one_working_day_after(t: datetime, zone: ZoneInfo) -> datetime:
    """The same local time on the next working day (weekends and English bank holidays skipped)."""
    local = t.astimezone(zone)
    day = local.date() + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, local.time(), zone).astimezone(timezone.utc)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return round(v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2, 1)


def meetings_held(meetings: list[MeetingFact], start: datetime, end: datetime, zone: ZoneInfo) -> dict:
    out = {}
    for kind in HELD_MEETING_KINDS:
        held = [m for m in meetings if m.kind == kind and start <= m.held_at < end]
        asked = [m for m in held if m.alert_at is not None]
        hours = [max(0.0, (m.held_at - m.alert_at).total_seconds() / 3600) for m in asked]
        within = sum(1 for m in asked if m.held_at <= one_working_day_after(m.alert_at, zone))
        out[kind] = {"held": len(held), "after_alert": len(asked), "median_hours_after_alert": _median(hours),
                     "within_1_working_day": within, "later": len(asked) - within}
    return out


def period_bounds(period_from: date, period_to: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local dates `period_from`..`period_to` inclusive."""
    start = datetime.combine(period_from, time(0), zone).astimezone(timezone.utc)
    end = datetime.combine(period_to + timedelta(days=1), time(0), zone).astimezone(timezone.utc)
    return start, end


def age_on(dob: date | None, day: date) -> int | None:
    if dob is None:
        return None
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def age_band(age: int | None) -> str:
    if age is None or age < 0:
        return "unknown"
    if age < 13:
        return "under_13"
    if age < 16:
        return "13_15"
    if age < 18:
        return "16_17"
    return "18_plus"


def duration_band(started: datetime, returned: datetime | None) -> str:
    if returned is None:
        return "ongoing"
    hours = (returned - started).total_seconds() / 3600
    if hours < 24:
        return "under_24h"
    if hours < 72:
        return "24h_to_72h"
    if hours < 24 * 7:
        return "72h_to_7d"
    return "over_7d"


def ri_status(fact: EpisodeFact, interview_hours: int | timedelta, now: datetime) -> str | None:
    """The return-interview bucket of an ended episode; None while the episode is open."""
    if fact.returned_at is None:
        return None
    deadline = fact.returned_at + (interview_hours if isinstance(interview_hours, timedelta)
                                   else timedelta(hours=interview_hours))
    if fact.ri_outcome == "completed":
        return "in_timescale" if fact.ri_at is not None and fact.ri_at <= deadline else "out_of_timescale"
    if fact.ri_outcome in ("declined", "voided"):
        return fact.ri_outcome
    return "incomplete" if now > deadline else "pending"


def _months(period_from: date, period_to: date) -> list[str]:
    out, y, m = [], period_from.year, period_from.month
    while (y, m) <= (period_to.year, period_to.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _keyed(order: tuple[str, ...], episodes: Counter, children: dict[str, set]) -> dict:
    keys = list(order) + sorted(k for k in episodes if k not in order)
    return {k: {"children": len(children.get(k, ())), "episodes": episodes.get(k, 0)} for k in keys}


# The tables given for missing and away from placement side by side (`by_episode_type`).
BY_TYPE_KEYS = ("episodes", "children", "by_gender", "by_placement_type", "by_age_band", "durations",
                "return_interviews", "concerns")


def compute_figures(episodes: Iterable[EpisodeFact], period_from: date, period_to: date, zone: ZoneInfo,
                    protocol: Protocol, now: datetime, top_n: int = TOP_N, *,
                    meetings: list[MeetingFact] = (), withdrawn: int = 0) -> dict:
    """The figures of the episodes that started within the period (local dates, inclusive), the
    meetings held in it, and `withdrawn`: how many withdrawn episodes started in it (counted
    separately by the caller: `episodes` holds live episodes only).

    `episodes` may be any iterable, in any order (a query's rows as they stream in): one pass
    feeds every table's tally, which keeps counts per child and per category, never the
    episodes. Where order shows (a child's placement types, how a place found is spelt) it is
    that of the earliest episode, ties broken by case reference."""
    if period_to < period_from:
        raise ValueError("the period ends before it starts")
    start, end = period_bounds(period_from, period_to, zone)
    overall = _figures(period_from, period_to, zone, protocol, now, top_n)
    # Missing and away side by side need only BY_TYPE_KEYS: no months, top children or places.
    by_type = {etype: _figures(period_from, period_to, zone, protocol, now, 0, full=False) for etype in EPISODE_TYPES}
    practice = _practice(protocol)
    placed = _placed_by(protocol, now)
    for tally in (overall, practice, placed, *by_type.values()):
        next(tally)
    for f in episodes:
        if start <= f.started_at < end:
            overall.send(f)
            practice.send(f)
            placed.send(f)
            of_type = by_type.get(f.episode_type)
            if of_type is not None:
                of_type.send(f)
    fig = _result(overall)
    fig["placed_by_other_councils"] = _result(placed)
    fig["by_episode_type"] = {}
    for etype, tally in by_type.items():
        sub = _result(tally)
        fig["by_episode_type"][etype] = {k: sub[k] for k in BY_TYPE_KEYS}
    fig.update(_result(practice))
    fig["meetings_held"] = meetings_held(list(meetings), start, end, zone)
    fig["withdrawn"] = {"episodes": withdrawn}
    return fig


def _result(tally: Generator[None, EpisodeFact | None, dict]) -> dict:
    """What a tally (`_figures`, `_practice`) adds up to: send it None."""
    try:
        tally.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("a tally did not finish")


def _practice(protocol: Protocol) -> Generator[None, EpisodeFact | None, dict]:
    """Reasons and push/pull factors, concerns by type, and who held the completed interviews.
    A tally: send it each episode of the period, then None for the figures."""
    # The stored codes (`family_conflict`), in the protocol file's order; the file lists the words.
    known = tuple(protocol.factors)
    factor_e: Counter = Counter({k: 0 for k in known})
    factor_c: dict[str, set] = defaultdict(set)
    concern_e: Counter = Counter()
    concern_c: dict[str, set] = defaultdict(set)
    indep: Counter = Counter()
    total = with_factors = completed = signed = reasons = 0
    while (f := (yield)) is not None:
        total += 1
        codes = list(dict.fromkeys(f.factors or ()))
        with_factors += bool(codes)
        for code in codes:
            factor_e[code] += 1
            factor_c[code].add(f.child_ref)
        kind = {(True, True): "both", (True, False): "cse_only", (False, True): "cce_only"}.get((f.cse, f.cce), "none")
        concern_e[kind] += 1
        concern_c[kind].add(f.child_ref)
        if f.returned_at is not None and f.ri_outcome == "completed":
            completed += 1
            indep["not_recorded" if f.ri_independent is None else
                  "independent" if f.ri_independent else "not_independent"] += 1
            signed += bool(f.ri_signed_off)
        reasons += bool(f.reason_recorded)
    return {
        "reasons": {"recorded": reasons, "not_recorded": total - reasons},
        "push_pull_factors": {"episodes_with_factors": with_factors, "episodes_without": total - with_factors,
                              "by_factor": _keyed(known, factor_e, factor_c)},
        "concerns_by_type": _keyed(("cse_only", "cce_only", "both", "none"), concern_e, concern_c),
        "return_interviews_completed": {
            "completed": completed,
            "by_independent_person": {k: indep.get(k, 0) for k in ("independent", "not_independent", "not_recorded")},
            "signed_off": {"signed_off": signed, "not_signed_off": completed - signed},
        },
    }


def _figures(period_from: date, period_to: date, zone: ZoneInfo, protocol: Protocol, now: datetime,
             top_n: int, *, full: bool = True) -> Generator[None, EpisodeFact | None, dict]:
    """The tables of issue 5 as a tally: send it each episode of the period, then None. Not
    `full`: BY_TYPE_KEYS only (by month, top children and places found left empty)."""
    per_child: Counter = Counter()
    child_types: dict[str, dict[str, datetime]] = defaultdict(dict)  # placement type -> its first start
    gender_e, placement_e, band_e = Counter(), Counter(), Counter()
    gender_c, placement_c, band_c = defaultdict(set), defaultdict(set), defaultdict(set)
    months = {m: {"episodes": 0, "children": set(), "types": defaultdict(set)} for m in _months(period_from, period_to)}
    month_of: dict[date, dict] = {}
    durations = Counter({k: 0 for k in DURATION_BANDS})
    ri = Counter({k: 0 for k in RI_KEYS})
    found: Counter = Counter()
    found_label: dict[str, tuple[datetime, str, str]] = {}  # key -> (first start, child, spelling)
    spelling: dict[str, str] = {}
    cse = cce = total = 0
    interview = timedelta(hours=protocol.interview_hours)
    refs: dict[str, str] = {}  # one string per child, however many rows name it

    while (f := (yield)) is not None:
        started = f.started_at
        total += 1
        ref = refs.setdefault(f.child_ref, f.child_ref)
        local_day = started.astimezone(zone).date()
        per_child[ref] += 1
        if full:
            types = child_types[ref]
            if f.placement_type not in types or started < types[f.placement_type]:
                types[f.placement_type] = started
        band = age_band(age_on(f.date_of_birth, local_day))
        for counter, sets, key in ((gender_e, gender_c, f.gender), (placement_e, placement_c, f.placement_type),
                                   (band_e, band_c, band)):
            counter[key] += 1
            sets[key].add(ref)
        if full:
            month = month_of.get(local_day)
            if month is None:
                month = month_of[local_day] = months[f"{local_day.year:04d}-{local_day.month:02d}"]
            month["episodes"] += 1
            month["children"].add(ref)
            month["types"][f.placement_type].add(ref)
        durations[duration_band(started, f.returned_at)] += 1
        status = ri_status(f, interview, now)
        if status and not placing_councils_interview(f, protocol):  # reported apart: placed_by_other_councils
            ri[status] += 1
        if full and f.returned_at is not None and f.found_location:
            location = spelling.get(f.found_location)
            if location is None:
                location = spelling[f.found_location] = " ".join(f.found_location.split())
            if location:
                key = location.casefold()
                found[key] += 1
                first = found_label.get(key)
                if first is None or started <= first[0] and (started, ref) < first[:2]:
                    found_label[key] = (started, ref, location)
        cse += f.cse
        cce += f.cce

    threshold = protocol.report_persistent_threshold
    persistent = {c: n for c, n in per_child.items() if n >= threshold}
    ranked = sorted(per_child.items(), key=lambda item: (-item[1], item[0]))
    top10 = sum(n for _, n in ranked[:10])
    return {
        "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
        "episodes": total,
        "children": len(per_child),
        "by_gender": _keyed(GENDERS, gender_e, gender_c),
        "by_placement_type": _keyed(PLACEMENT_TYPES, placement_e, placement_c),
        "by_age_band": _keyed(AGE_BANDS, band_e, band_c),
        "by_month": [
            {"month": m, "episodes": v["episodes"], "children": len(v["children"]),
             "children_by_placement_type": {t: len(v["types"].get(t, ())) for t in PLACEMENT_TYPES}}
            for m, v in months.items()
        ],
        "durations": dict(durations),
        "persistent": {"threshold": threshold, "children": len(persistent), "episodes": sum(persistent.values())},
        "non_persistent": {"children": len(per_child) - len(persistent), "episodes": total - sum(persistent.values())},
        "top_children": [{"child_ref": c, "episodes": n, "placement_types": sorted(child_types[c], key=child_types[c].get)}
                         for c, n in ranked[:top_n]],
        "top10_episode_share": round(top10 / total, 4) if total else 0.0,
        "return_interviews": dict(ri),
        "found_locations": [{"location": found_label[k][2], "episodes": n}
                            for k, n in sorted(found.items(), key=lambda item: (-item[1], item[0]))],
        "concerns": {"cse": cse, "cce": cce},
    }


def placing_councils_interview(f: EpisodeFact, protocol: Protocol) -> bool:
    """A placed-by child's return interview is the placing council's (unless `placed_by_interviews = "ours"`)."""
    return bool(f.placed_by) and protocol.placed_by_interviews != "ours"


def _placed_by(protocol: Protocol, now: datetime) -> Generator[None, EpisodeFact | None, dict]:
    """Children placed here by other councils (Derby 2013's "other authorities placing children in
    Derby"): episodes and children by placing council, with their return interviews. A tally."""
    by: dict[str, dict] = {}
    children: set[str] = set()
    while (f := (yield)) is not None:
        if not f.placed_by:
            continue
        row = by.setdefault(f.placed_by, {"council": f.placed_by, "episodes": 0, "children": set(),
                                          "return_interviews": {k: 0 for k in RI_KEYS}})
        row["episodes"] += 1
        row["children"].add(f.child_ref)
        children.add(f.child_ref)
        status = ri_status(f, protocol.interview_hours, now)
        if status:
            row["return_interviews"][status] += 1
    rows = [{**r, "children": len(r["children"])} for r in sorted(by.values(), key=lambda r: (-r["episodes"], r["council"]))]
    return {"episodes": sum(r["episodes"] for r in rows), "children": len(children),
            "interviews": protocol.placed_by_interviews, "by_council": rows}


# ---------------------------------------------------------------- renderers

def label(key: str) -> str:
    """The words a table shows for a key: the protocol's words (bot.protocol.words) for codes."""
    special = {"under_13": "Under 13", "13_15": "13-15", "16_17": "16-17",
               "18_plus": "18 and over", "under_24h": "Under 24 hours", "24h_to_72h": "24 to 72 hours",
               "72h_to_7d": "72 hours to 7 days", "over_7d": "7 days or more", "cse": "CSE concern",
               "cce": "CCE concern"}
    if key in special:
        return special[key]
    for table in (words.PLACEMENT_WORDS, words.GENDER_WORDS, words.EPISODE_WORDS, words.HELD_MEETING_WORDS,
                  words.RISK_WORDS):
        if key in table:
            text = table[key]
            return text[:1].upper() + text[1:]
    return key.replace("_", " ").capitalize()


def percent(share: float) -> str:
    return f"{share:.0%}" if share == 0 or share >= 0.1 else f"{share:.1%}"


def _hours_text(h) -> str:
    return "-" if h is None else f"{h:g}"


def tables(fig: dict) -> list[tuple[str, list[str], list[list]]]:
    """The figures as (title, header, rows) tables: what CSV and Markdown both print. The main
    tables give missing and away-from-placement episodes side by side in their last two columns."""
    p = fig["persistent"]
    by_type = fig["by_episode_type"]
    mis, away = by_type["missing"], by_type["away"]
    out: list[tuple[str, list[str], list[list]]] = [
        ("Summary", ["Measure", "Value"], [
            ["Period from", fig["period"]["from"]], ["Period to", fig["period"]["to"]],
            ["Episodes", fig["episodes"]], ["Children", fig["children"]],
            [f"Persistent children ({p['threshold']}+ episodes)", p["children"]],
            ["Episodes of persistent children", p["episodes"]],
            ["Non-persistent children", fig["non_persistent"]["children"]],
            ["Episodes of non-persistent children", fig["non_persistent"]["episodes"]],
            ["Share of episodes by the top 10 children", percent(fig["top10_episode_share"])],
            ["Missing episodes", mis["episodes"]], ["Children missing", mis["children"]],
            ["Away-from-placement episodes", away["episodes"]], ["Children away from placement", away["children"]],
            ["Withdrawn episodes (recorded in error; counted in nothing above)", fig["withdrawn"]["episodes"]],
        ]),
    ]
    side = ["Missing episodes", "Away episodes"]
    for title, key in (("By gender", "by_gender"), ("By placement type", "by_placement_type"),
                       ("By age band", "by_age_band")):
        out.append((title, [title.removeprefix("By ").capitalize(), "Children", "Episodes"] + side,
                    [[label(k), v["children"], v["episodes"], mis[key].get(k, {}).get("episodes", 0),
                      away[key].get(k, {}).get("episodes", 0)] for k, v in fig[key].items()]))
    out.append(("By month", ["Month", "Episodes", "Children"] + [label(t) for t in PLACEMENT_TYPES],
                [[m["month"], m["episodes"], m["children"]] + [m["children_by_placement_type"][t] for t in PLACEMENT_TYPES]
                 for m in fig["by_month"]]))
    out.append(("Duration", ["Duration", "Episodes"] + side,
                [[label(k), n, mis["durations"].get(k, 0), away["durations"].get(k, 0)]
                 for k, n in fig["durations"].items()]))
    out.append(("Return interviews", ["Return interview", "Episodes"] + side,
                [[label(k), n, mis["return_interviews"].get(k, 0), away["return_interviews"].get(k, 0)]
                 for k, n in fig["return_interviews"].items()]))
    ric = fig["return_interviews_completed"]
    out.append(("Completed return interviews: who held them", ["Measure", "Interviews"], [
        ["Completed", ric["completed"]],
        ["By a person independent of the placement", ric["by_independent_person"]["independent"]],
        ["By the carer or placement (not independent)", ric["by_independent_person"]["not_independent"]],
        ["Independence not recorded", ric["by_independent_person"]["not_recorded"]],
        ["Signed off by a manager", ric["signed_off"]["signed_off"]],
        ["Not signed off", ric["signed_off"]["not_signed_off"]],
    ]))
    out.append(("Top children", ["Rank", "Child", "Episodes", "Placement types"],
                [[i, c["child_ref"], c["episodes"], ", ".join(label(t) for t in c["placement_types"])]
                 for i, c in enumerate(fig["top_children"], 1)]))
    out.append(("Where found", ["Location", "Episodes"], [[f["location"], f["episodes"]] for f in fig["found_locations"]]))
    out.append(("Concerns", ["Concern", "Episodes"] + side,
                [[label(k), n, mis["concerns"][k], away["concerns"][k]] for k, n in fig["concerns"].items()]))
    out.append(("Concerns by type", ["Concern", "Children", "Episodes"],
                [[CONCERN_WORDS[k], v["children"], v["episodes"]] for k, v in fig["concerns_by_type"].items()]))
    r, pp = fig["reasons"], fig["push_pull_factors"]
    out.append(("Reasons and push/pull factors", ["Measure", "Children", "Episodes"], [
        ["Reason recorded", "", r["recorded"]], ["No reason recorded", "", r["not_recorded"]],
        ["Push/pull factors recorded", "", pp["episodes_with_factors"]],
        ["No push/pull factor recorded", "", pp["episodes_without"]],
    ] + [[f"Factor: {label(k)}", v["children"], v["episodes"]] for k, v in pp["by_factor"].items()]))
    out.append(("Meetings held", ["Meeting", "Held", "After an alert", "Median hours after the alert",
                                  "Within 1 working day", "Later"],
                [[label(k), v["held"], v["after_alert"], _hours_text(v["median_hours_after_alert"]),
                  v["within_1_working_day"], v["later"]] for k, v in fig["meetings_held"].items()]))
    pb = fig.get("placed_by_other_councils") or {"by_council": []}
    out.append(("Children placed here by other councils", ["Placing council", "Episodes", "Children"]
                + [f"Return interview: {label(k).lower()}" for k in RI_KEYS],
                [[r["council"], r["episodes"], r["children"]] + [r["return_interviews"][k] for k in RI_KEYS]
                 for r in pb["by_council"]]))
    return out


CONCERN_WORDS = {"cse_only": "CSE only", "cce_only": "CCE only", "both": "CSE and CCE", "none": "Neither"}


def to_csv(fig: dict) -> str:
    """One CSV with a titled table per section, separated by blank lines (pastes into a spreadsheet)."""
    out: list[list] = []
    for i, (title, header, rows) in enumerate(tables(fig)):
        if i:
            out.append([])
        out += [[title], header, *rows]
    return csv_text(out, lineterminator="\n")  # every cell neutralised (bot/csvsafe.py)


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(fig: dict) -> str:
    lines = [f"# Missing episodes {fig['period']['from']} to {fig['period']['to']}", ""]
    for title, header, rows in tables(fig):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
        if not rows:
            lines.append("| " + " | ".join(["-"] * len(header)) + " |")
        lines.append("")
    return "\n".join(lines)


def summary_text(fig: dict) -> str:
    """A short Slack (mrkdwn) summary: aggregate figures only, no child references."""
    ri = fig["return_interviews"]
    p = fig["persistent"]
    d = fig["durations"]
    genders = ", ".join(f"{label(k)} {v['episodes']}" for k, v in fig["by_gender"].items() if v["episodes"])
    places = ", ".join(f"{label(k)} {v['episodes']}" for k, v in
                       sorted(fig["by_placement_type"].items(), key=lambda kv: -kv[1]["episodes"]) if v["episodes"])
    found = ", ".join(f"{f['location']} ({f['episodes']})" for f in fig["found_locations"][:5])
    lines = [
        f"*Missing episodes {fig['period']['from']} to {fig['period']['to']}*",
        f"{fig['episodes']} episodes, {fig['children']} children. "
        f"Persistent ({p['threshold']}+): {p['children']} children, {p['episodes']} episodes; "
        f"top 10 children: {percent(fig['top10_episode_share'])} of episodes.",
        f"Duration: under 24 h {d['under_24h']}, 24-72 h {d['24h_to_72h']}, 72 h-7 d {d['72h_to_7d']}, "
        f"7 d+ {d['over_7d']}, still missing {d['ongoing']}.",
        f"Return interviews: in timescale {ri['in_timescale']}, out of timescale {ri['out_of_timescale']}, "
        f"declined {ri['declined']}, voided {ri['voided']}, incomplete {ri['incomplete']}, pending {ri['pending']}.",
    ]
    if genders:
        lines.append(f"By gender: {genders}.")
    if places:
        lines.append(f"By placement: {places}.")
    if found:
        lines.append(f"Most found at: {found}.")
    lines.append(f"CSE concerns {fig['concerns']['cse']}, CCE concerns {fig['concerns']['cce']}.")
    pb = fig.get("placed_by_other_councils") or {}
    if pb.get("episodes"):
        lines.append(f"Placed here by other councils: {pb['children']} children, {pb['episodes']} episodes "
                     f"(their return interviews are reported apart).")
    return "\n".join(lines + practice_lines(fig))


def practice_lines(fig: dict) -> list[str]:
    """The issue-8 figures in the Slack summary: missing vs away, withdrawn, concerns by type,
    reasons and factors, who held the interviews, meetings held. Aggregates only."""
    mis, away = fig["by_episode_type"]["missing"], fig["by_episode_type"]["away"]
    c, r, pp = fig["concerns_by_type"], fig["reasons"], fig["push_pull_factors"]
    ric = fig["return_interviews_completed"]
    ind = ric["by_independent_person"]
    lines = [
        f"Missing {mis['episodes']} episodes ({mis['children']} children); away from placement {away['episodes']} "
        f"({away['children']} children). Withdrawn as recorded in error (not counted): {fig['withdrawn']['episodes']}.",
        f"Concerns by type: CSE only {c['cse_only']['episodes']}, CCE only {c['cce_only']['episodes']}, "
        f"both {c['both']['episodes']}.",
        f"Reason recorded for {r['recorded']} of {fig['episodes']} episodes; push/pull factors for "
        f"{pp['episodes_with_factors']}.",
    ]
    factors = ", ".join(f"{label(k).lower()} {v['episodes']}" for k, v in
                        sorted(pp["by_factor"].items(), key=lambda kv: -kv[1]["episodes"]) if v["episodes"])
    if factors:
        lines.append(f"Factors: {factors}.")
    lines.append(f"Completed return interviews {ric['completed']}: by an independent person {ind['independent']}, "
                 f"by the carer or placement {ind['not_independent']}, not recorded {ind['not_recorded']}; "
                 f"signed off {ric['signed_off']['signed_off']}.")
    held = []
    for kind, v in fig["meetings_held"].items():
        if v["held"]:
            how_soon = (f" (median {_hours_text(v['median_hours_after_alert'])} h after the alert, "
                        f"{v['within_1_working_day']} of {v['after_alert']} within 1 working day)") if v["after_alert"] else ""
            held.append(f"{label(kind).lower()}s {v['held']}{how_soon}")
    lines.append("Meetings held: " + ("; ".join(held) if held else "none recorded") + ".")
    return lines
