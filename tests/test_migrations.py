"""The migrations build exactly the schema the models describe, and go down and up again."""
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import String, create_engine

from store import schema  # noqa: F401
from store.db import HEAD, alembic_config, at_head
from store.models import Base


def test_one_linear_chain_of_migrations(db_url):
    script = ScriptDirectory.from_config(alembic_config(db_url))
    assert len(script.get_heads()) == 1, "migrations must form one chain"
    assert script.get_current_head() == HEAD, "store/db.py's HEAD names the latest migration (start-up skips "\
                                              "Alembic when the database is at HEAD)"


def test_a_database_at_head_is_known_without_alembic(db_url):
    engine = create_engine(db_url)
    assert at_head(engine)
    command.downgrade(alembic_config(db_url), "-1")
    assert not at_head(engine)
    command.upgrade(alembic_config(db_url), "head")
    assert at_head(engine)
    engine.dispose()


def _sqlite_lengths_ignored(context, inspected, metadata, inspected_type, metadata_type):
    """SQLite does not enforce VARCHAR lengths (so migration 0011 widens them on PostgreSQL only):
    there a length difference is no difference; every other type difference still counts."""
    if (context.dialect.name == "sqlite" and isinstance(inspected_type, String)
            and isinstance(metadata_type, String) and type(metadata_type) is String):
        return False
    return None  # the default comparison


def test_migrations_match_the_models(db_url):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": _sqlite_lengths_ignored}),
                                Base.metadata)
    engine.dispose()
    assert diff == [], diff


def test_downgrade_and_upgrade_again(db_url):
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")


def test_0011_moves_queued_slack_rows_to_neutral_messages(db_url):
    """Rows queued before the neutral outbox are delivered after it: their Slack text becomes a
    neutral message (people as people, Slack's escapes undone), an alert's row names its alert,
    a file stays a file, an email stays an email."""
    import json
    from datetime import datetime, timezone

    from sqlalchemy import text

    from bot.messages import Message, Person

    cfg = alembic_config(db_url)
    engine = create_engine(db_url)
    now = datetime(2026, 11, 28, 9, tzinfo=timezone.utc)
    command.downgrade(cfg, "0010")
    with engine.begin() as c:
        c.execute(text("INSERT INTO children (id, child_ref, label, gender, looked_after, placement_type, out_of_area, "
                       "created_at, updated_at) VALUES (1, 'C1', 'AB', 'unknown', false, 'other', false, :n, :n)"),
                  {"n": now})
        c.execute(text("INSERT INTO alerts (id, key, rule, variant, child_id, due_at, created_at) "
                       "VALUES (7, 'long_missing:ep:1:24h', 'long_missing', '24h', 1, :n, :n)"), {"n": now})
        rows = [
            ("alert:long_missing:ep:1:24h", "alert.long_missing", "C0ALERTS01", "Missing for 24 hours: C1 (AB)", None),
            ("change:x", "change.reported", "C0ALERTS01", ":rotating_light: C1 reported by <@U0DUTY001> at &lt;home&gt;", None),
            ("mail:x", "meeting.email", "email", "Invite", json.dumps({"email": "Subject: Invite\n\nbody"})),
            ("file:x", "figures.export", "U0ADMIN01", "Export",
             json.dumps({"file": {"filename": "a.csv", "content": "x,y\n", "title": "Export"}})),
        ]
        for key, kind, channel, body, payload in rows:
            c.execute(text("INSERT INTO outbox (key, kind, channel, text, blocks, payload, status, attempts, created_at, "
                           "next_attempt_at) VALUES (:k, :kind, :ch, :t, :b, :p, 'pending', 0, :n, :n)"),
                      {"k": key, "kind": kind, "ch": channel, "t": body, "b": json.dumps([{"type": "divider"}]),
                       "p": payload, "n": now})
    command.upgrade(cfg, "head")
    with engine.connect() as c:
        got = {r.key: r for r in c.execute(text("SELECT key, platform, address, message, alert_id, payload FROM outbox"))}
    engine.dispose()

    def msg(key):
        m = got[key].message
        return Message.from_json(m if isinstance(m, dict) else json.loads(m))

    assert got["alert:long_missing:ep:1:24h"].alert_id == 7
    change = msg("change:x")
    assert Person("U0DUTY001") in change.text and "at <home>" in change.text.plain()
    assert (got["mail:x"].platform, got["mail:x"].address) == ("email", "email")
    assert (got["change:x"].platform, got["change:x"].address) == ("slack", "C0ALERTS01")
    [attached] = msg("file:x").attachments
    assert (attached.name, attached.content, attached.media_type) == ("a.csv", b"x,y\n", "text/csv")
