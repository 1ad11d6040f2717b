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
CONCERN_TYPES = ("cse", "cce")
CONCERN_WORDS = {"cse": "child sexual exploitation", "cce": "child criminal exploitation"}
# Words people type for a kind of meeting held (`/missing held C1 strategy discussion at ...`).
HELD_MEETING_ALIASES = {"strategy_meeting": "strategy", "intervention_planning_meeting": "ipm",
                        "missing_intervention_planning_meeting": "ipm", "strategy_discussion": "discussion"}
# Push/pull factors: the protocol file's `push_pull_factors` replaces this list.
DEFAULT_FACTORS = ("family conflict", "placement", "peers", "exploitation", "substance use", "mental health",
                   "relationships", "education", "other")


def factor_code(name: str) -> str:
    """The stored code of a push/pull factor: `family conflict` -> `family_conflict`."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def factor_word(code: str) -> str:
    return code.replace("_", " ")

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


# -- words a practitioner reads ---------------------------------------------------------------
# The codes above are what is stored and typed; these are what agendas, alerts, replies and the
# board figures show. One place, so a code never reaches a reader as `la_residential`.
PLACEMENT_WORDS = {
    "la_residential": "LA residential",
    "foster_care": "foster care",
    "independent_residential": "independent residential",
    "semi_independent": "semi-independent",
    "unregulated": "unregulated",
    "secure": "secure",
    "home": "home",
    "other": "other",
}
RISK_WORDS = {"no_apparent_risk": "no apparent risk", "low": "low", "medium": "medium", "high": "high"}
RI_OUTCOME_WORDS = {"completed": "completed", "declined": "declined", "voided": "voided"}
GENDER_WORDS = {"male": "male", "female": "female", "transgender": "transgender", "other": "other",
                "unknown": "unknown"}
EPISODE_WORDS = {"missing": "missing", "away": "away from placement"}
# Meetings the protocol asks for, as recorded by `/missing held` (store.models.HeldMeeting.kind).
HELD_MEETING_KINDS = ("strategy", "ipm", "discussion")
HELD_MEETING_WORDS = {"strategy": "strategy meeting", "ipm": "intervention planning meeting",
                      "discussion": "strategy discussion"}


def _say(table: dict[str, str], code: str | None, none: str) -> str:
    if code is None or code == "":
        return none
    # An unknown code (a value from an older version, an import) still reads as words.
    return table.get(code, str(code).replace("_", " "))


def placement_word(code: str | None) -> str:
    return _say(PLACEMENT_WORDS, code, "not recorded")


def risk_word(code: str | None) -> str:
    return _say(RISK_WORDS, code, "not graded")


def outcome_word(code: str | None) -> str:
    return _say(RI_OUTCOME_WORDS, code, "no outcome")


def gender_word(code: str | None) -> str:
    return _say(GENDER_WORDS, code, "unknown")


def episode_word(code: str | None) -> str:
    """`missing` or `away from placement`."""
    return _say(EPISODE_WORDS, code or "missing", "missing")


def held_meeting_word(code: str | None) -> str:
    return _say(HELD_MEETING_WORDS, code, "meeting")
