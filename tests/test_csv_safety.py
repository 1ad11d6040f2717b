"""No formulas in any CSV the bot writes: the exports and the report on the command line, and the
files `/missing export` sends through Slack. And the SSDA903 export without the optional validator."""
from __future__ import annotations

import csv
import io
import sys

import pytest

from bot.cli import main
from bot.csvsafe import FORMULA_START, csv_text, safe_cell
from bot.protocol.csvimport import COLUMNS
from handlers.commands import run_command
from scheduler.delivery import deliver_due
from tests.conftest import ADMIN_USER

# Invented rows whose places found are what a spreadsheet would run, and case references that
# the grammar refuses today but a record from before that rule (or another system's ids) can hold.
NASTY_REFS = ["=1+1", "+SUM(A1)", "-2+3", "@A1"]


def nasty_history() -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for i, ref in enumerate(NASTY_REFS):
        w.writerow([f"N{i + 1}", "ZZ", "2010-01-01", "female", "Y", "foster_care", "N", "M", "", f"2025-06-0{i + 1} 10:00",
                    f"2025-06-0{i + 1} 12:00", "", "", f"=HYPERLINK(\"x\";\"{i}\")", "", "N", "N", "", ""])
    return out.getvalue()


@pytest.fixture
def nasty_env(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TIMEZONE", "Europe/London")
    path = tmp_path / "nasty.csv"
    path.write_text(nasty_history())
    assert main(["import", str(path)]) == 0
    from sqlalchemy import update

    from store.db import make_engine
    from store.models import Child

    engine = make_engine(db_url)
    with engine.begin() as c:
        for i, ref in enumerate(NASTY_REFS):
            c.execute(update(Child).where(Child.child_ref == f"N{i + 1}").values(child_ref=ref))
    engine.dispose()
    return tmp_path


def assert_no_formula(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    cells = [c for row in rows for c in row]
    assert cells and not [c for c in cells if c.startswith(FORMULA_START)], text
    return rows


def test_safe_cell_is_the_one_rule():
    assert [safe_cell(v) for v in ("=1", "+1", "-1", "@x", "\tx", "\rx", "ok", "", 5, -3)] == [
        "'=1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "ok", "", 5, -3]
    assert csv_text([["=cmd", -2]]) == "'=cmd,-2\r\n"


def test_every_csv_on_the_command_line_is_neutralised(nasty_env, capsys):
    out = nasty_env
    assert main(["export", "ssda903", "--year", "2025", "-o", str(out / "s.csv")]) == 0
    rows = assert_no_formula((out / "s.csv").read_text())
    assert sorted(r[0] for r in rows[1:]) == sorted("'" + r for r in NASTY_REFS)
    assert main(["export", "annex-a", "-o", str(out / "a.csv")]) == 0
    rows = assert_no_formula((out / "a.csv").read_text())
    assert sorted(r[0] for r in rows[1:]) == sorted("'" + r for r in NASTY_REFS)
    assert main(["report", "--from", "2025-04-01", "--to", "2026-03-31", "--format", "csv", "-o",
                 str(out / "r.csv")]) == 0
    text = (out / "r.csv").read_text()
    assert_no_formula(text)
    assert "'=HYPERLINK" in text and "'-2+3" in text  # the places found and the top children


def test_every_csv_sent_through_slack_is_neutralised(nasty_env, services, slack_stub):
    for text in ("export ssda903 2025", "export annex-a"):
        reply = run_command(services, user_id=ADMIN_USER, channel_id="D0ADMIN", text=text, is_admin=True)
        assert "on its way" in reply.text
    deliver_due(services)
    uploads = [c.args["bytes"].decode("utf-8") for c in slack_stub.calls if c.method == "upload"]
    assert len(uploads) == 2
    for content in uploads:
        rows = assert_no_formula(content)
        assert "'=1+1" in [r[0] for r in rows]


def test_ssda903_without_the_validator_writes_the_file_and_says_how_to_get_checks(nasty_env, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "lac_validator", None)  # as if `missing-bot[returns]` were not installed
    assert main(["export", "ssda903", "--year", "2025", "-o", str(nasty_env / "s.csv")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert (nasty_env / "s.csv").read_text().startswith("CHILD,DOB,MISSING,MIS_START,MIS_END")
    assert err[-1] == ("SSDA903 not checked against the DfE rules: install the checks with "
                       "pip install 'missing-bot[returns]' (the 903 validator, csc-validator-be-903)")
    assert not [line for line in err if "passes" in line or "finding" in line]
