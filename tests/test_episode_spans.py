"""episodes.away_us and ri_after_us (what the board figures' durations and interview timescales
compare, migration 0013) are kept by the database itself: after every kind of write (record,
return, interview, corrections of start and return, withdrawal, erasure, import, a bulk update,
raw SQL, the migration's own fill of older rows) they equal the times they come from, to the
microsecond, on SQLite and on PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from alembic import command
from sqlalchemy import select, text, update

from bot.cli import main
from bot.context import Ctx, build_services
from bot.settings import Settings
from store import corrections, records
from store.db import alembic_config
from store.models import Child, Episode
from store.privacy import erase_child
from tests.test_figures_sql import edges_csv

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)


def _us(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    d = later - earlier
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _check(services) -> int:
    """Every episode's stored spans equal the ones computed from its times; returns how many."""
    with services.sessions.begin() as s:
        rows = s.execute(select(Episode.id, Episode.started_at, Episode.returned_at, Episode.ri_at, Episode.away_us,
                                Episode.ri_after_us).execution_options(include_withdrawn=True)).all()
    wrong = [r for r in rows if (r.away_us, r.ri_after_us) != (_us(r.returned_at, r.started_at),
                                                                  _us(r.ri_at, r.returned_at))]
    assert wrong == []
    return len(rows)


@pytest.fixture
def imported(db_url, tmp_path, monkeypatch):
    """The figure tests' edge cases, imported with the CLI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TIMEZONE", "Europe/London")
    (tmp_path / "edges.csv").write_text(edges_csv())
    with time_machine.travel(NOW, tick=False):
        assert main(["import", str(tmp_path / "edges.csv")]) == 0


def test_every_write_keeps_the_spans(db_url, imported):  # the import: bulk inserts
    services = build_services(Settings(_env_file=None, database_url=db_url, timezone="Europe/London"), migrate=False,
                              clock=lambda: NOW)
    assert _check(services) == 12

    def ctx(s):
        return Ctx(services=services, session=s, user_id="U0ADMIN01", channel_id="", now=NOW, is_admin=True)

    t0 = datetime(2026, 10, 1, 8, 0, 0, 123456, tzinfo=timezone.utc)
    with services.sessions.begin() as s:  # the bot's own writes
        child = records.upsert_child(ctx(s), "S001", {"label": "ZZ", "gender": "female"}).child
        records.report_missing(ctx(s), child, started_at=t0)
    _check(services)
    with services.sessions.begin() as s:
        child = records.require_child(s, "S001")
        records.record_found(ctx(s), child, returned_at=t0 + timedelta(hours=23, microseconds=999_999))
        records.record_interview(ctx(s), child, outcome="completed", at=t0 + timedelta(hours=95, microseconds=1))
    _check(services)
    with services.sessions.begin() as s:  # corrections of the start and of the return
        child = records.require_child(s, "S001")
        episode = records.latest_episode(s, child.id)
        corrections.amend(ctx(s), child, episode, "start", t0 - timedelta(minutes=1, microseconds=5), "")
        corrections.amend(ctx(s), child, episode, "returned", t0 + timedelta(hours=30), "")
    _check(services)
    with services.sessions.begin() as s:  # withdrawn, then the child erased
        child = records.require_child(s, "S001")
        corrections.withdraw(ctx(s), child, records.latest_episode(s, child.id), "recorded in error", "")
        erase_child(s, records.require_child(s, "E001"), actor="U0ADMIN01", now=NOW, zone=services.zone)
    _check(services)
    with services.sessions.begin() as s:  # a bulk update and raw SQL
        s.execute(update(Episode).where(Episode.returned_at.is_not(None))
                  .values(ri_at=Episode.returned_at).execution_options(synchronize_session=False))
        child_id = s.scalar(select(Child.id).where(Child.child_ref == "E002"))
        s.execute(text("INSERT INTO episodes (child_id, episode_type, started_at, missing_from, placement_type, "
                       "police_ref, reported_by, returned_at, returned_by, found_location, reasons, cse_concern, "
                       "cce_concern, concern_note, ri_by, ri_account, ri_followup, ri_recorded_by, ri_signed_off_by, "
                       "source, withdrawn_by, withdrawn_reason, created_at, updated_at) VALUES (:c, 'missing', :s, '', "
                       "'other', '', '', :r, '', '', '', false, false, '', '', '', '', '', '', 'test', '', '', :s, :s)"),
                  {"c": child_id, "s": datetime(2020, 1, 1, 0, 0, 0, 1), "r": datetime(2020, 1, 8, 0, 0, 0, 0)})
    assert _check(services) == 14
    services.engine.dispose()


def test_the_migration_fills_older_rows(db_url, imported):
    command.downgrade(alembic_config(db_url), "0012t")
    command.upgrade(alembic_config(db_url), "head")
    services = build_services(Settings(_env_file=None, database_url=db_url, timezone="Europe/London"), migrate=False,
                              clock=lambda: NOW)
    assert _check(services) == 12
    services.engine.dispose()


def test_the_audit_holds_what_people_wrote_not_the_derived_spans(db_url, tmp_path, monkeypatch):
    """The ORM's copy of a derived column is not refreshed by the triggers: snapshots leave them out."""
    from store.audit import snapshot

    monkeypatch.setenv("TIMEZONE", "Europe/London")
    services = build_services(Settings(_env_file=None, database_url=db_url, timezone="Europe/London"), migrate=False,
                              clock=lambda: NOW)
    with services.sessions.begin() as s:
        ctx = Ctx(services=services, session=s, user_id="U0ADMIN01", channel_id="", now=NOW, is_admin=True)
        child = records.upsert_child(ctx, "S002", {"label": "ZZ"}).child
        episode = records.report_missing(ctx, child, started_at=NOW - timedelta(hours=3))
        assert "started_at" in snapshot(episode)
        assert not {"away_us", "ri_after_us"} & set(snapshot(episode))
    services.engine.dispose()


def test_wrong_spans_written_directly_are_corrected(db_url, imported):
    """The triggers skip their work when a write gives the right spans (the import computes them,
    migration 0014); a write giving wrong ones, on insert or by updating the spans alone, is corrected."""
    services = build_services(Settings(_env_file=None, database_url=db_url, timezone="Europe/London"), migrate=False,
                              clock=lambda: NOW)
    with services.sessions.begin() as s:
        child_id = s.scalar(select(Child.id).where(Child.child_ref == "E002"))
        s.execute(text("INSERT INTO episodes (child_id, episode_type, started_at, missing_from, placement_type, "
                       "police_ref, reported_by, returned_at, returned_by, found_location, reasons, cse_concern, "
                       "cce_concern, concern_note, ri_by, ri_account, ri_followup, ri_recorded_by, ri_signed_off_by, "
                       "source, withdrawn_by, withdrawn_reason, created_at, updated_at, ri_at, away_us, ri_after_us) "
                       "VALUES (:c, 'missing', :s, '', 'other', '', '', :r, '', '', '', false, false, '', '', '', '', "
                       "'', '', 'test', '', '', :s, :s, :r, 7, 7)"),
                  {"c": child_id, "s": datetime(2020, 1, 1, 0, 0, 0, 1), "r": datetime(2020, 1, 8, 0, 0, 0, 0)})
    assert _check(services) == 13
    with services.sessions.begin() as s:
        s.execute(update(Episode).values(away_us=Episode.away_us + 1, ri_after_us=5)
                  .execution_options(synchronize_session=False))
    assert _check(services) == 13
    services.engine.dispose()
