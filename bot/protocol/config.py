"""The council's protocol: every number the rules use, with the defaults of PRODUCT.md.

Loaded from a TOML file (`PROTOCOL_FILE`); an invalid file stops start-up with a line
naming the key and the problem."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.protocol.meetings import Person, SeriesConfig, unique_names
from bot.protocol.words import DEFAULT_FACTORS, factor_code


class PersistenceRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    episodes: int = Field(ge=2, le=100)
    days: int = Field(ge=1, le=3660)
    action: str = Field(min_length=1)


def _council_name(value: str) -> str:
    """A council named in the file must be on the ONS list (bot/protocol/authorities.py)."""
    from bot.protocol import authorities

    try:
        return authorities.lookup(value).name
    except authorities.UnknownAuthority as exc:
        raise ValueError(exc.message.replace("`", "'")) from None


class AuthorityContact(BaseModel):
    """`[[authorities]]`: how to reach another council's children's services (the placing council
    of a child placed here, the host council of our child placed there)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    email: str = ""
    phone: str = ""
    _name = field_validator("name")(classmethod(lambda cls, v: _council_name(v)))

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return Person(email=value).email if value.strip() else ""

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        value = " ".join(value.split())
        if value and not all(c.isdigit() or c in " +()-" for c in value):
            raise ValueError(f"{value!r} is not a phone number")
        return value


class Protocol(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Return interviews
    interview_hours: int = Field(default=72, ge=1, le=24 * 30)
    interview_reminder_hours_before: list[int] = Field(default_factory=lambda: [24])
    overdue_repeat_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Daily overdue reminders stop this many days after the deadline (the agenda still lists them).
    overdue_reminder_days: int = Field(default=28, ge=1, le=366)
    # Long-missing thresholds: hours an open episode has lasted -> action text
    long_missing_hours: list[int] = Field(default_factory=lambda: [24, 72])
    long_missing_actions: list[str] = Field(
        default_factory=lambda: ["strategy meeting required", "escalate to head of service"]
    )
    persistence: list[PersistenceRule] = Field(
        default_factory=lambda: [
            PersistenceRule(episodes=3, days=30, action="missing intervention planning meeting"),
            PersistenceRule(episodes=3, days=90, action="strategy meeting"),
        ]
    )
    count_away_episodes: bool = Field(default=True, description="whether away-from-placement episodes count toward thresholds")
    # Per rule; each defaults to count_away_episodes when the file does not say.
    count_away_long_missing: bool | None = Field(
        default=None, description="whether an open away-from-placement episode raises the long-missing alerts")
    count_away_persistence: bool | None = Field(
        default=None, description="whether away-from-placement episodes count toward the persistence thresholds")
    high_risk_alert: bool = True
    report_persistent_threshold: int = Field(default=3, ge=2, le=100)
    future_grace_minutes: int = Field(default=5, ge=0, le=120)
    # Retention: a child's record is kept until this birthday (looked-after children / others),
    # then anonymised by `missing-bot retention --apply` (store/privacy.py).
    retention_years_looked_after: int = Field(default=75, ge=18, le=120)
    retention_years_other: int = Field(default=25, ge=18, le=120)
    # Push/pull factors practitioners choose from (inline `factors a, b` and the forms' list).
    push_pull_factors: list[str] = Field(default_factory=lambda: list(DEFAULT_FACTORS), min_length=1, max_length=100)
    # Monitoring meeting series set up in the file (`[[meetings]]`); more can be added from Slack.
    meetings: list[SeriesConfig] = Field(default_factory=list)
    # Across council boundaries. `council`: our own council (ONS name), shown as the LA of
    # placement in Annex A. `authorities`: other councils' contacts. A child placed here by another
    # council is that council's to interview on return: "ours" runs our clock as for any child,
    # "confirm" reminds the team to confirm the placing council has arranged it, "none" neither.
    council: str | None = None
    authorities: list[AuthorityContact] = Field(default_factory=list)
    placed_by_interviews: Literal["ours", "confirm", "none"] = "confirm"
    # Where replies to the emails to other councils go (they come from SMTP_FROM), e.g. the missing coordinator.
    notify_from: Person | None = None
    _council = field_validator("council")(classmethod(lambda cls, v: v if v is None else _council_name(v)))
    _unique_meetings = model_validator(mode="after")(unique_names)

    @property
    def factors(self) -> dict[str, str]:
        """code -> the words shown, in the file's order."""
        return {factor_code(f): " ".join(f.split()) for f in self.push_pull_factors}

    @model_validator(mode="after")
    def _away_defaults(self) -> "Protocol":
        if self.count_away_long_missing is None:
            self.count_away_long_missing = self.count_away_episodes
        if self.count_away_persistence is None:
            self.count_away_persistence = self.count_away_episodes
        return self

    @model_validator(mode="after")
    def _consistent(self) -> "Protocol":
        if len(self.long_missing_actions) != len(self.long_missing_hours):
            raise ValueError("long_missing_actions needs one action per entry of long_missing_hours")
        for h in self.long_missing_hours:
            if not 0 < h <= 24 * 365:
                raise ValueError(f"long_missing_hours: {h} must be between 1 and 8760")
        codes = [factor_code(f) for f in self.push_pull_factors]
        for name, code in zip(self.push_pull_factors, codes):
            if not code or len(code) > 40 or not all(c.isalnum() or c == "_" for c in code):
                raise ValueError(f"push_pull_factors: {name!r} must be letters, digits and spaces, up to 40 characters")
        if len(set(codes)) != len(codes):
            raise ValueError("push_pull_factors: a factor is listed twice")
        for h in self.interview_reminder_hours_before:
            if not 0 < h < self.interview_hours:
                raise ValueError(f"interview_reminder_hours_before: {h} must be between 1 and interview_hours - 1")
        names = [a.name for a in self.authorities]
        if len(names) != len(set(names)):
            raise ValueError("authorities: a council is listed twice")
        return self

    def contact(self, council: str | None) -> AuthorityContact | None:
        return next((a for a in self.authorities if a.name == council), None) if council else None


class ProtocolError(SystemExit):
    pass


def load_protocol(path: str | Path | None) -> Protocol:
    if not path:
        return Protocol()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProtocolError(f"missing-bot: protocol file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"missing-bot: protocol file {path}: not valid TOML ({exc})") from None
    return parse_protocol(data, source=str(path))


def parse_protocol(data: dict, source: str = "protocol") -> Protocol:
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = err["msg"].removeprefix("Value error, ")
        raise ProtocolError(f"missing-bot: protocol file {source}: key {key}: {msg}") from None
