"""Statutory returns: the DfE SSDA903 `Missing` table and Ofsted Annex A (List 8) missing columns.

Pure functions of `EpisodeFact` rows (bot/protocol/figures.py) and `now`. Both returns hold
only the children this council looks after: a child placed here by another council
(`placed_by`) is in that council's returns, not ours; our child placed in another area
(`placed_in`) is ours.

SSDA903 `Missing` (one row per missing/away period of a looked-after child):
    CHILD, DOB, MISSING (M = missing, A = away from placement without authorisation),
    MIS_START, MIS_END (dd/mm/yyyy; MIS_END blank while the period is open).
The collection year runs 1 April to 31 March. A period is in the year's return when it was
open at any time in the year; the return is as at 31 March, so a period that ended after the
year (or has not ended) has a blank MIS_END.

`validate_ssda903` runs the DfE validation rules as the councils' own validator publishes them:
the Data to Insight 903 validator (PyPI `csc-validator-be-903`, import `lac_validator`), every
rule of the collection year's rule pack that reads only the Missing and Header tables (1004,
1005, 1006, 564, 565, 566, 567, 570, 571, 574, 586, INT04, INT13 in the 2025/26 pack). The
Header table is built from the same rows (CHILD, DOB). Rules 575, 577, 578, 580 and 581 compare
with the `Episodes` (placements) table, which the bot does not hold; 576 with last year's return.
The validator brings pandas, so it is an optional extra (`missing-bot[returns]`); without it
`validate_ssda903` returns None: the file is still written, unchecked.
"""
from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.csvsafe import dict_csv
from bot.protocol.figures import EpisodeFact, age_on, period_bounds

SSDA903_COLUMNS = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
# Ofsted Annex A, List 8 (children in care): the template's headers, exactly.
ANNEX_A_COLUMNS = (
    "Child Unique ID",
    "Gender",
    "Date of Birth",
    "Age of Child (Years)",
    "Placement Type",
    "LA of Placement",
    "Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months",
    "Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months",
    "Was the child offered a Return Interview after their last missing episode (Y/N)?",
    "Did the child accept a Return Interview after their last missing episode (Y/N)?",
    "Allocated Team",
    "Allocated Worker",
)
# The template's gender codes. The bot's `transgender` says nothing of which, so it is not stated.
ANNEX_A_GENDER = {"male": "a) Male", "female": "b) Female", "unknown": "c) Not stated/recorded",
                  "transgender": "c) Not stated/recorded", "other": "d) Neither"}
# Columns the case system fills (the bot does not hold them): left blank.
ANNEX_A_FROM_CASE_SYSTEM = ("Allocated Team", "Allocated Worker")


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
        if not f.looked_after or f.placed_by or f.started_at >= end:
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


CHECKS_HINT = ("SSDA903 not checked against the DfE rules: install the checks with "
               "pip install 'missing-bot[returns]' (the 903 validator, csc-validator-be-903)")
HEADER_COLUMNS = ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB")


def _rule_pack(year: int) -> dict:
    """The validator's rules for the collection year starting in `year` (the nearest pack it ships)."""
    import pkgutil

    import lac_validator.rules
    from lac_validator.rules.ruleset_utils import get_year_ruleset

    shipped = sorted(int(m.name[3:7]) + 1 for m in pkgutil.iter_modules(lac_validator.rules.__path__)
                     if m.ispkg and m.name.startswith("lac"))
    end_year = year + 1
    chosen = max((y for y in shipped if y <= end_year), default=shipped[0])
    return get_year_ruleset(str(chosen))


def preload_validator() -> bool:
    """Import the optional validator now (pandas takes about a second the first time); False without it."""
    try:
        import pandas  # noqa: F401
        from lac_validator.rules import ruleset_utils  # noqa: F401
    except ImportError:
        return False
    return True


def missing_table_rules(year: int) -> dict:
    """code -> rule of every rule that reads the Missing table and nothing but it and Header."""
    return {code: rule for code, rule in _rule_pack(year).items()
            if rule.tables and "Missing" in rule.tables and set(rule.tables) <= {"Missing", "Header"}}


def validate_ssda903(rows: list[dict[str, str]], year: int) -> list[Finding] | None:
    """Every finding of the validator's Missing-table rules on the CSV these rows make (read back
    as the validator reads a CSV upload); [] when it passes; None when the validator is not installed."""
    try:
        import pandas as pd

        rules = missing_table_rules(year)
    except ImportError:
        return None
    import warnings

    text = ssda903_csv(rows)
    missing = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    header = missing[["CHILD", "DOB"]].drop_duplicates("CHILD").reset_index(drop=True)
    for column in HEADER_COLUMNS:
        if column not in header:
            header[column] = pd.NA
    header = header[list(HEADER_COLUMNS)]
    metadata = {"collectionYear": f"{year}/{(year + 1) % 100:02d}", "collection_start": f"01/04/{year}",
                "collection_end": f"31/03/{year + 1}"}
    children = missing["CHILD"].fillna("").tolist()
    out: list[Finding] = []
    for code in sorted(rules):
        rule = rules[code]
        dfs = {"Missing": missing.copy(), "Header": header.copy(), "metadata": dict(metadata)}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = rule.func(dfs) or {}
        except Exception as exc:  # noqa: BLE001 - a rule that cannot read the table is a finding too
            out.append(Finding(code, 0, "", f"the rule could not run on this table ({type(exc).__name__})"))
            continue
        message = " ".join(str(rule.message or "").split())
        for index in sorted({int(i) for i in result.get("Missing", [])}):
            out.append(Finding(code, index + 1, children[index] if index < len(children) else "", message))
    return sorted(out, key=lambda f: (f.row, f.rule))


def _csv(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    return dict_csv(rows, columns)  # formula cells neutralised (bot/csvsafe.py)


def ssda903_csv(rows: list[dict[str, str]]) -> str:
    return _csv(rows, SSDA903_COLUMNS)


@dataclass(frozen=True)
class ChildFact:
    child_ref: str
    gender: str
    date_of_birth: date | None
    placement_type: str = "other"
    placed_in: str | None = None  # the council whose area the child is placed in, when not ours
    placed_by: str | None = None  # another council's child placed here: not in our return


def placement_words(placement_type: str) -> str:
    from bot.protocol.figures import label

    return label(placement_type)


def annex_a_missing(children: list[ChildFact], facts: list[EpisodeFact], now: datetime, *,
                    council: str | None = None, zone: ZoneInfo | None = None) -> list[dict[str, str]]:
    """Annex A List 8 missing columns for each looked-after child in `children` (ours only).

    Counts the episodes that started in the 12 months up to `now`. A return interview was
    offered after the last missing episode when its outcome is completed or declined (a
    voided interview was not offered); it was accepted when completed. Both are blank when the
    child had no missing episode in the 12 months. `LA of Placement` is the host council of a
    child placed in another area, else `council` (ours, from the protocol file). Age in years on
    `now`'s local date."""
    since = now - timedelta(days=365)
    today = now.astimezone(zone).date() if zone else now.date()
    recent: dict[str, list[EpisodeFact]] = defaultdict(list)
    for f in facts:
        if since <= f.started_at <= now and not f.placed_by:
            recent[f.child_ref].append(f)
    rows = []
    for c in sorted(children, key=lambda c: c.child_ref):
        if c.placed_by:
            continue
        eps = sorted(recent.get(c.child_ref, []), key=lambda f: f.started_at)
        missing = [f for f in eps if f.episode_type == "missing"]
        away = [f for f in eps if f.episode_type == "away"]
        offered = accepted = ""
        if missing:
            last = missing[-1]
            offered = "Y" if last.ri_outcome in ("completed", "declined") else "N"
            accepted = "Y" if last.ri_outcome == "completed" else "N"
        age = age_on(c.date_of_birth, today)
        rows.append(dict(zip(ANNEX_A_COLUMNS, (
            c.child_ref, ANNEX_A_GENDER.get(c.gender, "c) Not stated/recorded"), ddmmyyyy(c.date_of_birth),
            "" if age is None else str(age), placement_words(c.placement_type), c.placed_in or council or "",
            str(len(missing)), str(len(away)), offered, accepted, "", ""))))
    return rows


def annex_a_csv(rows: list[dict[str, str]]) -> str:
    return _csv(rows, ANNEX_A_COLUMNS)
