"""Parsing and checking a CSV of past episodes (pure: bytes, zone and `now` in; rows or problems out).

One row per episode, columns (any order; only `child_ref` and `started_at` are required):
    child_ref, child_label, date_of_birth, gender, looked_after, placement_type, out_of_area,
    placed_by, placed_in, episode_type, missing_from, started_at, returned_at, risk_grade, police_ref, found_location,
    reason, cse_concern, cce_concern, ri_outcome, ri_at
- dates: ISO 8601 (`2025-06-01`, `2025-06-01 14:30`, `2025-06-01T14:30+01:00`) or `01/06/2025`
  with an optional ` 14:30`; a time without an offset is in the council's zone (in the hour the
  clocks go back, the first of the two 01:30s; in the hour they go forward, read as before the change);
- booleans: Y/N, yes/no, true/false, 1/0 (blank = no);
- placed_by / placed_in: a council on the ONS list (bot/protocol/authorities.py), or blank;
  out_of_area is yes whenever either is given;
- codes: the bot's words (bot/protocol/words.py) and their aliases; episode_type M or A too.
Every problem is reported as `line N, column: problem` (line 1 is the header). Binary files
fail at once: see MAX_LINE and MAX_PROBLEMS. A file is read as a stream, line by line (any
number of rows: `read_rows` yields them one at a time); MAX_BYTES bounds only what is given in
memory (an upload fetched from Slack). However many rows are bad, at most MAX_PROBLEMS problems
are listed, the first by line, and the rest counted (`first_problems`).
"""
from __future__ import annotations

import csv
import heapq
import io
import re
from dataclasses import dataclass
from operator import itemgetter
from datetime import date, datetime, timedelta, timezone
from typing import BinaryIO, Iterable, Iterator
from zoneinfo import ZoneInfo

from bot.protocol import authorities
from bot.protocol.grammar import LABEL, normal_child_ref
from bot.protocol.rules import EARLIEST_YEAR
from bot.protocol.words import (
    GENDER_ALIASES,
    GENDERS,
    PLACEMENT_ALIASES,
    PLACEMENT_TYPES,
    RI_OUTCOMES,
    RISK_ALIASES,
    RISK_GRADES,
    canonical,
)

COLUMNS = ("child_ref", "child_label", "date_of_birth", "gender", "looked_after", "placement_type", "out_of_area",
           "episode_type", "missing_from", "started_at", "returned_at", "risk_grade", "police_ref", "found_location",
           "reason", "cse_concern", "cce_concern", "ri_outcome", "ri_at")
COUNCIL_COLUMNS = ("placed_by", "placed_in")  # across council boundaries (issue 9)
ALL_COLUMNS = COLUMNS + COUNCIL_COLUMNS
REQUIRED = ("child_ref", "started_at")
MAX_BYTES = 64 * 1024 * 1024  # an upload held in memory: about 300,000 typical rows
MAX_LINE = 4096
MAX_PROBLEMS = 50
LENGTHS = {"child_ref": 64, "child_label": 64, "missing_from": 200, "police_ref": 64, "found_location": 200,
           "reason": 2000}
TRUE = {"y", "yes", "true", "1"}
FALSE = {"n", "no", "false", "0", ""}
EPISODE_TYPES = {"missing": "missing", "m": "missing", "away": "away", "a": "away"}
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


@dataclass(slots=True)
class ImportRow:
    line: int
    child_ref: str
    child_label: str
    date_of_birth: date | None
    gender: str
    looked_after: bool
    placement_type: str
    out_of_area: bool
    episode_type: str
    missing_from: str
    started_at: datetime
    returned_at: datetime | None
    risk_grade: str | None
    police_ref: str
    found_location: str
    reason: str
    cse_concern: bool
    cce_concern: bool
    ri_outcome: str | None
    ri_at: datetime | None
    placed_by: str | None = None
    placed_in: str | None = None


class Problems(Exception):
    """The file cannot be imported; `problems` lists each `line N, column: problem` (at most
    MAX_PROBLEMS and a line counting the rest); `total` is how many there were."""

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        super().__init__(f"{self.total} problem(s)")


def parse_datetime(value: str, zone: ZoneInfo) -> datetime:
    """An aware UTC datetime from the accepted forms; ValueError otherwise (also before EARLIEST_YEAR)."""
    if (len(value) == 16 and value[2] == "/" and value[5] == "/" and value[10] in " T" and value[13] == ":"
            and value.isascii() and (value[:2] + value[3:5] + value[6:10] + value[11:13] + value[14:]).isdigit()):
        # 01/06/2025 14:30, as a spreadsheet writes it: what _DMY reads, in half the time
        wall = datetime(int(value[6:10]), int(value[3:5]), int(value[:2]), int(value[11:13]), int(value[14:]), 0, 0,
                        timezone.utc)
    elif m := None if value[4:5] == "-" else _DMY.fullmatch(value):  # ISO 8601 starts 2025-
        d, mo, y, hh, mm, ss = m.groups()
        wall = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), 0, timezone.utc)
    else:
        if not value[:4].isdigit() or len(value) < 10:
            raise ValueError
        wall = datetime.fromisoformat(value)
        if wall.tzinfo is None:
            wall = datetime.combine(wall, wall.time(), timezone.utc)  # (.replace(tzinfo=) costs 5 times as much)
        elif wall.year >= EARLIEST_YEAR:  # an offset given: that instant
            try:
                return wall.astimezone(timezone.utc)
            except OverflowError:  # year 9999 west of UTC
                raise ValueError from None
    if wall.year < EARLIEST_YEAR:
        raise ValueError
    try:
        # The wall-clock time in `zone` (the fields of `wall`): as wall.replace(tzinfo=zone).astimezone(UTC),
        # fold 0 (in the hour the clocks go back, the first 01:30), without the intermediate datetime.
        return wall - zone.utcoffset(wall)
    except OverflowError:  # year 9999 west of UTC
        raise ValueError from None


def parse_date(value: str) -> date:
    """A date from 2025-06-01 or 01/06/2025; ValueError otherwise (also before EARLIEST_YEAR)."""
    m = _DMY.fullmatch(value)
    if m and m.group(4) is None:
        day = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    elif len(value) != 10:
        raise ValueError
    else:
        day = date.fromisoformat(value)
    if day.year < EARLIEST_YEAR:
        raise ValueError
    return day


def _decode(data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise Problems([f"line 1, file: the file is {len(data) // 2**20} MB; the limit is {MAX_BYTES // 2**20} MB "
                        f"(split it into several files)"])


READ = 1 << 16


def _raw_lines(source: BinaryIO) -> Iterator[bytes]:
    """The file's physical lines (ending in \n, \r\n or \r, as a spreadsheet may write), read
    64 kB at a time: a line longer than any row of this file is refused before it is held."""
    carry = b""
    while chunk := source.read(READ):
        parts = (carry + chunk).splitlines(keepends=True)
        carry = parts.pop() if parts and not parts[-1].endswith(b"\n") else b""
        yield from parts
        if len(carry) > 4 * MAX_LINE:
            yield carry
            carry = b""
    if carry:
        yield carry


def _lines(source: BinaryIO):
    """The file's lines as text, checked one by one: UTF-8 (a BOM allowed), no NUL, none too long
    to be a row of this file. Problems name the line."""
    read = 0
    for n, raw in enumerate(_raw_lines(source), 1):
        nul = raw.find(b"\x00")
        if nul >= 0:
            if read + nul < 65536:
                raise Problems(["line 1, file: this is not a CSV text file (it contains binary data)"])
            # PostgreSQL refuses NUL in text: say where, rather than fail while writing
            raise Problems([f"line {n}, file: contains a NUL character (binary data); is this the right file?"])
        read += len(raw)
        try:
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            raise Problems([f"line {n}, file: not UTF-8 text (save the file as CSV UTF-8)"]) from None
        if len(line) > MAX_LINE:
            raise Problems([f"line {n}, file: the line is longer than {MAX_LINE} characters; is this the right file?"])
        yield line


def _header(names: list[str]) -> list[str]:
    cols = [n.strip().lower().lstrip("\ufeff") for n in names]
    if len(cols) == 1 and (";" in cols[0] or "\t" in cols[0]):
        raise Problems(["line 1, header: the columns are separated by semicolons or tabs; save the file as "
                        "CSV (comma delimited)"])
    problems = []
    unknown = [c for c in cols if c not in ALL_COLUMNS]
    if unknown:
        problems.append(f"line 1, header: unknown column(s) {', '.join(repr(c[:40]) for c in unknown[:5])}; "
                        f"the columns are: {', '.join(ALL_COLUMNS)}")
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        problems.append(f"line 1, header: column(s) given twice: {', '.join(dupes)}")
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        problems.append(f"line 1, header: required column(s) missing: {', '.join(missing)}")
    if problems:
        raise Problems(problems)
    return cols


def read_rows(data: bytes | BinaryIO, zone: ZoneInfo, now: datetime, future_grace_minutes: int,
              problems: list[str]) -> Iterator[ImportRow]:
    """The file's good rows, one at a time, as it is read (bytes, or a binary file read as a
    stream); each bad row's problems are appended to `problems`. Raises `Problems` at once for a
    file that is not a CSV of episodes, and after MAX_PROBLEMS problems. Checks no row against
    another (see `child_problems`)."""
    if isinstance(data, (bytes, bytearray)):
        _decode(data)
        data = io.BytesIO(data)
    reader = csv.reader(_lines(data), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise Problems(["line 1, header: the file is empty; the first line must name the columns: " + ", ".join(COLUMNS)])
        cols = _header(header)
        blank = dict.fromkeys(ALL_COLUMNS, "")
        checker = _Checker(zone, now + timedelta(minutes=future_grace_minutes))
        for values in reader:
            line = reader.line_num
            values = list(map(str.strip, values))
            if not any(values):
                continue
            if len(values) != len(cols):
                problems.append(f"line {line}, row: {len(values)} values for {len(cols)} columns")
            else:
                raw = dict(blank)
                raw.update(zip(cols, values))
                row = checker.row(line, raw, problems)
                if row is not None:
                    yield row
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"stopped after {MAX_PROBLEMS} problems; fix these and try again")
                raise Problems(problems)
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}, file: not valid CSV ({exc})")
        raise Problems(problems) from None


def parse_csv(data: bytes | BinaryIO, zone: ZoneInfo, now: datetime, future_grace_minutes: int = 5
              ) -> list[ImportRow]:
    """Every row of the file (bytes, or a binary file read as a stream), checked; raises
    `Problems` listing everything wrong (all rows in memory: store/imports.py streams instead).

    Checks each value, then each child's episodes against each other (duplicates, overlaps,
    more than one still open). Checks against the database are `recorded_problems`."""
    problems: list[str] = []
    rows = list(read_rows(data, zone, now, future_grace_minutes, problems))
    if not rows and not problems:
        problems.append("line 2, file: no rows after the header")
    problems += check_within_file(rows, zone)
    if problems:
        raise Problems(problems)
    return rows


CACHED = 4096  # values kept per column by `_Checker` (bounded: a file of any size)


def _ref(raw: str) -> tuple:
    if not raw:
        return None, "required (the case reference, e.g. LCS12345)"
    ref = normal_child_ref(raw)
    if ref is None:
        # The same rule as /missing: a reference nobody could type in Slack could never be reached.
        return None, (f"{raw[:40]!r} is not a case reference: letters and digits (and / _ . -), up to 64 "
                      "characters, e.g. LCS12345")
    return ref, None


def _label(raw: str) -> tuple:
    # The label goes into channel lines: the same rule as /missing child, so no Slack markup.
    if not raw or LABEL.match(" ".join(raw.split())):
        return raw, None
    return raw, "initials or a pseudonym: letters, digits, spaces and . ' - ( ) / only (e.g. JB)"


def _dob(raw: str) -> tuple:
    if not raw:
        return None, None
    try:
        return parse_date(raw), None
    except ValueError:
        return None, f"{raw[:40]!r} is not a date (use 2010-05-31 or 31/05/2010)"


def _flag(raw: str) -> tuple:
    key = raw.lower()
    if key in TRUE:
        return True, None
    if key not in FALSE:
        return False, f"{raw[:20]!r} is not yes or no (use Y/N, yes/no, true/false or 1/0)"
    return False, None


def _episode_type(raw: str) -> tuple:
    value = EPISODE_TYPES.get(raw.lower() or "missing")
    return value or "missing", (None if value else f"unknown value {raw[:20]!r}; use missing (M) or away (A)")


def _code(allowed: tuple[str, ...], aliases: dict | None, default: str | None):
    def work(raw: str) -> tuple:
        if not raw:
            return default, None
        value = canonical(raw, allowed, aliases)
        return value, (None if value is not None else f"unknown value {raw[:40]!r}; use one of: {', '.join(allowed)}")
    return work


def _council(col: str):
    def work(raw: str) -> tuple:
        if not raw:
            return None, None
        try:
            return authorities.lookup(raw, col.replace("_", "-")).name, None
        except authorities.UnknownAuthority as exc:
            return None, exc.message.replace("`", "'")
    return work


# The columns whose values repeat from row to row: (column, its place among a row's problems,
# how a value is worked out: (value, problem or None)). Places 4-6 are started_at, returned_at
# and ri_at; 11, placed_by with placed_in; 19 on, the checks across columns.
_REPEATED = (
    ("child_ref", 1, _ref), ("child_label", 2, _label), ("date_of_birth", 3, _dob), ("episode_type", 7, _episode_type),
    ("ri_outcome", 8, _code(RI_OUTCOMES, None, None)), ("placed_by", 9, _council("placed_by")),
    ("placed_in", 10, _council("placed_in")), ("gender", 12, _code(GENDERS, GENDER_ALIASES, "unknown")),
    ("looked_after", 13, _flag), ("placement_type", 14, _code(PLACEMENT_TYPES, PLACEMENT_ALIASES, "other")),
    ("out_of_area", 15, _flag), ("risk_grade", 16, _code(RISK_GRADES, RISK_ALIASES, None)), ("cse_concern", 17, _flag),
    ("cce_concern", 18, _flag),
)


# The repeated columns in two groups, each looked up as one: a child's (the same on each of its
# rows) and an episode's few codes and flags (a few hundred combinations in a whole file).
_GROUPS = (("child_ref", "child_label", "date_of_birth", "gender", "placement_type", "placed_by", "placed_in"),
           ("episode_type", "ri_outcome", "risk_grade", "looked_after", "out_of_area", "cse_concern", "cce_concern"))


class _Checker:
    """Checks one row at a time. A value of a column in _REPEATED is worked out once (at most
    CACHED values a column are kept), and so is each combination of a group's values (at most
    CACHED a group); every row still gets its own problems, in the same order."""

    def __init__(self, zone: ZoneInfo, latest: datetime) -> None:
        self.zone, self.latest = zone, latest
        self.columns = {col: (place, {}, work) for col, place, work in _REPEATED}
        assert sorted(c for g in _GROUPS for c in g) == sorted(self.columns)
        self.groups = [(itemgetter(*cols), cols, {}) for cols in _GROUPS]

    def _cached(self, cache: dict, group, values: tuple):
        """`_group`'s answer for these values, looked up once per distinct values (at most CACHED kept)."""
        got = cache.get(values)
        if got is None:
            if len(cache) >= CACHED:
                cache.clear()
            got = cache[values] = self._group(group, values)
        return got

    def _group(self, cols: tuple[str, ...], raws: tuple[str, ...]) -> tuple[tuple, tuple]:
        """The values of a group's columns and their problems ((place, column, problem), ...)."""
        values, found = [], []
        for col, raw in zip(cols, raws):
            place, cache, work = self.columns[col]
            got = cache.get(raw)
            if got is None:
                if len(cache) >= CACHED:
                    cache.clear()
                got = cache[raw] = work(raw)
            values.append(got[0])
            if got[1] is not None:
                found.append((place, col, got[1]))
        return tuple(values), tuple(found)

    def when(self, found: list, place: int, col: str, raw: str) -> datetime | None:
        try:
            value = parse_datetime(raw, self.zone)
        except ValueError:
            found.append((place, col, f"{raw[:40]!r} is not a date (use 2025-06-01 14:30 or 01/06/2025 14:30)"))
            return None
        if value > self.latest:
            found.append((place, col, f"{raw[:40]} is in the future"))
        return value

    def row(self, line: int, v: dict[str, str], problems: list[str]) -> ImportRow | None:
        """One row: `v` holds every column of ALL_COLUMNS, stripped ("" when the file has no such column).
        None when it has problems (appended to `problems`)."""
        found: list[tuple[int, str, str]] = []  # (place, column, problem)
        for col, limit in LENGTHS.items():
            if len(v[col]) > limit:
                found.append((0, col, f"longer than {limit} characters"))
        (child_of, _, child_cache), (episode_of, _, episode_cache) = self.groups
        child, episode = child_of(v), episode_of(v)
        (ref, _, dob, gender, placement_type, placed_by, placed_in), bad = self._cached(child_cache, _GROUPS[0], child)
        found += bad
        (episode_type, ri_outcome, risk_grade, looked_after, out_of_area, cse, cce), bad = \
            self._cached(episode_cache, _GROUPS[1], episode)
        found += bad
        if v["started_at"]:
            started = self.when(found, 4, "started_at", v["started_at"])
        else:
            started = None
            found.append((4, "started_at", "required (e.g. 2025-06-01 14:30 or 01/06/2025 14:30)"))
        returned = self.when(found, 5, "returned_at", v["returned_at"]) if v["returned_at"] else None
        ri_at = self.when(found, 6, "ri_at", v["ri_at"]) if v["ri_at"] else None
        if placed_by and placed_in:
            found.append((11, "placed_in", "give placed_by (another council's child placed here) or placed_in "
                                           "(ours placed there), not both"))
        if started and returned and returned < started:
            found.append((19, "returned_at", "the return is before the start"))
        # (the local date is never more than a day from the UTC one: the exact test only near it)
        if dob and started and dob >= started.date() and dob > started.astimezone(self.zone).date():
            found.append((20, "date_of_birth", "after the episode started"))
        if (ri_outcome or ri_at) and not v["returned_at"]:
            found.append((21, "ri_outcome", "a return interview needs a returned_at (the episode has not ended)"))
        if ri_at and not ri_outcome:
            found.append((22, "ri_outcome", "ri_at is given without an outcome (completed, declined or voided)"))
        if ri_at and returned and ri_at < returned:
            found.append((23, "ri_at", "the return interview is before the return"))
        if found:
            found.sort(key=lambda f: f[0])  # stable: a column's problems in the order found
            problems.extend(f"line {line}, {col}: {problem}" for _, col, problem in found)
            return None
        return ImportRow(
            line, ref, v["child_label"], dob, gender, looked_after, placement_type,
            out_of_area or bool(placed_by or placed_in), episode_type, v["missing_from"], started, returned, risk_grade,
            v["police_ref"], v["found_location"], v["reason"], cse, cce, ri_outcome, ri_at, placed_by, placed_in)


def _overlap_problems(child_ref: str, spans: list[tuple[datetime, datetime | None, int | None]],
                      zone: ZoneInfo) -> list[str]:
    """spans: (start, end or None while open, file line or None for an episode already recorded)."""
    out = []
    cover = None  # the span seen so far that reaches furthest
    for span in sorted(spans, key=lambda s: (s[0], s[2] is not None)):
        start, end, line = span
        if cover is not None and (cover[1] is None or start < cover[1]):
            c_start, c_end, c_line = cover
            how = "is still open" if c_end is None else "has not ended by then"
            if line is not None and c_line is not None:
                out.append(f"line {line}, started_at: starts while the episode on line {c_line} {how}")
            elif line is not None:
                out.append(f"line {line}, started_at: starts while an episode already recorded for {child_ref} "
                           f"(started {c_start.astimezone(zone):%Y-%m-%d %H:%M}) {how}")
            elif c_line is not None:
                out.append(f"line {c_line}, returned_at: the episode overlaps one already recorded for {child_ref} "
                           f"(started {start.astimezone(zone):%Y-%m-%d %H:%M})")
        if cover is None or cover[1] is not None and (end is None or end > cover[1]):
            cover = span
    return out


def line_of(problem: str) -> int:
    return int(problem.split(",")[0].removeprefix("line "))


def _by_line(problems: list[str]) -> list[str]:
    return sorted(problems, key=line_of)


def first_problems(problems: Iterable[str], limit: int = MAX_PROBLEMS) -> tuple[list[str], int]:
    """The first `limit` problems by line (holding no more than that) and a line that counts
    the rest, and how many there were: a file of any size gets an answer of bounded size."""
    seen = 0

    def counted():
        nonlocal seen
        for problem in problems:
            seen += 1
            yield problem

    first = heapq.nsmallest(limit, counted(), key=line_of)  # stable: sorted(...)[:limit]
    if seen > limit:
        first.append(f"and {seen - limit:,} more problem(s) after line {line_of(first[-1])}; fix these and try again")
    return first, seen


def child_problems(child_ref: str, rows: Iterable, zone: ZoneInfo) -> list[str]:
    """Duplicates and overlaps among one child's rows of the file, given in file order (anything
    with `line`, `started_at` and `returned_at`)."""
    problems = []
    seen: dict[datetime, int] = {}
    spans = []
    for r in rows:
        if r.started_at in seen:
            problems.append(f"line {r.line}, started_at: the same episode (child_ref and started_at) "
                            f"is on line {seen[r.started_at]}")
            continue
        seen[r.started_at] = r.line
        spans.append((r.started_at, r.returned_at, r.line))
    return problems + _overlap_problems(child_ref, spans, zone)


def check_within_file(rows: list[ImportRow], zone: ZoneInfo) -> list[str]:
    """Duplicates and overlaps among the file's own rows."""
    problems = []
    by_child: dict[str, list[ImportRow]] = {}
    for r in rows:
        by_child.setdefault(r.child_ref, []).append(r)
    for child_ref, items in by_child.items():
        problems += child_problems(child_ref, items, zone)
    return _by_line(problems)


def recorded_problems(child_ref: str, recorded: Iterable[tuple[datetime, datetime | None]], rows: Iterable,
                      zone: ZoneInfo) -> list[str]:
    """Overlaps between one child's new rows of the file (anything with `line`, `started_at` and
    `returned_at`; none of them already recorded, none overlapping another) and the (start, end)
    spans already recorded for the child."""
    spans = [(s, e, None) for s, e in recorded] + [(r.started_at, r.returned_at, r.line) for r in rows]
    return _overlap_problems(child_ref, spans, zone)
