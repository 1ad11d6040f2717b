"""The `missing-bot` command from outside: settings errors, console, db upgrade."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict | None = None, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "TIMEZONE",
                                                                        "AUTHORIZED_", "ADMIN_", "ALERT_", "PROTOCOL_"))}
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True,
                          env=base, cwd=cwd or ROOT, timeout=120)


@pytest.mark.parametrize("env,name", [
    ({"TIMEZONE": "Europe/Lndon"}, "TIMEZONE"),
    ({"AUTHORIZED_USERS": "U123,not an id"}, "AUTHORIZED_USERS"),
    ({"ALERT_CHANNEL": "#team"}, "ALERT_CHANNEL"),
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    ({"PROTOCOL_FILE": "/nonexistent.toml"}, "PROTOCOL_FILE"),
    ({"SLACK_BOT_TOKEN": "xoxp-a-user-token"}, "SLACK_BOT_TOKEN"),
    ({"SLACK_APP_TOKEN": "xoxb-not-an-app-token"}, "SLACK_APP_TOKEN"),
    ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
    ({"SMTP_URL": "http://mail.example.org"}, "SMTP_URL"),
    ({"CALENDAR_TOKEN": "a/b"}, "CALENDAR_TOKEN"),
])
def test_malformed_setting_stops_with_one_line_naming_it(tmp_path, env, name):
    result = run(["db", "upgrade"], env=env, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], result.stderr


def test_serve_without_slack_settings_names_the_missing_one(tmp_path):
    result = run(["serve"], cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "missing-bot: setting SLACK_BOT_TOKEN is required for this command (see README, Configuration)"]


def test_serve_when_slack_cannot_be_reached_says_so_in_one_line(tmp_path):
    result = run(["serve", "--port", "0"], cwd=tmp_path, env={
        "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s" * 32, "ALERT_CHANNEL": "C0ALERTS01",
        "SLACK_API_URL": "http://127.0.0.1:9/api/"})  # nothing listens on port 9
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Slack" in lines[0] and "SLACK_API_URL" in lines[0], result.stderr


def test_console_refuses_a_live_bots_settings(tmp_path):
    result = run(["console"], cwd=tmp_path, env={"SLACK_BOT_TOKEN": "xoxb-live"}, stdin="/missing open\n")
    assert result.returncode != 0
    assert "will not use a live bot's database" in result.stderr and "SLACK_BOT_TOKEN" in result.stderr


def test_console_is_scriptable(tmp_path):
    script = "\n".join([
        "/missing child C42 label ZQ looked-after yes placement foster_care",
        "/missing report C42 at 1h ago risk high",
        "/missing open",
        "/missing report C42",
    ]) + "\n"
    result = run(["console"], stdin=script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Recorded C42 (ZQ)" in out
    assert "posted to #team-channel" in out and "C42 (ZQ) reported missing" in out
    assert "1 child missing now" in out
    assert "already recorded missing" in out
    assert (tmp_path / "missing-bot.sqlite3").exists(), "the console uses the default SQLite file"
    assert "Traceback" not in result.stderr


def test_console_demo_shows_sample_data(tmp_path):
    result = run(["console", "--demo"], stdin="", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "demo: 8 children" in result.stdout
    assert "C1001 (JB)" in result.stdout and "missing now" in result.stdout
    assert not (tmp_path / "missing-bot.sqlite3").exists(), "the demo never touches the real database"


def test_db_upgrade_on_a_new_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    result = run(["db", "upgrade"], env={"DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout


def test_the_console_shows_every_emoji_code_the_bot_writes():
    """The console (and Teams) show icons as characters: a name the table does not know shows as `:wastebasket:`."""
    import re
    from pathlib import Path

    from bot.messages import ICONS

    EMOJI = {f":{name}:" for name in ICONS}

    root = Path(__file__).resolve().parent.parent
    used = set()
    for folder in ("bot", "handlers", "store", "scheduler"):
        for path in (root / folder).rglob("*.py"):
            used |= set(re.findall(r"(?<=['\" ])(:[a-z][a-z_0-9]+:)(?=['\" ])", path.read_text(encoding="utf-8")))
    assert used, "the scan found the bot's emoji codes"
    assert sorted(used - set(EMOJI)) == []
