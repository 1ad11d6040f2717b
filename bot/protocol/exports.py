"""Statutory returns: the DfE SSDA903 `Missing` table and Ofsted Annex A (List 8) missing columns.

Pure functions of `EpisodeFact` rows (bot/protocol/figures.py) and `now`.

SSDA903 `Missing` (one row per missing/away period of a looked-after child):
    CHILD, DOB, MISSING (M = missing, A = away from placement without authorisation),
    MIS_START, MIS_END (dd/mm/yyyy; MIS_END blank while the period is open).
The collection year runs 1 April to 31 March. A period is in the year's return when it was
open at any time in the year; the return is as at 31 March, so a period that ended after the
year (or has not ended) has a blank MIS_END.

`validate_ssda903` checks the rows against the DfE validation rules for this table that the
open-source 903 validator (lac_validator) implements and that need only this table:
    1004 MIS_START missing or not a valid date
    1005 MIS_END given but not a valid date
     567 MIS_END before MIS_START
     570 MIS_START after the end of the collection year
     571 MIS_END before the start or after the end of the collection year
     574 a period starts while the child's previous period is still open, or periods overlap
plus the table's codes: MISSING must be M or A, CHILD and DOB present.
(Rules 575, 577, 578, 581 compare with the `Episodes` (placements) table, which the bot does
not hold; 576 compares with last year's return.)
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.protocol.figures import EpisodeFact, period_bounds

SSDA903_COLUMNS = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
ANNEX_A_COLUMNS = (
    "Child Unique ID",
    "Gender",
    "Date of birth",
    "Number of missing episodes in the last 12 months",
    "Number of away from placement without authorisation episodes in the last 12 months",
    "Was the child offered a return interview after the last missing episode? (Y/N)",
    "Did the child accept a return interview after the last missing episode? (Y/N)",
)


def ddmmyyyy(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def collection_year(year: int) -> tuple[date, date]:
    """`year` 2025 is the collection year 1 April 2025 to 31 March 2026."""
    return date(year, 4, 1), date(year + 1, 3, 31)


def ssda903_missing(facts: list[EpisodeFact], year: int, zone: ZoneInfo) -> list[dict[str, str]]:
    """The rows of the `Missing` table for episodes of children looked after at the time, by child then start."""
    first, last = collection_year(year)
    start, end = period_bounds(first, last, zone)
    rows = []
    for f in sorted(facts, key=lambda f: (f.child_ref, f.started_at)):
        if not f.looked_after or f.started_at >= end:
            continue
        if f.returned_at is not None and f.returned_at < start:
            continue
        ended = f.returned_at is not None and f.returned_at < end
        rows.append({
            "CHILD": f.child_ref,
            "DOB": ddmmyyyy(f.date_of_birth),
            "MISSING": "A" if f.episode_type == "away" else "M",
            "MIS_START": ddmmyyyy(f.started_at.astimezone(zone).date()),
            "MIS_END": ddmmyyyy(f.returned_at.astimezone(zone).date()) if ended else "",
        })
    return rows


@dataclass(frozen=True)
class Finding:
    rule: str
    row: int  # 1-based data row (the header is row 0)
    child: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row} (child {self.child}): rule {self.rule}: {self.message}"


def _parse(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%d/%m/%Y").date()
    except (TypeError, ValueError):
        return None


def validate_ssda903(rows: list[dict[str, str]], year: int) -> list[Finding]:
    """Every finding of the rules above; an empty list means the table passes."""
    first, last = collection_year(year)
    out: list[Finding] = []
    by_child: dict[str, list[tuple[int, date, date | None]]] = defaultdict(list)
    for i, row in enumerate(rows, 1):
        child = row.get("CHILD", "")
        if not child:
            out.append(Finding("CHILD", i, child, "CHILD is blank"))
        if not _parse(row.get("DOB", "")):
            out.append(Finding("DOB", i, child, "DOB is blank or not a dd/mm/yyyy date"))
        if row.get("MISSING") not in ("M", "A"):
            out.append(Finding("MISSING", i, child, "MISSING must be M or A"))
        mis_start = _parse(row.get("MIS_START", ""))
        mis_end = _parse(row.get("MIS_END", "")) if row.get("MIS_END") else None
        if mis_start is None:
            out.append(Finding("1004", i, child, "MIS_START is missing or not a valid date"))
        if row.get("MIS_END") and mis_end is None:
            out.append(Finding("1005", i, child, "MIS_END is not a valid date"))
        if mis_start and mis_end and mis_end < mis_start:
            out.append(Finding("567", i, child, "MIS_END is before MIS_START"))
        if mis_start and mis_start > last:
            out.append(Finding("570", i, child, "MIS_START is after the end of the collection year"))
        if mis_end and not first <= mis_end <= last:
            out.append(Finding("571", i, child, "MIS_END is before the start or after the end of the collection year"))
        if mis_start:
            by_child[child].append((i, mis_start, mis_end))
    for child, periods in by_child.items():
        periods.sort(key=lambda p: p[1])
        reach = periods[0]  # the period seen so far that ends last (an open one never ends)
        for j, s2, e2 in periods[1:]:
            i, _s1, e1 = reach
            # Dates only: a period may end on the day the next one starts.
            if e1 is None or s2 < e1:
                out.append(Finding("574", j, child, f"starts while the period on row {i} is still open or overlaps it"))
            if e1 is not None and (e2 is None or e2 > e1):
                reach = (j, s2, e2)
    return sorted(out, key=lambda f: (f.row, f.rule))


def _csv(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def ssda903_csv(rows: list[dict[str, str]]) -> str:
    return _csv(rows, SSDA903_COLUMNS)


@dataclass(frozen=True)
class ChildFact:
    child_ref: str
    gender: str
    date_of_birth: date | None


def annex_a_missing(children: list[ChildFact], facts: list[EpisodeFact], now: datetime) -> list[dict[str, str]]:
    """Annex A List 8 missing columns for each looked-after child in `children`.

    Counts the episodes that started in the 12 months up to `now`. A return interview was
    offered after the last missing episode when its outcome is completed or declined (a
    voided interview was not offered); it was accepted when completed. Both are blank when the
    child had no missing episode in the 12 months."""
    since = now - timedelta(days=365)
    recent: dict[str, list[EpisodeFact]] = defaultdict(list)
    for f in facts:
        if since <= f.started_at <= now:
            recent[f.child_ref].append(f)
    rows = []
    for c in sorted(children, key=lambda c: c.child_ref):
        eps = sorted(recent.get(c.child_ref, []), key=lambda f: f.started_at)
        missing = [f for f in eps if f.episode_type == "missing"]
        away = [f for f in eps if f.episode_type == "away"]
        offered = accepted = ""
        if missing:
            last = missing[-1]
            offered = "Y" if last.ri_outcome in ("completed", "declined") else "N"
            accepted = "Y" if last.ri_outcome == "completed" else "N"
        rows.append(dict(zip(ANNEX_A_COLUMNS, (
            c.child_ref, c.gender, ddmmyyyy(c.date_of_birth), str(len(missing)), str(len(away)), offered, accepted))))
    return rows


def annex_a_csv(rows: list[dict[str, str]]) -> str:
    return _csv(rows, ANNEX_A_COLUMNS)
