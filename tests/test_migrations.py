"""The migrations build exactly the schema the code declares (tables, columns, indexes), on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.store.database import alembic_config
from commlog.store.tables import metadata


async def test_the_migrated_schema_is_the_declared_schema(engine: AsyncEngine) -> None:
    def differences(conn: object) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": False})  # type: ignore[arg-type]
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []


def test_the_migrations_have_one_head(database_url: str) -> None:
    heads = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()
    assert len(heads) == 1, f"merge the heads {sorted(heads)} with `alembic merge`"


async def test_indexes_on_mostly_empty_columns_hold_only_rows_with_a_value(engine: AsyncEngine) -> None:
    """Every declared partial index is built with its condition, so the rows it leaves out cost no index writes."""
    dialect = engine.dialect.name
    declared = {
        index.name: str(index.dialect_options[dialect]["where"])
        for table in ("messages", "events")
        for index in metadata.tables[table].indexes
        if index.dialect_options[dialect]["where"] is not None
    }
    assert {"ix_messages_due", "uq_messages_workspace_id_idempotency_key", "ix_events_seq"} <= set(declared)
    if dialect == "postgresql":
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('messages', 'events')"
    else:
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('messages', 'events')"
    async with engine.connect() as conn:
        built = {name: definition for name, definition in await conn.execute(text(query))}
    for name, condition in declared.items():
        assert f"WHERE {condition}" in built[name].replace("(", "").replace(")", ""), built[name]
