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
from operator import itemgetter
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
    counts), `tally_keys` packs them (`pack_keys`) and `tally_packed` adds them up, as it does the
    rows the database packs for a report over the record. Where order shows (a child's placement types, how a
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


# One episode as the tallies see it: what `episode_keys` gives; store/figures.py computes the same
# in SQL, packed (`pack_keys`), for a report over the record (tests/test_figures_sql.py).
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


_CONCERN_KINDS = {(True, True): "both", (True, False): "cse_only", (False, True): "cce_only"}
INTERVIEW_BY = ("independent", "not_independent", "not_recorded")

# One episode packed for the tally: the categorical keys of `episode_keys` and the month (as a
# count of months) as one integer (the layout below: field -> (shift, bits)), beside the child and
# the free-text keys. The placing council is the child's: asked for by child (`councils`).
# Episode type, gender and placement type are numbered by a vocabulary (`Vocab`): the protocol's
# codes first, then any others the record holds; the other fields by the protocol's fixed lists
# (0 = none for the return interview and who held it).
CODE_LAYOUT = {"episode_type": (0, 4), "gender": (4, 4), "placement_type": (8, 8), "age_band": (16, 3),
               "duration": (19, 3), "return_interview": (22, 3), "interview_by": (25, 2), "cse": (27, 1),
               "cce": (28, 1), "reason_recorded": (29, 1), "signed_off": (30, 1), "placed": (31, 1),
               "month": (32, 20)}
PACKED_FIELDS = ("child", "code", "found_location", "factors")


@dataclass(frozen=True)
class Vocab:
    """The numbering of the open vocabularies in `CODE_LAYOUT`: each tuple's index is the code."""

    episode_types: tuple[str, ...] = EPISODE_TYPES
    genders: tuple[str, ...] = GENDERS
    placement_types: tuple[str, ...] = PLACEMENT_TYPES

    def extended(self, episode_types=(), genders=(), placement_types=()) -> "Vocab":
        """This vocabulary with the values not yet in it appended (sorted)."""
        def more(have: tuple, seen) -> tuple:
            return have + tuple(sorted(set(seen) - set(have)))

        v = Vocab(more(self.episode_types, episode_types), more(self.genders, genders),
                  more(self.placement_types, placement_types))
        if len(v.episode_types) > 16 or len(v.genders) > 16 or len(v.placement_types) > 256:
            raise ValueError("too many episode types, genders or placement types to count")
        return v


def month_number(month: str) -> int:
    """'YYYY-MM' as a count of months (what the packed rows carry)."""
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def pack_keys(keys: tuple, vocab: Vocab) -> tuple:
    """One row of keys (KEY_FIELDS) packed (PACKED_FIELDS): what store/figures.py `stream_packed`
    computes in SQL (tests/test_figures_sql.py holds the two equal)."""
    (child, _ref, etype, gender, ptype, placed, month, band, dur, ri, found, _started, cse, cce, reason, factors,
     by, signed) = keys
    fields = {"episode_type": vocab.episode_types.index(etype), "gender": vocab.genders.index(gender),
              "placement_type": vocab.placement_types.index(ptype), "age_band": AGE_BANDS.index(band),
              "duration": DURATION_BANDS.index(dur), "return_interview": 0 if ri is None else 1 + RI_KEYS.index(ri),
              "interview_by": 0 if by is None else 1 + INTERVIEW_BY.index(by), "cse": int(bool(cse)),
              "cce": int(bool(cce)), "reason_recorded": int(bool(reason)), "signed_off": int(bool(signed)),
              "placed": int(bool(placed)), "month": month_number(month)}
    code = 0
    for name, value in fields.items():
        code |= value << CODE_LAYOUT[name][0]
    return child, code, found, tuple(factors) if factors else None


def tally_keys(chunks: Iterable[list[tuple]], period_from: date, period_to: date, protocol: Protocol,
               top_n: int = TOP_N, *, meetings: list[MeetingFact] = (), withdrawn: int = 0,
               zone: ZoneInfo | None = None) -> dict:
    """Every table of the figures from the rows of keys (KEY_FIELDS) of the period's episodes, given
    in chunks (lists of rows) in any order: the rows packed (`pack_keys`) and counted by
    `tally_packed`, with what the packed rows leave out (case references, first starts) kept here."""
    ref_of: dict[int, str] = {}
    first_type: dict[int, dict[str, object]] = defaultdict(dict)
    found_first: dict[str, tuple] = {}
    council: dict[int, str] = {}
    rows = [r for chunk in chunks for r in chunk]
    vocab = Vocab().extended([r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows])
    for r in rows:
        child, ref, ptype, found, started = r[0], r[1], r[4], r[10], r[11]
        ref_of[child] = ref
        if r[5]:
            council[child] = r[5]
        first = first_type[child].get(ptype)
        if first is None or started < first:
            first_type[child][ptype] = started
        if found:
            first = found_first.get(found)
            if first is None or (started, ref) < first:
                found_first[found] = (started, ref)
    packed = [pack_keys(r, vocab) for r in rows]
    return tally_packed([packed], vocab, period_from, period_to, protocol, top_n, meetings=meetings,
                        withdrawn=withdrawn, zone=zone, refs=lambda ids: {c: ref_of[c] for c in ids},
                        first_starts=lambda ids: {c: dict(first_type[c]) for c in ids},
                        councils=lambda ids: {c: council[c] for c in ids},
                        found_first=lambda places: {p: found_first[p] for p in places})


def tally_packed(chunks: Iterable[list[tuple]], vocab: Vocab, period_from: date, period_to: date,
                 protocol: Protocol, top_n: int = TOP_N, *, meetings: list[MeetingFact] = (), withdrawn: int = 0,
                 zone: ZoneInfo | None = None, refs: Callable[[list[int]], dict[int, str]],
                 first_starts: Callable[[list[int]], dict[int, dict[str, object]]],
                 found_first: Callable[[list[str]], dict[str, tuple]],
                 councils: Callable[[list[int]], dict[int, str]]) -> dict:
    """Every table of the figures from the packed rows (PACKED_FIELDS, `pack_keys`) of the period's
    episodes, in chunks, in any order. The rows become columns of integers (numpy) and each table
    is a count over them; "children" counts are counts of distinct (child, key) pairs.

    What the rows leave out is asked for only where an order shows: `refs(children)` their case
    references (the top children's ties), `first_starts(children)` each placement type's first
    start in the period (a top child's placement types in order), `found_first(places)` each
    place's first (start, case reference) where two spellings of a place meet, and
    `councils(children)` the placing council of the children placed here by another council."""
    import numpy as np

    child_parts, code_parts = [], []
    found_e: Counter = Counter()  # place as written -> episodes
    factor_rows: list[tuple[int, tuple]] = []
    child_of, code_of, found_of, factors_of = (itemgetter(i) for i in range(4))
    for chunk in chunks:  # column by column, without a Python step per row
        if not chunk:
            continue
        child_parts.append(np.fromiter(map(child_of, chunk), dtype=np.int64, count=len(chunk)))
        code_parts.append(np.fromiter(map(code_of, chunk), dtype=np.int64, count=len(chunk)))
        found_e.update(map(found_of, chunk))
        if any(map(factors_of, chunk)):
            factor_rows += [(r[0], r[3]) for r in chunk if r[3]]
    empty = np.zeros(0, dtype=np.int64)
    child = np.concatenate(child_parts) if child_parts else empty
    code = np.concatenate(code_parts) if code_parts else empty
    del child_parts, code_parts
    total = len(child)

    def field(name: str):
        shift, bits = CODE_LAYOUT[name]
        return (code >> shift) & ((1 << bits) - 1)

    def counts(values) -> dict[int, int]:
        """value -> how many times it occurs (small non-negative integers)."""
        if not len(values):
            return {}
        n = np.bincount(values)
        at = np.nonzero(n)[0]
        return dict(zip(at.tolist(), n[at].tolist()))

    def distinct(pairs, low_bits: int) -> dict[int, int]:
        """Over (child << low_bits | key) values: key -> how many distinct children have it."""
        return counts(np.unique(pairs) & ((1 << low_bits) - 1))

    etype, gender, ptype, band = field("episode_type"), field("gender"), field("placement_type"), field("age_band")
    names = {"gender": (gender, vocab.genders, 4), "placement": (ptype, vocab.placement_types, 8),
             "band": (band, AGE_BANDS, 3)}
    kinds_e: dict[str, Counter] = {}
    kinds_c: dict[str, Counter] = {}
    # Each child's distinct (type, gender, placement, band): what every "children" column counts.
    profile = np.unique(child << 20 | etype << 16 | ptype << 8 | gender << 4 | band)
    p_child, p_etype = profile >> 20, (profile >> 16) & 15
    p_fields = {"gender": (profile >> 4) & 15, "placement": (profile >> 8) & 255, "band": profile & 15}
    del profile
    for kind, (values, order, bits) in names.items():
        e = Counter()
        for k, n in counts(etype << bits | values).items():
            e[vocab.episode_types[k >> bits], order[k & ((1 << bits) - 1)]] += n
        for k, n in counts(values).items():
            e[None, order[k]] += n
        kinds_e[kind] = e
        c = Counter()
        pv = p_fields[kind]
        for k, n in distinct(p_child << (bits + 4) | p_etype << bits | pv, bits + 4).items():
            c[vocab.episode_types[k >> bits], order[k & ((1 << bits) - 1)]] += n
        for k, n in distinct(p_child << bits | pv, bits).items():
            c[None, order[k]] += n
        kinds_c[kind] = c
    children_of_type = Counter({vocab.episode_types[k]: n for k, n in distinct(p_child << 4 | p_etype, 4).items()})
    del p_child, p_etype, p_fields
    episodes_of_type = Counter({vocab.episode_types[k]: n for k, n in counts(etype).items()})

    placing_theirs = protocol.placed_by_interviews != "ours"
    dur, ri, by = field("duration"), field("return_interview"), field("interview_by")
    cse, cce, signed, placed = field("cse"), field("cce"), field("signed_off"), field("placed")
    placed_at = np.nonzero(placed)[0]
    placed_child = child[placed_at].tolist()
    council = councils(sorted(set(placed_child))) if placed_child else {}
    placed_rows = [(c, council[c], RI_KEYS[r - 1] if r else None)
                   for c, r in zip(placed_child, ri[placed_at].tolist())]
    if placing_theirs:  # their interviews are reported apart: placed_by_other_councils
        ri = np.where(placed == 1, 0, ri)
    dur_e = Counter({(vocab.episode_types[k >> 3], DURATION_BANDS[k & 7]): n for k, n in counts(etype << 3 | dur).items()})
    ri_e = Counter({(vocab.episode_types[k >> 3], RI_KEYS[(k & 7) - 1] if k & 7 else None): n
                    for k, n in counts(etype << 3 | ri).items()})
    concern_e = Counter({(vocab.episode_types[k >> 2], bool(k & 2), bool(k & 1)): n
                         for k, n in counts(etype << 2 | cse << 1 | cce).items()})
    concern_children: Counter = Counter()
    for k, n in distinct(child << 2 | cse << 1 | cce, 2).items():
        concern_children[_CONCERN_KINDS.get((bool(k & 2), bool(k & 1)), "none")] += n
    interview_e = Counter({(INTERVIEW_BY[(k >> 1) - 1] if k >> 1 else None, bool(k & 1)): n
                           for k, n in counts(by << 1 | signed).items()})
    reasons = int(field("reason_recorded").sum())
    del dur, ri, by, cse, cce, signed, placed

    factor_e: Counter = Counter({k: 0 for k in protocol.factors})
    factor_c: dict[str, set] = defaultdict(set)
    with_factors = 0
    for c, fx in factor_rows:
        codes = list(dict.fromkeys(fx))
        with_factors += bool(codes)
        for k in codes:
            factor_e[k] += 1
            factor_c[k].add(c)

    # By month: episodes, children, children by placement type.
    month_index = {m: i for i, m in enumerate(_months(period_from, period_to))}
    month = field("month") - month_number(f"{period_from.year:04d}-{period_from.month:02d}")
    month_of = list(month_index)
    if total and (month.min() < 0 or month.max() >= len(month_of)):
        raise ValueError("an episode outside the period")
    month_e = {month_of[k]: n for k, n in counts(month).items()}
    span = len(month_of) << 8
    month_c = {month_of[k]: n for k, n in counts(np.unique(child * len(month_of) + month) % len(month_of)).items()}
    month_type_c = {(month_of[k >> 8], vocab.placement_types[k & 255]): n
                    for k, n in counts(np.unique(child * span + (month << 8 | ptype)) % span).items()}
    del month, etype, gender, ptype, band, code
    months = {m: {"episodes": month_e.get(m, 0), "children": month_c.get(m, 0),
                  "children_by_placement_type": {t: month_type_c.get((m, t), 0) for t in PLACEMENT_TYPES}}
              for m in month_index}

    threshold = protocol.report_persistent_threshold
    ids, per = np.unique(child, return_counts=True)
    del child
    persistent_children = int((per >= threshold).sum())
    persistent_episodes = int(per[per >= threshold].sum())
    top10 = int(np.sort(per)[-10:].sum()) if len(per) else 0
    # The top children: by episodes, ties by case reference; only those that could be in it are named.
    if top_n > 0 and len(per):
        least = np.sort(per)[-min(top_n, len(per))]
        candidates = ids[per >= least].tolist()
        n_of = dict(zip(candidates, per[per >= least].tolist()))
        ref_of = refs(candidates)
        ranked = sorted(candidates, key=lambda c: (-n_of[c], ref_of[c]))[:top_n]
    else:
        ranked, n_of, ref_of = [], {}, {}
    firsts = first_starts(ranked) if ranked else {}
    top = [(c, n_of[c], sorted(firsts[c], key=firsts[c].get)) for c in ranked]
    n_children = len(ids)
    del ids, per

    # Where found: spellings of a place counted together (spaces and case aside), labelled by the
    # spelling of its first episode (asked for only where two different spellings meet).
    found: Counter = Counter()
    spellings: dict[str, dict[str, str]] = defaultdict(dict)  # key -> raw -> location
    for raw, n in found_e.items():
        location = " ".join(raw.split())
        if location:
            key = location.casefold()
            found[key] += n
            spellings[key][raw] = location
    mixed = [raw for key, raws in spellings.items() if len(set(raws.values())) > 1 for raw in raws]
    firsts_found = found_first(mixed) if mixed else {}
    found_label: dict[str, str] = {}
    for key, raws in spellings.items():
        if len(set(raws.values())) == 1:
            found_label[key] = next(iter(raws.values()))
        else:
            found_label[key] = raws[min(raws, key=lambda raw: firsts_found[raw])]

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

    fig = {
        "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
        "episodes": total,
        "children": n_children,
        "by_gender": keyed(GENDERS, "gender", None),
        "by_placement_type": keyed(PLACEMENT_TYPES, "placement", None),
        "by_age_band": keyed(AGE_BANDS, "band", None),
        "by_month": [{"month": m, **v} for m, v in months.items()],
        "durations": durations(None),
        "persistent": {"threshold": threshold, "children": persistent_children, "episodes": persistent_episodes},
        "non_persistent": {"children": n_children - persistent_children, "episodes": total - persistent_episodes},
        "top_children": [{"child_ref": ref_of[c], "episodes": n, "placement_types": types}
                         for c, n, types in top],
        "top10_episode_share": round(top10 / total, 4) if total else 0.0,
        "return_interviews": interviews(None),
        "found_locations": [{"location": found_label[k], "episodes": n}
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
