"""Settings from the environment and `.env`, through pydantic-settings.

A missing or malformed setting stops start-up with one line that names it
(see `load_settings`)."""
from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.protocol.words import valid_zone


def _split_ids(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


IdList = Annotated[list[str], NoDecode]

# A Microsoft Entra object id (a Teams user) or a Microsoft app/tenant id: a GUID.
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def entra_user_id(value: str) -> str:
    """The bot's id for a Teams user: their Entra object id as a lowercase GUID (bot/platforms.py
    tells platforms apart by this shape); the 32-digit form without hyphens is read too."""
    import uuid

    return str(uuid.UUID(value))


TOKENS = {"slack_bot_token": ("xoxb-", "a bot token: use the Bot User OAuth Token"),
          "slack_app_token": ("xapp-", "an app-level token (or leave it empty for HTTP mode): use the App-Level Token")}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default="sqlite:///missing-bot.sqlite3",
        description="SQLAlchemy URL. Default: a SQLite file in the working directory.",
    )
    slack_bot_token: str = Field(default="", description="Bot token (xoxb-...).")
    slack_signing_secret: str = Field(default="", description="Signing secret, for HTTP mode.")
    slack_app_token: str = Field(default="", description="App-level token (xapp-...); when set, `run` uses Socket Mode.")
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Base URL of the Slack Web API (tests point it at a fake)."
    )
    alert_channel: str = Field(default="", description="Channel ID of the team channel that receives alerts.")
    timezone: str = Field(default="Europe/London", description="The council's time zone (IANA name).")
    authorized_users: IdList = Field(default_factory=list, description="Comma-separated Slack user IDs allowed to use the bot.")
    authorized_usergroups: IdList = Field(
        default_factory=list, description="Comma-separated Slack user group IDs whose members may use the bot."
    )
    admin_users: IdList = Field(default_factory=list, description="Comma-separated Slack user IDs who may also import, export and administer.")
    manager_users: IdList = Field(
        default_factory=list,
        description="Comma-separated Slack user IDs of team managers: sign off interviews, withdraw and amend records at any time.",
    )
    allowed_team_ids: IdList = Field(default_factory=list, description="Workspace (T...) or Enterprise Grid "
                                     "organisation (E...) IDs served; empty: the one the bot token belongs to.")
    protocol_file: str = Field(default="", description="TOML file with the council's protocol rules; defaults built in.")
    smtp_url: str = Field(default="", description="smtp://user:pass@host:port for emailed invites; empty: no email.")
    smtp_from: str = Field(default="", validate_default=True,
                           description="The bot's own address, From of every email (required with SMTP_URL).")
    agenda_marking: str = Field(default="OFFICIAL-SENSITIVE",
                                description="Protective marking in the subject and body of agenda emails; empty: none.")
    meeting_chairs: IdList = Field(default_factory=list,
                                   description="Slack user IDs who may set up, change and cancel meeting series (besides admins).")
    calendar_token: str = Field(default="", description="Secret for the read-only calendar feed URL; empty: no feed.")
    log_level: str = Field(default="INFO", description="Python log level.")
    # Microsoft Teams (issue 11, docs/TEAMS.md): a single-tenant Azure Bot registration.
    teams_client_id: str = Field(default="", description="Teams: the bot's Microsoft App ID (a GUID); empty: no Teams.")
    teams_client_secret: str = Field(default="", description="Teams: a client secret of that app registration.")
    teams_tenant_id: str = Field(default="", description="Teams: the council's Microsoft Entra tenant ID (a GUID).")
    teams_webhook_url: str = Field(default="", description="Teams alert-only mode: a Workflows 'When a Teams "
                                   "webhook request is received' URL; alerts are posted there.")
    teams_open_url: str = Field(default="https://teams.microsoft.com/",
                                description="Teams: where the 'Open in Teams' link of webhook alerts goes.")
    teams_public_url: str = Field(default="", description="Teams: https address of this server (as in the messaging "
                                  "endpoint, without /api/messages): files reach the personal chat as links to it.")
    teams_dev_no_auth: bool = Field(default=False, description="Teams development only: accept activities without "
                                    "a Bot Framework token. Refused when TEAMS_CLIENT_SECRET is set.")
    # Where Microsoft's endpoints are (tests point them at fakes on 127.0.0.1).
    teams_token_url: str = Field(default="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                                 description="Teams: Entra ID token endpoint ({tenant} is replaced).")
    teams_openid_url: str = Field(default="", description="Teams: Bot Framework OpenID metadata URL; empty: Microsoft's.")
    teams_token_issuer: str = Field(default="", description="Teams: issuer of inbound tokens; empty: Microsoft's.")

    @field_validator("authorized_users", "authorized_usergroups", "admin_users", "manager_users", "meeting_chairs",
                     "allowed_team_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> list[str]:
        ids = _split_ids(value)
        out = []
        for item in ids:
            if GUID.match(item) or HEX32.match(item):  # a Teams user: the bot's id for them is `entra_user_id`
                out.append(entra_user_id(item))
                continue
            if not item.isalnum() or not item[0].isalpha():
                raise ValueError(f"{item!r} is not a Slack ID (e.g. U012AB3CD) or a Microsoft Entra object ID "
                                 "(e.g. 00000000-0000-4000-8000-000000000001)")
            out.append(item)
        return out

    @field_validator("teams_client_id", "teams_tenant_id")
    @classmethod
    def _guid(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if value and not GUID.match(value):
            what = "the Microsoft App ID" if info.field_name == "teams_client_id" else "the Directory (tenant) ID"
            raise ValueError(f"not a GUID: use {what} from the Azure portal (e.g. 00000000-0000-4000-8000-000000000001)")
        return value.lower()

    @field_validator("teams_webhook_url", "teams_open_url", "teams_token_url", "teams_openid_url", "teams_token_issuer",
                     "teams_public_url")
    @classmethod
    def _teams_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not parts.netloc or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
            raise ValueError("not an https URL (plain http only to this machine, for tests)")
        return value

    @model_validator(mode="after")
    def _teams(self) -> "Settings":
        if self.teams_dev_no_auth and self.teams_client_secret:
            raise ValueError("setting TEAMS_DEV_NO_AUTH: refused while TEAMS_CLIENT_SECRET is set: the development "
                             "mode accepts unsigned activities and must never run with real credentials")
        if self.teams_client_id:
            if not self.teams_tenant_id:
                raise ValueError("setting TEAMS_TENANT_ID: required with TEAMS_CLIENT_ID (the bot is single-tenant)")
            if not self.teams_client_secret and not self.teams_dev_no_auth:
                raise ValueError("setting TEAMS_CLIENT_SECRET: required with TEAMS_CLIENT_ID")
        elif self.teams_client_secret or self.teams_tenant_id:
            raise ValueError("setting TEAMS_CLIENT_ID: required with TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID")
        return self

    @property
    def teams_enabled(self) -> bool:
        return bool(self.teams_client_id)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return valid_zone(value)

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (e.g. sqlite:///missing-bot.sqlite3 or postgresql+psycopg://host/db)") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only sqlite and postgresql are supported")
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            value = value.replace("postgresql://", "postgresql+psycopg://", 1)
        return value

    @field_validator("alert_channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value and not (value.isalnum() and value[0] in "CGD"):
            raise ValueError(f"{value!r} is not a channel ID (e.g. C0123456789); use the ID, not #name")
        return value

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _token(cls, value: str, info: ValidationInfo) -> str:
        prefix, what = TOKENS[info.field_name]
        value = value.strip()
        if value and not value.startswith(prefix):
            raise ValueError(f"not {what}, {prefix}...")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("not an http(s) URL (e.g. https://slack.com/api/)")
        return value.strip().rstrip("/") + "/"

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str) -> str:
        if value:
            from bot.mail import parse_smtp_url  # (with icalendar: not loaded for the usual empty value)

            try:
                parse_smtp_url(value).port  # noqa: B018 - a bad port raises here
            except ValueError:
                raise ValueError("use smtp://user:password@host:port or smtps://user:password@host:port") from None
        return value

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from(cls, value: str, info: ValidationInfo) -> str:
        from email.utils import formataddr, parseaddr

        value = value.strip()
        if not value:
            if info.data.get("smtp_url"):
                raise ValueError("required when SMTP_URL is set: the bot's own address, e.g. "
                                 "missing-bot <missing-bot@council.example>")
            return value
        name, addr = parseaddr(value)
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", addr or ""):
            raise ValueError("not an email address (e.g. missing-bot <missing-bot@council.example>)")
        return formataddr((name, addr))

    @field_validator("agenda_marking")
    @classmethod
    def _marking(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) > 60 or any(c in value for c in "<>\r\n"):
            raise ValueError("a short marking such as OFFICIAL-SENSITIVE (at most 60 characters, no < or >)")
        return value

    @field_validator("calendar_token")
    @classmethod
    def _calendar_token(cls, value: str) -> str:
        if value and (len(value) < 16 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in value)):
            raise ValueError("use at least 16 letters, digits, - or _ (it is the only key to the feed)")
        return value

    @field_validator("protocol_file")
    @classmethod
    def _protocol_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"file {value!r} does not exist")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admin_users

    def is_manager(self, user_id: str) -> bool:
        """Managers (MANAGER_USERS) and admins: sign-off, and corrections at any time."""
        return user_id in self.manager_users or user_id in self.admin_users

    def may_manage_meetings(self, user_id: str) -> bool:
        """Setting up, changing and cancelling a series chooses who outside the council is emailed."""
        return user_id in self.admin_users or user_id in self.meeting_chairs

    @property
    def bot_address(self) -> tuple[str, str]:
        """(display name, address) of SMTP_FROM."""
        from email.utils import parseaddr

        name, addr = parseaddr(self.smtp_from)
        return (name or "missing-bot", addr.lower())


class SettingsError(SystemExit):
    """Raised with a one-line message naming the setting at fault."""


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"] and msg.startswith("setting "):  # a check across settings names its own
            lines.append(msg)
            continue
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        lines.append(f"setting {name}: {msg}")
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(f"missing-bot: {describe_validation_error(exc)}") from None


def require(settings: Settings, *names: str) -> None:
    """Stop start-up when a setting this mode needs is empty."""
    for name in names:
        if not getattr(settings, name):
            raise SettingsError(f"missing-bot: setting {name.upper()} is required for this command (see README, Configuration)")
