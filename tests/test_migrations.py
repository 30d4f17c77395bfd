"""Alembic: one head, and the migrated schema equals the models on this database."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from app.extensions import db, migrate


def test_one_head(app):
    with app.app_context():
        heads = ScriptDirectory.from_config(migrate.get_config()).get_heads()
    assert len(heads) == 1, f"several Alembic heads: {heads}"


def test_migrated_schema_matches_the_models(app):
    engine = create_engine(app.config["MIGRATION_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_every_tenant_table_has_row_level_security(app):
    from app.models import TenantScoped

    tenant_tables = {m.local_table.name for m in db.Model.registry.mappers if issubclass(m.class_, TenantScoped)}
    engine = create_engine(app.config["MIGRATION_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            columns = {t: {c["name"]: c for c in inspect(connection).get_columns(t)} for t in tenant_tables}
            assert all(not columns[t]["tenant_id"]["nullable"] for t in tenant_tables)
            if connection.dialect.name != "postgresql":
                return
            rows = connection.exec_driver_sql(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relkind = 'r'").all()
    finally:
        engine.dispose()
    secured = {name for name, enabled, forced in rows if enabled and forced}
    assert tenant_tables <= secured, f"tables without forced RLS: {sorted(tenant_tables - secured)}"
