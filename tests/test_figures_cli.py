"""End to end: `missing-bot import | report | export` through bot.cli.main, and `/missing stats` through the router."""
from __future__ import annotations

import base64
import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.protocol.csvimport import COLUMNS
from handlers.commands import run_command
from store.models import Episode, Outbox
from tests.conftest import files, ADMIN_USER, ALERT_CHANNEL, DUTY_USER

UTC = timezone.utc

# Invented history: (child_ref, looked_after, local start, hours missing or None, type)
HISTORY = [
    ("F001", "Y", "2025-03-31 21:00", 2, "M"),  # before the 2025 year and the report period
    ("F001", "Y", "2025-04-01 00:30", 2, "M"),  # first minute-ish of the year
    ("F001", "Y", "2025-05-10 10:00", 30, "A"),
    ("F001", "Y", "2025-09-01 10:00", 5, "M"),
    ("F002", "N", "2025-06-01 12:00", 3, "M"),
    ("F003", "Y", "2026-03-31 23:30", 12, "M"),  # last evening of the year; returns on 1 April
    ("F003", "Y", "2026-04-02 09:00", None, "M"),  # still missing
]
IN_PERIOD = 5  # 2025-04-01 .. 2026-03-31: the rows above counted by hand


def history_csv() -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for ref, la, start, hours, etype in HISTORY:
        started = datetime.fromisoformat(start)
        returned = (started + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M") if hours else ""
        w.writerow([ref, "ZZ", "2010-01-01", "female", la, "foster_care", "N", etype, "", start, returned, "", "",
                    "Park" if returned else "", "", "N", "N", "", ""])
    return out.getvalue()


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TIMEZONE", "Europe/London")
    path = tmp_path / "history.csv"
    path.write_text(history_csv())
    return path


def episodes_in(db_url) -> int:
    from store.db import make_engine

    engine = make_engine(db_url)
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(Episode)).scalar()
    engine.dispose()
    return n


def test_import_report_export(cli_env, tmp_path, capsys, db_url):
    assert main(["import", str(cli_env)]) == 0
    assert "7 episodes added" in capsys.readouterr().out
    assert main(["import", str(cli_env)]) == 0
    assert "0 episodes added, 7 already recorded" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    bad.write_text(history_csv().replace("2025-09-01 10:00", "2025-09-31 10:00").replace("F002,ZZ", "F009,ZZ"))
    assert main(["import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.csv: line 5, started_at: '2025-09-31 10:00' is not a date" in err
    assert "nothing was imported" in err
    assert episodes_in(db_url) == 7

    assert main(["report", "--from", "2025-04-01", "--to", "31/03/2026", "--charts", str(tmp_path / "charts")]) == 0
    out = capsys.readouterr()
    fig = json.loads(out.out)
    assert (fig["episodes"], fig["children"]) == (IN_PERIOD, 3)
    assert fig["durations"]["ongoing"] == 0 and fig["found_locations"] == [{"location": "Park", "episodes": 5}]
    pngs = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert len(pngs) == 5 and all((tmp_path / "charts" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

    assert main(["report", "--from", "2025-04-01", "--to", "2026-03-31", "--looked-after-only", "--format", "csv"]) == 0
    assert ["Episodes", "4"] in list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert main(["report", "--from", "2025-04-01", "--to", "2026-03-31", "--format", "md", "-o", "r.md"]) == 0
    assert "| Episodes | 5 |" in (tmp_path / "r.md").read_text()

    assert main(["export", "ssda903", "--year", "2025"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["CHILD,DOB,MISSING,MIS_START,MIS_END",
                                    "F001,01/01/2010,M,01/04/2025,01/04/2025",
                                    "F001,01/01/2010,A,10/05/2025,11/05/2025",
                                    "F001,01/01/2010,M,01/09/2025,01/09/2025",
                                    "F003,01/01/2010,M,31/03/2026,"]
    assert "passes the DfE checks" in out.err

    assert main(["export", "annex-a"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[0] for r in rows[1:]] == ["F001", "F003"]  # looked-after children only


def test_report_refuses_a_backwards_period(cli_env, capsys):
    assert main(["report", "--from", "2025-04-01", "--to", "2025-03-01"]) == 2
    with pytest.raises(SystemExit):
        main(["report", "--from", "2025-02-30"])
    assert "not a date" in capsys.readouterr().err


def test_slack_stats_posts_summary_and_charts(services, cli_env):
    from bot.context import Ctx
    from store.db import transaction
    from store.imports import import_csv

    with transaction(services.sessions) as s:
        import_csv(Ctx(services=services, session=s, user_id=ADMIN_USER, channel_id="", now=services.now()),
                   cli_env.read_bytes())
    reply = run_command(services, user_id=DUTY_USER, channel_id="C0SOMEWHERE", text="stats 2025-04-01 2026-03-31",
                        is_admin=False)
    assert "5 episodes, 3 children" in reply.text and "Posted to the team channel, with charts" in reply.text
    with services.sessions() as s:
        rows = s.scalars(select(Outbox).where(Outbox.kind.like("figures.%")).order_by(Outbox.id)).all()
    assert [r.kind for r in rows] == ["figures.summary"] + ["figures.chart"] * 5
    assert {r.address for r in rows} == {ALERT_CHANNEL} and len({r.thread_key for r in rows}) == 1
    assert "5 episodes, 3 children" in rows[0].text and "F001" not in rows[0].text
    [f] = files(rows[1])
    assert f["media_type"] == "image/png" and f["content"][:4] == b"\x89PNG"

    reply = run_command(services, user_id=DUTY_USER, channel_id="C1", text="stats 2025-13-01", is_admin=False)
    assert reply.text.startswith(":warning: I could not read the dates")
    reply = run_command(services, user_id=DUTY_USER, channel_id="C1", text="stats 2030-01-01", is_admin=False)
    assert "future" in reply.text
    reply = run_command(services, user_id=DUTY_USER, channel_id="C1", text="stats 1900-01-01", is_admin=False)
    assert "at most 5 years" in reply.text and "missing-bot report" in reply.text
    reply = run_command(services, user_id=DUTY_USER, channel_id="C1", text="stats 2021-11-19 2026-11-19", is_admin=False)
    assert reply.text.startswith("*")  # five years is fine
    reply = run_command(services, user_id=DUTY_USER, channel_id="C1", text="stats", is_admin=False)
    assert "2025-11-20 to 2026-11-19" in reply.text  # the last 12 months up to the clock's today
    reply = run_command(services, user_id=DUTY_USER, channel_id="C1", text="stats 2025-04-01 2026-03-31 looked-after",
                        is_admin=False)
    assert "(looked-after children)" in reply.text and "4 episodes, 2 children" in reply.text


def test_slack_export_is_admin_only_and_sent_to_the_admins_own_direct_message(services, cli_env, slack_stub):
    from bot.context import Ctx
    from store.db import transaction
    from store.imports import import_csv

    with transaction(services.sessions) as s:
        import_csv(Ctx(services=services, session=s, user_id=ADMIN_USER, channel_id="", now=services.now()),
                   cli_env.read_bytes())
    refused = run_command(services, user_id=DUTY_USER, channel_id="D0DUTY", text="export ssda903 2025", is_admin=False)
    assert "F00" not in refused.text
    # Typed in the team channel, or in a direct message that is someone else's (a D id is not enough):
    # the file goes to the admin's own conversation with the bot, which Slack names (conversations.open).
    reply = run_command(services, user_id=ADMIN_USER, channel_id="C0TEAM", text="export ssda903 2025", is_admin=True)
    assert "SSDA903 Missing 2025/26: 4 rows" in reply.text and "passes the DfE checks" in reply.text
    assert "in your direct message with the bot" in reply.text
    reply = run_command(services, user_id=ADMIN_USER, channel_id="D0SOMEONE", text="export annex-a", is_admin=True)
    assert "2 looked-after children" in reply.text
    assert [c.args["users"] for c in slack_stub.calls if c.method == "conversations.open"] == [ADMIN_USER, ADMIN_USER]
    with services.sessions() as s:
        rows = s.scalars(select(Outbox).where(Outbox.kind == "figures.export").order_by(Outbox.id)).all()
    assert [r.address for r in rows] == ["DADMIN0001", "DADMIN0001"]
    assert files(rows[0])[0]["content"].splitlines()[-1] == "F003,01/01/2010,M,31/03/2026,"
    assert files(rows[0])[0]["filename"] == "ssda903_missing_2025-26.csv"
    reply = run_command(services, user_id=ADMIN_USER, channel_id="D0ADMIN", text="export ssda903", is_admin=True)
    assert reply.text.startswith(":warning: Give the year")


def test_report_to_alone_means_the_twelve_months_ending_then(cli_env, capsys):
    assert main(["import", str(cli_env)]) == 0
    capsys.readouterr()
    # Only --to: the 12 months up to it (1 April 2025 - 31 March 2026), not "12 months before today" (2025-11-20),
    # which was after --to and refused.
    assert main(["report", "--to", "2026-03-31"]) == 0
    fig = json.loads(capsys.readouterr().out)
    assert fig["period"] == {"from": "2025-04-01", "to": "2026-03-31"} and fig["episodes"] == IN_PERIOD


def test_unwritable_output_is_a_message_not_a_traceback(cli_env, tmp_path, capsys):
    nowhere = tmp_path / "no" / "such" / "dir" / "r.json"
    assert main(["report", "-o", str(nowhere)]) == 1
    assert main(["export", "annex-a", "-o", str(nowhere)]) == 1
    assert main(["export", "ssda903", "--year", "2025", "-o", str(nowhere)]) == 1
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["report", "--charts", str(blocker / "charts")]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err
