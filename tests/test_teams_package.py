"""`missing-bot teams package`, and the Teams settings' start-up checks, through the real CLI.

No package keeps the Teams manifest JSON schema (Microsoft publishes it only at
developer.microsoft.com; @microsoft/teams-manifest on npm fetches it at run time), so the test
checks what that schema requires: the top-level fields, the bot's shape, the command list's limits
(10 commands, titles 32 and descriptions 128 characters), https developer links, the icon sizes."""
from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from PIL import Image

from bot.cli import main

CLIENT = "00000000-0000-4000-8000-00000000b07a"
TENANT = "00000000-0000-4000-8000-0000000007e7"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in ("TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_TENANT_ID", "TEAMS_DEV_NO_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    return monkeypatch


def test_package_has_a_manifest_teams_accepts_and_both_icons(env, tmp_path, capsys):
    env.setenv("TEAMS_CLIENT_ID", CLIENT)
    env.setenv("TEAMS_CLIENT_SECRET", "not-a-real-secret")
    env.setenv("TEAMS_TENANT_ID", TENANT)
    out = tmp_path / "app.zip"
    assert main(["teams", "package", "-o", str(out), "--developer", "Example Council",
                 "--website", "https://council.example/bot", "--privacy", "https://council.example/privacy",
                 "--terms", "https://council.example/terms"]) == 0
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"]  # at the root
        m = json.loads(z.read("manifest.json"))
        color = Image.open(io.BytesIO(z.read("color.png")))
        outline = Image.open(io.BytesIO(z.read("outline.png")))
    for field in ("manifestVersion", "version", "id", "developer", "name", "description", "icons", "accentColor"):
        assert m[field], field
    assert m["id"] == CLIENT and re.fullmatch(r"\d+\.\d+\.\d+", m["version"])
    assert all(m["developer"][k].startswith("https://") for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl"))
    assert len(m["name"]["short"]) <= 30 and len(m["description"]["short"]) <= 80 and len(m["description"]["full"]) <= 4000
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", m["accentColor"])
    [bot] = m["bots"]
    assert bot["botId"] == CLIENT and sorted(bot["scopes"]) == ["groupChat", "personal", "team"]
    [commands] = bot["commandLists"]
    titles = [c["title"] for c in commands["commands"]]
    assert titles == ["report", "found", "interview", "status", "open", "due", "agenda", "stats", "help"]
    assert len(titles) <= 10 and all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in commands["commands"])
    assert (color.size, color.format) == ((192, 192), "PNG") and (outline.size, outline.format) == ((32, 32), "PNG")
    # The outline icon is white on transparent (Teams tints it).
    raw = outline.convert("RGBA").tobytes()
    rgba = [tuple(raw[i:i + 4]) for i in range(0, len(raw), 4)]
    assert any(p[3] == 255 for p in rgba) and all(p[:3] == (255, 255, 255) for p in rgba if p[3] == 255)
    assert any(p[3] == 0 for p in rgba)
    assert "wrote" in capsys.readouterr().out


def test_package_needs_the_client_id(env, tmp_path, capsys):
    assert main(["teams", "package", "-o", str(tmp_path / "x.zip")]) == 2
    assert "TEAMS_CLIENT_ID" in capsys.readouterr().err and not (tmp_path / "x.zip").exists()


@pytest.mark.parametrize("values, message", [
    ({"TEAMS_CLIENT_ID": "my-bot"}, "setting TEAMS_CLIENT_ID: not a GUID"),
    ({"TEAMS_CLIENT_ID": CLIENT, "TEAMS_CLIENT_SECRET": "s"}, "setting TEAMS_TENANT_ID: required"),
    ({"TEAMS_CLIENT_ID": CLIENT, "TEAMS_TENANT_ID": TENANT}, "setting TEAMS_CLIENT_SECRET: required"),
    ({"TEAMS_CLIENT_ID": CLIENT, "TEAMS_TENANT_ID": TENANT, "TEAMS_CLIENT_SECRET": "s", "TEAMS_DEV_NO_AUTH": "true"},
     "setting TEAMS_DEV_NO_AUTH: refused while TEAMS_CLIENT_SECRET is set"),
    ({"TEAMS_WEBHOOK_URL": "http://flows.example/hook"}, "setting TEAMS_WEBHOOK_URL: not an https URL"),
    ({"ADMIN_USERS": "not-an-id"}, "or a Microsoft Entra object ID"),
])
def test_serve_stops_at_start_up_on_bad_teams_settings(env, capsys, values, message):
    for k, v in values.items():
        env.setenv(k, v)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_entra_object_ids_are_accepted_as_users(env):
    from bot.settings import load_settings

    env.setenv("ADMIN_USERS", "U0ADMIN01, 00000000-0000-4000-8000-0000000000AD")
    env.setenv("AUTHORIZED_USERS", "000000000000400080000000000000a1")
    s = load_settings()
    assert s.admin_users == ["U0ADMIN01", "00000000-0000-4000-8000-0000000000ad"]
    assert s.authorized_users == ["00000000-0000-4000-8000-0000000000a1"]
