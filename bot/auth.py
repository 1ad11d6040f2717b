"""Who may use the bot: AUTHORIZED_USERS, MANAGER_USERS, ADMIN_USERS, and members of AUTHORIZED_USERGROUPS."""
from __future__ import annotations

import logging
import threading
import time

from slack_sdk.errors import SlackApiError

from bot.context import Services

log = logging.getLogger(__name__)

REFUSAL = (":no_entry: You are not authorised to use missing-bot. "
           "Ask your team's missing coordinator to add you (AUTHORIZED_USERS or an authorised user group).")
ADMIN_REFUSAL = ":no_entry: Only missing-bot administrators (ADMIN_USERS) can do that."


class Authorizer:
    """Answers `allowed(user_id)`; user group membership is cached for `ttl` seconds."""

    def __init__(self, services: Services, ttl: float = 300.0) -> None:
        self.services = services
        self.ttl = ttl
        self._members: set[str] = set()
        self._fetched = 0.0
        self._lock = threading.Lock()
        self._team: str | None = None

    def allowed_team(self, team_id: str | None, enterprise_id: str | None) -> bool:
        """The installed workspace (auth.test), or one of ALLOWED_TEAM_IDS (Enterprise Grid)."""
        allowed = set(self.services.settings.allowed_team_ids)
        if not allowed:
            installed = self._installed_team()
            if installed is None:
                return False
            allowed = {installed}
        return bool((team_id and team_id in allowed) or (enterprise_id and enterprise_id in allowed))

    def _installed_team(self) -> str | None:
        with self._lock:
            if self._team is None:
                try:
                    self._team = self.services.client.auth_test().get("team_id") or None
                except SlackApiError as exc:
                    log.warning("auth.test failed, cannot tell the installed workspace: %s", exc.response.get("error"))
                except OSError as exc:
                    log.warning("auth.test failed, cannot tell the installed workspace: %s", type(exc).__name__)
            return self._team

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
        return bool(s.authorized_usergroups) and user_id in self._group_members()

    def _group_members(self) -> set[str]:
        with self._lock:
            if time.monotonic() - self._fetched < self.ttl and self._fetched:
                return self._members
            members: set[str] = set()
            try:
                for group in self.services.settings.authorized_usergroups:
                    resp = self.services.client.usergroups_users_list(usergroup=group)
                    members.update(resp.get("users", []))
            except SlackApiError as exc:
                log.warning("could not read user group members: %s", exc.response.get("error"))
                return self._members  # keep the last good list
            self._members, self._fetched = members, time.monotonic()
            return members


WORKER_REFUSAL = ("<@{user}> is not an authorised user of missing-bot, so cannot be the allocated worker (alerts "
                  "about the child would go to them). Ask your coordinator to add them first.")


def worker_allowed(services: Services, user_id: str) -> bool:
    """An allocated worker receives alerts about the child: they must be an authorised user."""
    authorizer = services.authorizer if isinstance(services.authorizer, Authorizer) else Authorizer(services)
    return authorizer.allowed(user_id)
