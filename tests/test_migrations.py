"""The migrations build exactly the schema the models describe, and go down and up again."""
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import String, create_engine

from store import schema  # noqa: F401
from store.db import alembic_config
from store.models import Base


def test_one_linear_chain_of_migrations(db_url):
    script = ScriptDirectory.from_config(alembic_config(db_url))
    assert len(script.get_heads()) == 1, "migrations must form one chain"


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
