"""Slack's text, as typed: what reaches the neutral core from Slack.

Slack sends a command's text with `&`, `<` and `>` escaped and with its own markup for what the
user picked from menus: people `<@U123|jo>`, channels `<#C123|general>`, broadcasts `<!here>`,
user groups `<!subteam^S1|@team>`, links `<https://…|label>`. The core reads people as `@U123`
(the grammar's person), channels as `#general`, broadcasts and groups as the words typed, and
links as their address; everything else exactly as typed."""
from __future__ import annotations

import re

_SPECIAL = re.compile(r"<!(?:subteam\^)?([^|>]*)(?:\|([^>]*))?>")
_PERSON = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]*)(?:\|[^>]*)?>")


def from_slack(text: str) -> str:
    text = _PERSON.sub(lambda m: "@" + m[1], text or "")
    text = _CHANNEL.sub(lambda m: "#" + (m[2] or m[1]), text)
    text = _SPECIAL.sub(lambda m: "@" + (m[2] or m[1]).lstrip("@!"), text)
    text = _LINK.sub(lambda m: m[1].removeprefix("mailto:"), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
