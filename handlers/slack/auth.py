"""Slack's part of who may use the bot: the installed workspace (auth.test) and the members of
AUTHORIZED_USERGROUPS (usergroups.users.list), cached for `ttl` seconds."""
from __future__ import annotations

import logging
import threading
import time

from slack_sdk.errors import SlackApiError

from bot.auth import Authorizer
from bot.context import Services

log = logging.getLogger(__name__)


class SlackAuthorizer(Authorizer):
    def __init__(self, services: Services, ttl: float = 300.0) -> None:
        super().__init__(services)
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

    def group_members(self) -> set[str]:
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
