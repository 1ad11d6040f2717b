"""A file a user uploaded through a form, fetched from Slack with the bot token (`files.info`,
then its private download URL)."""
from __future__ import annotations

import urllib.request

from bot.context import Services
from bot.protocol.csvimport import MAX_BYTES, Problems


def fetch(services: Services, file_id: str) -> tuple[str, bytes]:
    """(file name, contents) of an uploaded file, through the Web API and its private URL."""
    info = services.client.files_info(file=file_id)["file"]
    name = info.get("name") or file_id
    if int(info.get("size") or 0) > MAX_BYTES:
        raise Problems([f"line 1, file: the file is larger than {MAX_BYTES // 2**20} MB; split it"])
    request = urllib.request.Request(info["url_private_download"],
                                     headers={"Authorization": f"Bearer {services.settings.slack_bot_token}"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - Slack's own https URL
        data = response.read(MAX_BYTES + 1)
    if data[:15].lstrip().lower().startswith((b"<!doctype", b"<html")):
        # Slack answers an unauthorised download with its sign-in page.
        raise PermissionError("the download gave a web page, not the file: does the app have files:read?")
    return name, data
