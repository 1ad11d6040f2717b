"""Who may use the bot: AUTHORIZED_USERS, MANAGER_USERS, ADMIN_USERS, and (on a platform that has
them) members of AUTHORIZED_USERGROUPS.

`Authorizer` answers from the settings alone; a platform edge subclasses it to look up the
groups and the installed workspace (handlers/slack/auth.py for Slack)."""
from __future__ import annotations

from bot.context import Services

REFUSAL = (":no_entry: You are not authorised to use missing-bot. "
           "Ask your team's missing coordinator to add you (AUTHORIZED_USERS or an authorised user group).")
ADMIN_REFUSAL = ":no_entry: Only missing-bot administrators (ADMIN_USERS) can do that."


class Authorizer:
    """Answers `allowed(user_id)` from the settings; `group_members()` is the platform's part."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def allowed_team(self, team_id: str | None, enterprise_id: str | None) -> bool:
        return True

    def is_manager(self, user_id: str) -> bool:
        return self.services.settings.is_manager(user_id)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.services.settings.admin_users

    def allowed(self, user_id: str | None) -> bool:
        if not user_id:
            return False
        s = self.services.settings
        if user_id in s.authorized_users or user_id in s.admin_users or user_id in s.manager_users:
            return True
        return bool(s.authorized_usergroups) and user_id in self.group_members()

    def group_members(self) -> set[str]:
        return set()


WORKER_REFUSAL = ("The chosen worker is not an authorised user of missing-bot, so cannot be the allocated worker "
                  "(alerts about the child would go to them). Ask your coordinator to add them first.")


def worker_allowed(services: Services, user_id: str) -> bool:
    """An allocated worker receives alerts about the child: they must be an authorised user."""
    authorizer = services.authorizer if isinstance(services.authorizer, Authorizer) else Authorizer(services)
    return authorizer.allowed(user_id)
