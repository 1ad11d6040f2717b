"""The daily retention report: once a day each admin is told how many children's records are past
the retention rule. It never erases: that is `missing-bot retention --apply`, run by a person."""
from __future__ import annotations

import logging
from datetime import datetime

from bot.context import Services
from store.outbox import enqueue
from store.privacy import due_for_erasure

log = logging.getLogger(__name__)


def retention_report(services: Services, now: datetime) -> None:
    admins = services.settings.admin_users
    if not admins:
        return
    today = now.astimezone(services.zone).date()
    with services.sessions.begin() as s:
        due, _undated = due_for_erasure(s, services.protocol, today)
        if not due:
            return
        for admin in admins:
            enqueue(s, key=f"retention:{today.isoformat()}:{admin}", kind="admin.retention", channel=admin, now=now,
                    text=f":file_cabinet: {len(due)} child(ren)'s records are past the retention rule. On the server, "
                         "`missing-bot retention` lists them and `missing-bot retention --apply` erases them.")
    log.info("retention: %d record(s) past the rule", len(due))
