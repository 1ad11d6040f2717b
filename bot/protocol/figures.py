"""Board figures: the tables of the Corporate Parenting Board reports, for any period.

Pure: a list of `EpisodeFact` in, a JSON-ready dict out (keys fixed by issue 5), plus CSV,
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
"""
from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.protocol.config import Protocol
from bot.protocol import words
from bot.protocol.words import GENDERS, PLACEMENT_TYPES

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


def ri_status(fact: EpisodeFact, interview_hours: int, now: datetime) -> str | None:
    """The return-interview bucket of an ended episode; None while the episode is open."""
    if fact.returned_at is None:
        return None
    deadline = fact.returned_at + timedelta(hours=interview_hours)
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


def compute_figures(episodes: list[EpisodeFact], period_from: date, period_to: date, zone: ZoneInfo,
                    protocol: Protocol, now: datetime, top_n: int = TOP_N) -> dict:
    """The figures of the episodes that started within the period (local dates, inclusive)."""
    if period_to < period_from:
        raise ValueError("the period ends before it starts")
    start, end = period_bounds(period_from, period_to, zone)
    facts = sorted((f for f in episodes if start <= f.started_at < end), key=lambda f: (f.started_at, f.child_ref))

    per_child: Counter = Counter()
    child_types: dict[str, list[str]] = defaultdict(list)
    gender_e, placement_e, band_e = Counter(), Counter(), Counter()
    gender_c, placement_c, band_c = defaultdict(set), defaultdict(set), defaultdict(set)
    months = {m: {"episodes": 0, "children": set(), "types": defaultdict(set)} for m in _months(period_from, period_to)}
    durations = Counter({k: 0 for k in DURATION_BANDS})
    ri = Counter({k: 0 for k in RI_KEYS})
    found: Counter = Counter()
    found_label: dict[str, str] = {}
    cse = cce = 0

    for f in facts:
        local_day = f.started_at.astimezone(zone).date()
        per_child[f.child_ref] += 1
        if f.placement_type not in child_types[f.child_ref]:
            child_types[f.child_ref].append(f.placement_type)
        band = age_band(age_on(f.date_of_birth, local_day))
        for counter, sets, key in ((gender_e, gender_c, f.gender), (placement_e, placement_c, f.placement_type),
                                   (band_e, band_c, band)):
            counter[key] += 1
            sets[key].add(f.child_ref)
        month = months[f"{local_day.year:04d}-{local_day.month:02d}"]
        month["episodes"] += 1
        month["children"].add(f.child_ref)
        month["types"][f.placement_type].add(f.child_ref)
        durations[duration_band(f.started_at, f.returned_at)] += 1
        status = ri_status(f, protocol.interview_hours, now)
        if status:
            ri[status] += 1
        location = " ".join(f.found_location.split())
        if f.returned_at is not None and location:
            found[location.casefold()] += 1
            found_label.setdefault(location.casefold(), location)
        cse += f.cse
        cce += f.cce

    threshold = protocol.report_persistent_threshold
    persistent = {c: n for c, n in per_child.items() if n >= threshold}
    ranked = sorted(per_child.items(), key=lambda item: (-item[1], item[0]))
    total = len(facts)
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
        "top_children": [{"child_ref": c, "episodes": n, "placement_types": child_types[c]} for c, n in ranked[:top_n]],
        "top10_episode_share": round(top10 / total, 4) if total else 0.0,
        "return_interviews": dict(ri),
        "found_locations": [{"location": found_label[k], "episodes": n}
                            for k, n in sorted(found.items(), key=lambda item: (-item[1], item[0]))],
        "concerns": {"cse": cse, "cce": cce},
    }


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


def tables(fig: dict) -> list[tuple[str, list[str], list[list]]]:
    """The figures as (title, header, rows) tables: what CSV and Markdown both print."""
    p = fig["persistent"]
    out: list[tuple[str, list[str], list[list]]] = [
        ("Summary", ["Measure", "Value"], [
            ["Period from", fig["period"]["from"]], ["Period to", fig["period"]["to"]],
            ["Episodes", fig["episodes"]], ["Children", fig["children"]],
            [f"Persistent children ({p['threshold']}+ episodes)", p["children"]],
            ["Episodes of persistent children", p["episodes"]],
            ["Non-persistent children", fig["non_persistent"]["children"]],
            ["Episodes of non-persistent children", fig["non_persistent"]["episodes"]],
            ["Share of episodes by the top 10 children", percent(fig["top10_episode_share"])],
        ]),
    ]
    for title, key in (("By gender", "by_gender"), ("By placement type", "by_placement_type"),
                       ("By age band", "by_age_band")):
        out.append((title, [title.removeprefix("By ").capitalize(), "Children", "Episodes"],
                    [[label(k), v["children"], v["episodes"]] for k, v in fig[key].items()]))
    out.append(("By month", ["Month", "Episodes", "Children"] + [label(t) for t in PLACEMENT_TYPES],
                [[m["month"], m["episodes"], m["children"]] + [m["children_by_placement_type"][t] for t in PLACEMENT_TYPES]
                 for m in fig["by_month"]]))
    out.append(("Duration", ["Duration", "Episodes"], [[label(k), n] for k, n in fig["durations"].items()]))
    out.append(("Return interviews", ["Return interview", "Episodes"],
                [[label(k), n] for k, n in fig["return_interviews"].items()]))
    out.append(("Top children", ["Rank", "Child", "Episodes", "Placement types"],
                [[i, c["child_ref"], c["episodes"], ", ".join(label(t) for t in c["placement_types"])]
                 for i, c in enumerate(fig["top_children"], 1)]))
    out.append(("Where found", ["Location", "Episodes"], [[f["location"], f["episodes"]] for f in fig["found_locations"]]))
    out.append(("Concerns", ["Concern", "Episodes"], [[label(k), n] for k, n in fig["concerns"].items()]))
    return out


def _csv_cell(value):
    """Text a spreadsheet would run as a formula (=, +, -, @ first) is kept as text with a leading apostrophe."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(fig: dict) -> str:
    """One CSV with a titled table per section, separated by blank lines (pastes into a spreadsheet)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for i, (title, header, rows) in enumerate(tables(fig)):
        if i:
            w.writerow([])
        w.writerow([title])
        w.writerow(header)
        w.writerows([_csv_cell(c) for c in row] for row in rows)
    return buf.getvalue()


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
    return "\n".join(lines)
