"""The migrations build exactly the schema the models declare, on every backend."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fundapp.core.db import metadata
from fundapp.models import import_all_models, is_model_object
from tests.support import DatabaseProbe


def test_autogenerate_finds_no_difference_between_migrations_and_models(db: DatabaseProbe) -> None:
    import_all_models()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": is_model_object})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_every_model_table_exists_after_upgrade(db: DatabaseProbe) -> None:
    import_all_models()
    tables = set(sa.inspect(db.engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables
