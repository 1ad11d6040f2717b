"""The platforms the bot speaks on, and the one place that tells them apart by an id's shape.

An outbox row names its platform; a user id says which platform it belongs to (Slack ids are
`U…`/`W…`, Teams users are Entra object ids, which are UUIDs); an address says whether many
people read it (a channel) or one (a direct or personal chat)."""
from __future__ import annotations

import re

SLACK, TEAMS, TEAMS_WEBHOOK, EMAIL = "slack", "teams", "teams_webhook", "email"
PLATFORMS = (SLACK, TEAMS, TEAMS_WEBHOOK, EMAIL)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def user_platform(user_id: str) -> str:
    """Which platform a user id belongs to."""
    return TEAMS if _UUID.match(user_id or "") else SLACK


def is_user(user_id: str) -> bool:
    """A person (Slack U…/W…, an Entra object id), not a conversation."""
    return bool(_UUID.match(user_id or "")) or (user_id or "")[:1] in ("U", "W")


def is_channel(platform: str, address: str) -> bool:
    """Whether many people read this address: a Slack channel (C…, G…), a Teams channel or group
    chat (not a personal chat, `a:…`), or a Teams webhook. Direct messages and users are not."""
    if platform == SLACK:
        return (address or "")[:1] in ("C", "G")
    if platform == TEAMS:
        return not is_user(address) and not (address or "").startswith("a:")
    return platform == TEAMS_WEBHOOK


def platform_for(address: str) -> str:
    """The platform of an address when the caller did not say: email, a Teams user or a Slack id."""
    if address == EMAIL:
        return EMAIL
    return user_platform(address)
