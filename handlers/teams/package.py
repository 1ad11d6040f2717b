"""The Teams app package (`missing-bot teams package`): manifest.json, a colour icon (192x192 PNG)
and an outline icon (32x32 PNG, white on transparent), zipped, as Teams admin centre and "Upload a
custom app" take it. The bot's command list is what Teams suggests as the user types."""
from __future__ import annotations

import io
import json
import zipfile

MANIFEST_VERSION = "1.17"
MANIFEST_SCHEMA = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = "#B3261E"  # the colour icon's background
SCOPES = ["personal", "team", "groupChat"]

# (title, description): at most 10 per list, 32 and 128 characters (the manifest schema's limits).
COMMANDS = [
    ("report", "A child is missing: report C1234 at 2h ago from Oak House risk high"),
    ("found", "The child is back: found C1234 at 30m ago"),
    ("interview", "Return interview outcome: interview C1234 done at yesterday 14:00"),
    ("status", "Where things stand for a child: status C1234"),
    ("open", "Every child missing now, longest first"),
    ("due", "Return interviews due and overdue"),
    ("agenda", "The next monitoring meeting's agenda"),
    ("stats", "Figures for a period: stats last month"),
    ("help", "Every command, with an example"),
]


def manifest(*, client_id: str, version: str = "1.0.0", developer: str = "Your council",
             website_url: str = "https://www.example.org/missing-bot",
             privacy_url: str = "https://www.example.org/missing-bot/privacy",
             terms_url: str = "https://www.example.org/missing-bot/terms",
             valid_domains: list[str] | None = None) -> dict:
    """The app manifest: one bot (the Azure Bot registration's app id), in personal chat, teams
    and group chats, with its command list; the app id is the bot's id (one app per council)."""
    commands = [{"title": t, "description": d} for t, d in COMMANDS]
    return {
        "$schema": MANIFEST_SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": client_id,
        "developer": {"name": developer[:32], "websiteUrl": website_url, "privacyUrl": privacy_url,
                      "termsOfUseUrl": terms_url},
        "name": {"short": "missing-bot", "full": "missing-bot: children missing from home or care"},
        "description": {
            "short": "The record and the protocol clock for children missing from home or care",
            "full": ("Report a child missing, record their return and return interview, and let the bot run the "
                     "missing protocol's clock: alerts in your team's channel, reminders to the allocated worker, "
                     "the monitoring meeting's agenda and the figures. Channel posts carry the case reference "
                     "and label only; everything else comes to you in your personal chat."),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [{
            "botId": client_id,
            "scopes": SCOPES,
            "isNotificationOnly": False,
            "supportsFiles": False,
            "commandLists": [{"scopes": SCOPES, "commands": commands}],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": valid_domains or [],
    }


def _icon(size: int, *, outline: bool) -> bytes:
    """A pin (the place a child was last seen) in a circle: white on the accent colour, or a
    white outline on transparent for the 32x32 icon Teams tints."""
    from PIL import Image, ImageDraw

    scale = 4  # draw large, then shrink: smooth edges without antialiasing primitives
    big = size * scale
    background = (0, 0, 0, 0) if outline else tuple(int(ACCENT[i:i + 2], 16) for i in (1, 3, 5)) + (255,)
    img = Image.new("RGBA", (big, big), background)
    draw = ImageDraw.Draw(img)
    white = (255, 255, 255, 255)
    width = max(scale * 2, big // 16)
    cx, head_r = big / 2, big * 0.22
    head_cy = big * 0.40
    tip = (cx, big * 0.86)
    left = (cx - head_r * 0.95, head_cy + head_r * 0.35)
    right = (cx + head_r * 0.95, head_cy + head_r * 0.35)
    box = [cx - head_r, head_cy - head_r, cx + head_r, head_cy + head_r]
    if outline:
        draw.ellipse(box, outline=white, width=width)
        draw.line([left, tip, right], fill=white, width=width, joint="curve")
    else:
        draw.ellipse(box, fill=white)
        draw.polygon([left, tip, right], fill=white)
        hole = head_r * 0.42
        draw.ellipse([cx - hole, head_cy - hole, cx + hole, head_cy + hole], fill=background)
    img = img.resize((size, size), Image.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def build(**options) -> bytes:
    """The zip: manifest.json, color.png, outline.png at its root (Teams refuses folders)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest(**options), indent=2, ensure_ascii=False))
        z.writestr("color.png", _icon(192, outline=False))
        z.writestr("outline.png", _icon(32, outline=True))
    return out.getvalue()
