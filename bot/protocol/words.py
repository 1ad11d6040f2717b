"""The protocol's vocabulary (PRODUCT.md, "Words"): the only values the bot accepts."""
from __future__ import annotations


class Refusal(ValueError):
    """Input or an action the bot refuses: `.message` says what was wrong, `.example` shows a right one.

    The grammar, the `<when>` parser and the record rules raise subclasses of it; the router
    (handlers/commands.py) answers any of them as a refusal, and the transaction rolls back."""

    def __init__(self, message: str, example: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.example = example


GENDERS = ("male", "female", "transgender", "other", "unknown")
PLACEMENT_TYPES = (
    "la_residential",
    "foster_care",
    "independent_residential",
    "semi_independent",
    "unregulated",
    "secure",
    "home",
    "other",
)
RISK_GRADES = ("no_apparent_risk", "low", "medium", "high")
EPISODE_TYPES = ("missing", "away")
RI_OUTCOMES = ("completed", "declined", "voided")

# Friendly spellings people type, mapped to the canonical value.
RISK_ALIASES = {"none": "no_apparent_risk", "no-apparent-risk": "no_apparent_risk", "nar": "no_apparent_risk",
                "no_risk": "no_apparent_risk", "med": "medium"}
GENDER_ALIASES = {"m": "male", "f": "female", "boy": "male", "girl": "female", "t": "transgender"}
RI_OUTCOME_ALIASES = {"complete": "completed", "done": "completed", "decline": "declined", "refused": "declined",
                      "void": "voided"}
PLACEMENT_ALIASES = {
    "foster": "foster_care",
    "residential": "la_residential",
    "la-residential": "la_residential",
    "children_home": "la_residential",
    "independent": "independent_residential",
    "semi-independent": "semi_independent",
    "supported": "semi_independent",
}


def valid_zone(value: str) -> str:
    """`value` if it names an IANA time zone; else ValueError with an example."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (e.g. Europe/London)") from None
    return value


def canonical(value: str, allowed: tuple[str, ...], aliases: dict[str, str] | None = None) -> str | None:
    """The canonical spelling of `value`, or None when it is not one of `allowed`."""
    key = value.strip().lower().replace(" ", "_")
    if key in allowed:
        return key
    key2 = key.replace("-", "_")
    if key2 in allowed:
        return key2
    if aliases:
        return aliases.get(key) or aliases.get(key2)
    return None
