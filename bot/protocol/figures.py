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

import gc
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterable, Iterator
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

    `episodes` may be any iterable, in any order (a query's rows as they stream in): each episode
    becomes its row of keys (`episode_keys`: the definition of every per-episode value a table
    counts) and `tally_keys` adds them up. Where order shows (a child's placement types, how a
    place found is spelt) it is that of the earliest episode, ties broken by case reference."""
    if period_to < period_from:
        raise ValueError("the period ends before it starts")
    start, end = period_bounds(period_from, period_to, zone)
    interview = timedelta(hours=protocol.interview_hours)
    ids: dict[str, int] = {}

    def chunks() -> Iterator[list[tuple]]:
        chunk: list[tuple] = []
        for f in episodes:
            if start <= f.started_at < end:
                chunk.append(episode_keys(f, zone, interview, now, ids.setdefault(f.child_ref, len(ids))))
                if len(chunk) >= 10_000:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    return tally_keys(chunks(), period_from, period_to, protocol, top_n, meetings=meetings, withdrawn=withdrawn,
                      zone=zone)


# One episode as the tallies see it: what `episode_keys` gives, and what store/figures.py computes
# in SQL for a report over the whole history (tests/test_figures_sql.py holds the two equal).
KEY_FIELDS = ("child", "child_ref", "episode_type", "gender", "placement_type", "placed_by", "month", "age_band",
              "duration", "return_interview", "found_location", "started_at", "cse", "cce", "reason_recorded",
              "factors", "interview_by", "signed_off")


def episode_keys(f: EpisodeFact, zone: ZoneInfo, interview: timedelta, now: datetime, child: int) -> tuple:
    """The row of keys of one episode (KEY_FIELDS): `child` is any integer naming the child (one per
    case reference); month and age band are of the local date it started; `return_interview` is
    `ri_status` (None while open); `found_location` as written, for ended episodes only;
    `interview_by` is set for completed interviews only."""
    local_day = f.started_at.astimezone(zone).date()
    completed = f.returned_at is not None and f.ri_outcome == "completed"
    return (child, f.child_ref, f.episode_type, f.gender, f.placement_type, f.placed_by or None,
            f"{local_day.year:04d}-{local_day.month:02d}", age_band(age_on(f.date_of_birth, local_day)),
            duration_band(f.started_at, f.returned_at), ri_status(f, interview, now),
            f.found_location if f.returned_at is not None else "", f.started_at, bool(f.cse), bool(f.cce),
            bool(f.reason_recorded), tuple(f.factors) if f.factors else None,
            (("not_recorded" if f.ri_independent is None else "independent" if f.ri_independent else "not_independent")
             if completed else None),
            bool(f.ri_signed_off))


_SHIFT = 20  # child << _SHIFT | (month, placement type) code: one int per pair, not a tuple
_CONCERN_KINDS = {(True, True): "both", (True, False): "cse_only", (False, True): "cce_only"}


def tally_keys(chunks: Iterable[list[tuple]], period_from: date, period_to: date, protocol: Protocol,
               top_n: int = TOP_N, *, meetings: list[MeetingFact] = (), withdrawn: int = 0,
               zone: ZoneInfo | None = None,
               first_starts: Callable[[list[int]], dict[int, dict[str, object]]] | None = None) -> dict:
    """Every table of the figures from the rows of keys (KEY_FIELDS) of the period's episodes, given
    in chunks (lists of rows) in any order. One pass, column by column: it keeps counts per child
    and per category (and one int per child and month), never the episodes.

    `first_starts(children)`: for those children, each placement type's first start in the period
    (what orders a top child's placement types); without it, the pass keeps one per child and type."""
    # The sets and counters grow to a million entries: the cyclic garbage collector, which would
    # scan them again and again as they grow, has nothing to find in them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _tally_keys(chunks, period_from, period_to, protocol, top_n, meetings, withdrawn, zone, first_starts)
    finally:
        if collecting:
            gc.enable()


def _tally_keys(chunks, period_from, period_to, protocol, top_n, meetings, withdrawn, zone, first_starts) -> dict:
    from sys import intern

    placing_theirs = protocol.placed_by_interviews != "ours"
    month_index = {m: i for i, m in enumerate(_months(period_from, period_to))}
    slot: dict[str, int] = {}  # placement type -> its number (< 256)
    profile: set[int] = set()  # child << _SHIFT | code of (type, gender, placement, age band)
    profile_code: dict[tuple, int] = {}
    per_child: Counter = Counter()
    kinds_e = {k: Counter() for k in ("gender", "placement", "band")}  # kind -> (type, key) -> episodes
    month_pairs: set[int] = set()  # child << _SHIFT | month number << 8 | placement type number
    month_e: Counter = Counter()
    dur_e: Counter = Counter()  # (episode type, duration band) -> episodes
    ri_e: Counter = Counter()  # (episode type, return interview) -> episodes
    concern_e: Counter = Counter()  # (episode type, cse, cce) -> episodes
    first_type: dict[tuple[int, str], object] = {}  # (child, placement type) -> first start
    found_e: Counter = Counter()  # place as written -> episodes
    found_first: dict[str, tuple] = {}  # place as written -> (first start, case reference)
    ref_of: dict[int, str] = {}
    concern_c: set[int] = set()  # child << 2 | cse << 1 | cce
    interview_e: Counter = Counter()
    factor_e: Counter = Counter({k: 0 for k in protocol.factors})
    factor_c: dict[str, set] = defaultdict(set)
    with_factors = reasons = total = 0
    placed_rows: list[tuple] = []

    for chunk in chunks:
        if not chunk:
            continue
        (child, ref, etype, gender, ptype, placed, month, band, dur, ri, found, started, cse, cce, reason, factors,
         by, signed) = zip(*chunk)
        total += len(chunk)
        etype, gender, ptype, band = (list(map(intern, c)) for c in (etype, gender, ptype, band))
        ref_of.update(zip(child, ref))
        per_child.update(child)
        for key in set(zip(etype, gender, ptype, band)) - profile_code.keys():
            profile_code[key] = len(profile_code)
        profile.update(c << _SHIFT | profile_code[k] for c, k in zip(child, zip(etype, gender, ptype, band)))
        kinds_e["gender"].update(zip(etype, gender))
        kinds_e["placement"].update(zip(etype, ptype))
        kinds_e["band"].update(zip(etype, band))
        month_e.update(month)
        for p in set(ptype) - slot.keys():
            slot[p] = len(slot)
        if len(slot) > 255:
            raise ValueError("more than 255 placement types")
        month_pairs.update(c << _SHIFT | month_index[m] << 8 | slot[p] for c, m, p in zip(child, month, ptype))
        dur_e.update(zip(etype, dur))
        if any(placed):
            placed_rows += [(child[i], placed[i], ri[i]) for i, p in enumerate(placed) if p]
            if placing_theirs:  # their interviews are reported apart: placed_by_other_councils
                ri = [None if p else r for r, p in zip(ri, placed)]
        ri_e.update(zip(etype, ri))
        concern_e.update(zip(etype, cse, cce))
        concern_c.update(c << 2 | bool(a) << 1 | bool(b) for c, a, b in zip(child, cse, cce))
        interview_e.update(zip(by, signed))
        reasons += sum(map(bool, reason))
        found_e.update(found)
        for place, s, r in zip(found, started, ref):
            if place:
                first = found_first.get(place)
                if first is None or s < first[0] or s == first[0] and r < first[1]:
                    found_first[place] = (s, r)
        if first_starts is None:
            for c, p, s in zip(child, ptype, started):
                first = first_type.get((c, p))
                if first is None or s < first:
                    first_type[c, p] = s
        for i in [i for i, fx in enumerate(factors) if fx]:
            codes = list(dict.fromkeys(factors[i]))
            with_factors += bool(codes)
            for code in codes:
                factor_e[code] += 1
                factor_c[code].add(child[i])

    # Distinct children of each category, overall and per episode type: the profile's codes
    # sorted, so each child's come together.
    mask = (1 << _SHIFT) - 1
    code_profile = {code: key for key, code in profile_code.items()}
    kinds_c = {k: Counter() for k in ("gender", "placement", "band")}
    children_of_type: Counter = Counter()

    def count_child(mine: set) -> None:
        for kind, scope, key in mine:
            if kind == "type":
                children_of_type[key] += 1
            else:
                kinds_c[kind][scope, key] += 1

    mine: set = set()
    last = None
    for x in sorted(profile):
        if x >> _SHIFT != last:
            count_child(mine)
            mine, last = set(), x >> _SHIFT
        e, g, p, b = code_profile[x & mask]
        mine.update((("type", None, e), ("gender", None, g), ("gender", e, g), ("placement", None, p),
                     ("placement", e, p), ("band", None, b), ("band", e, b)))
    count_child(mine)
    del profile
    for kind in kinds_e:
        overall: Counter = Counter()
        for (_, k), n in kinds_e[kind].items():
            overall[None, k] += n
        kinds_e[kind].update(overall)
    episodes_of_type: Counter = Counter()
    for (e, _), n in list(kinds_e["gender"].items()):
        if e is not None:
            episodes_of_type[e] += n

    def keyed(order: tuple[str, ...], kind: str, scope) -> dict:
        e = Counter({k: n for (s, k), n in kinds_e[kind].items() if s == scope})
        c = {k: n for (s, k), n in kinds_c[kind].items() if s == scope}
        return _keyed_counts(order, e, c)

    def durations(scope) -> dict:
        d = Counter({k: 0 for k in DURATION_BANDS})
        for (e, key), n in dur_e.items():
            if scope is None or e == scope:
                d[key] += n
        return dict(d)

    def interviews(scope) -> dict:
        r = Counter({k: 0 for k in RI_KEYS})
        for (e, key), n in ri_e.items():
            if key is not None and (scope is None or e == scope):
                r[key] += n
        return dict(r)

    def concerns(scope) -> dict:
        cse = cce = 0
        for (e, a, b), n in concern_e.items():
            if scope is None or e == scope:
                cse += n * bool(a)
                cce += n * bool(b)
        return {"cse": cse, "cce": cce}

    # By month: episodes, children, children by placement type (the codes sorted: each child's
    # months together).
    month_of = list(month_index)
    placement_of = {n: p for p, n in slot.items()}
    month_c: Counter = Counter()
    month_type_c: Counter = Counter()
    last = None
    for x in sorted(month_pairs):
        month, placement = month_of[(x & mask) >> 8], placement_of[x & 255]
        month_type_c[month, placement] += 1
        if (x >> _SHIFT, month) != last:
            last = (x >> _SHIFT, month)
            month_c[month] += 1
    del month_pairs
    months = {m: {"episodes": month_e.get(m, 0), "children": month_c.get(m, 0),
                  "children_by_placement_type": {t: month_type_c.get((m, t), 0) for t in PLACEMENT_TYPES}}
              for m in month_index}

    threshold = protocol.report_persistent_threshold
    persistent = {c: n for c, n in per_child.items() if n >= threshold}
    ranked = sorted(per_child.items(), key=lambda item: (-item[1], ref_of[item[0]]))
    top10 = sum(n for _, n in ranked[:10])

    if first_starts is not None:
        firsts = first_starts([c for c, _ in ranked[:top_n]])
    else:
        firsts = {c: {} for c, _ in ranked[:top_n]}
        for (c, p), first in first_type.items():
            if c in firsts:
                firsts[c][p] = first
    top = [(c, n, sorted(firsts[c], key=firsts[c].get)) for c, n in ranked[:top_n]]
    found: Counter = Counter()
    found_label: dict[str, tuple] = {}
    for raw, n in found_e.items():
        location = " ".join(raw.split())
        if location:
            key = location.casefold()
            found[key] += n
            first = (*found_first[raw], location)
            if key not in found_label or first[:2] < found_label[key][:2]:
                found_label[key] = first

    fig = {
        "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
        "episodes": total,
        "children": len(per_child),
        "by_gender": keyed(GENDERS, "gender", None),
        "by_placement_type": keyed(PLACEMENT_TYPES, "placement", None),
        "by_age_band": keyed(AGE_BANDS, "band", None),
        "by_month": [{"month": m, **v} for m, v in months.items()],
        "durations": durations(None),
        "persistent": {"threshold": threshold, "children": len(persistent), "episodes": sum(persistent.values())},
        "non_persistent": {"children": len(per_child) - len(persistent), "episodes": total - sum(persistent.values())},
        "top_children": [{"child_ref": ref_of[c], "episodes": n, "placement_types": types}
                         for c, n, types in top],
        "top10_episode_share": round(top10 / total, 4) if total else 0.0,
        "return_interviews": interviews(None),
        "found_locations": [{"location": found_label[k][2], "episodes": n}
                            for k, n in sorted(found.items(), key=lambda item: (-item[1], item[0]))],
        "concerns": concerns(None),
    }
    fig["placed_by_other_councils"] = _placed_by(placed_rows, protocol)
    fig["by_episode_type"] = {
        etype: {"episodes": episodes_of_type.get(etype, 0), "children": children_of_type.get(etype, 0),
                "by_gender": keyed(GENDERS, "gender", etype),
                "by_placement_type": keyed(PLACEMENT_TYPES, "placement", etype),
                "by_age_band": keyed(AGE_BANDS, "band", etype), "durations": durations(etype),
                "return_interviews": interviews(etype), "concerns": concerns(etype)}
        for etype in EPISODE_TYPES}

    concern_kinds: Counter = Counter()
    for (_, a, b), n in concern_e.items():
        concern_kinds[_CONCERN_KINDS.get((bool(a), bool(b)), "none")] += n
    concern_children: Counter = Counter()
    for x in concern_c:
        a, b = bool(x & 2), bool(x & 1)
        concern_children[_CONCERN_KINDS.get((a, b), "none")] += 1
    completed = sum(n for (by, _), n in interview_e.items() if by is not None)
    signed = sum(n for (by, s), n in interview_e.items() if by is not None and s)
    indep = Counter()
    for (by, _), n in interview_e.items():
        if by is not None:
            indep[by] += n
    known = tuple(protocol.factors)
    fig.update({
        "reasons": {"recorded": reasons, "not_recorded": total - reasons},
        "push_pull_factors": {"episodes_with_factors": with_factors, "episodes_without": total - with_factors,
                              "by_factor": _keyed(known, factor_e, factor_c)},
        "concerns_by_type": _keyed_counts(("cse_only", "cce_only", "both", "none"), concern_kinds, concern_children),
        "return_interviews_completed": {
            "completed": completed,
            "by_independent_person": {k: indep.get(k, 0) for k in ("independent", "not_independent", "not_recorded")},
            "signed_off": {"signed_off": signed, "not_signed_off": completed - signed},
        },
    })
    if zone is not None:
        start, end = period_bounds(period_from, period_to, zone)
        fig["meetings_held"] = meetings_held(list(meetings), start, end, zone)
    fig["withdrawn"] = {"episodes": withdrawn}
    return fig


def _keyed_counts(order: tuple[str, ...], episodes: Counter, children: dict[str, int]) -> dict:
    keys = list(order) + sorted(k for k in episodes if k not in order)
    return {k: {"children": children.get(k, 0), "episodes": episodes.get(k, 0)} for k in keys}


def placing_councils_interview(f: EpisodeFact, protocol: Protocol) -> bool:
    """A placed-by child's return interview is the placing council's (unless `placed_by_interviews = "ours"`)."""
    return bool(f.placed_by) and protocol.placed_by_interviews != "ours"


def _placed_by(rows: list[tuple], protocol: Protocol) -> dict:
    """Children placed here by other councils (Derby 2013's "other authorities placing children in
    Derby"): episodes and children by placing council, with their return interviews. `rows`:
    (child, placing council, return interview status or None) of each such episode."""
    by: dict[str, dict] = {}
    children: set = set()
    for child, council, status in rows:
        row = by.setdefault(council, {"council": council, "episodes": 0, "children": set(),
                                      "return_interviews": {k: 0 for k in RI_KEYS}})
        row["episodes"] += 1
        row["children"].add(child)
        children.add(child)
        if status:
            row["return_interviews"][status] += 1
    out = [{**r, "children": len(r["children"])} for r in sorted(by.values(), key=lambda r: (-r["episodes"], r["council"]))]
    return {"episodes": sum(r["episodes"] for r in out), "children": len(children),
            "interviews": protocol.placed_by_interviews, "by_council": out}


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
    """A short summary in neutral markup (bot/messages.py): aggregate figures only, no child references."""
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
    """The issue-8 figures in the posted summary: missing vs away, withdrawn, concerns by type,
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
