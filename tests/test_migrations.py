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


def test_sqlite_keeps_every_row_through_the_responses_rebuild_and_never_reuses_an_id(redis_url, tmp_path,
                                                                                    monkeypatch):
    """0020 copies SQLite's responses into a table with AUTOINCREMENT: nothing hanging off it may go.
    0022 then turns every comment's stored aspects into rows, and 0025 gives each case its answer's doctor and branch."""
    import json

    from flask_migrate import downgrade, upgrade

    import app.demo
    from app import create_app
    from app.cli import seed_demo
    from app.models import Case, Response, ResponseRating

    def topics_only(response, topics):  # the demo as seeded before 0022: aspects in the JSON only
        response.topics = topics

    monkeypatch.setattr(app.demo, "store_topics", topics_only)
    url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URL": url,
                              "REDIS_URL": redis_url, "INSTANCE_DIR": str(tmp_path)})
    with application.app_context():
        # The demo is seeded by today's code into today's schema, then taken back to 0019: the
        # models cannot write a schema older than themselves.
        upgrade()
        seed_demo()
        downgrade(revision="0019_publish_consent_wording")
        engine = create_engine(url)

        def counts():
            with engine.connect() as connection:
                return [connection.exec_driver_sql(f"SELECT count(*) FROM {model.__tablename__}").scalar()
                        for model in (Response, ResponseRating, Case)]

        before = counts()
        assert all(before)
        upgrade()
        assert counts() == before
        with engine.connect() as connection:
            stored = {(response_id, aspect): polarity for response_id, topics in connection.exec_driver_sql(
                "SELECT id, topics FROM responses WHERE comment <> ''") for aspect, polarity in json.loads(topics).items()}
            rows = {(response_id, aspect): polarity for response_id, aspect, polarity in connection.exec_driver_sql(
                "SELECT response_id, aspect, polarity FROM response_aspects")}
        assert len(stored) > 300 and rows == stored
        # 0025: every case takes its answer's doctor and branch.
        with engine.connect() as connection:
            about = connection.exec_driver_sql(
                "SELECT count(*), count(c.doctor_id), sum(CASE WHEN coalesce(c.doctor_id, -1) = coalesce(r.doctor_id, -1)"
                " AND coalesce(c.branch_id, -1) = coalesce(r.branch_id, -1) THEN 1 ELSE 0 END)"
                " FROM cases c JOIN responses r ON r.id = c.response_id").one()
        assert about[0] == about[2] and about[1] > 0
        with engine.begin() as connection:
            newest = connection.exec_driver_sql("SELECT max(id) FROM responses").scalar()
            connection.exec_driver_sql(f"DELETE FROM response_ratings WHERE response_id = {newest}")
            connection.exec_driver_sql(f"DELETE FROM cases WHERE response_id = {newest}")
            connection.exec_driver_sql(f"DELETE FROM responses WHERE id = {newest}")
            connection.exec_driver_sql(
                "INSERT INTO responses (reference, submission_key, questionnaire_version_id, submitted_at, language,"
                " answers, comment, risk_level, risk_reasons, urgent, publish_consent, topics, tenant_id)"
                " SELECT 'VR-NEW001', 'k-new-0000000000001', questionnaire_version_id, submitted_at, language,"
                " '{}', '', 'ok', '[]', 0, 0, '{}', tenant_id FROM responses LIMIT 1")
            assert connection.exec_driver_sql("SELECT max(id) FROM responses").scalar() == newest + 1
        engine.dispose()


def test_a_data_migration_reaches_every_clinic_through_row_level_security(app, tenant, other_tenant):
    """Policies are forced on the tables' owner: a data migration's UPDATE must declare it means every clinic."""
    import pytest
    from types import SimpleNamespace

    from tenants.rls import migrate_every_clinic
    from tests.factories import make_response

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's")
    make_response(app, tenant.id, nps=9)
    make_response(app, other_tenant.id, nps=9)
    # The app's role is neither superuser nor BYPASSRLS: the policies apply to it as to a plain owner.
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.begin() as connection:
            op = SimpleNamespace(get_bind=lambda: connection, execute=connection.exec_driver_sql)
            assert connection.exec_driver_sql("UPDATE responses SET seen_at = NULL").rowcount == 0
            migrate_every_clinic(op)
            tenants = connection.exec_driver_sql("SELECT DISTINCT tenant_id FROM responses").scalars().all()
            assert {tenant.id, other_tenant.id} <= set(tenants)
            connection.rollback()
    finally:
        engine.dispose()


def test_short_reviews_stored_under_their_old_key_get_the_new_one_and_lose_a_scraped_copy(redis_url, tmp_path):
    """0021: "Спасибо!" keyed by its text alone gets the key with author and rating; a copy already
    scraped under that key goes, the review first seen stays; long texts and site ids keep theirs."""
    import hashlib

    from flask_migrate import upgrade

    from app import create_app
    from app.reputation.extract import _normalised_text_for_key, review_key

    def old_key(site, text):
        return f"{site}:text:" + hashlib.sha256(_normalised_text_for_key(text).encode()).hexdigest()[:24]

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URL": url,
                              "REDIS_URL": redis_url, "INSTANCE_DIR": str(tmp_path)})
    long_text = "Врач внимательно выслушал, всё объяснил и назначил лечение, которое помогло"
    reviews = [  # (tenant, key, author, rating, text, first seen)
        (1, old_key("zoon", "Спасибо!"), "Анна", 5.0, "Спасибо!", "2026-01-01"),
        (1, old_key("zoon", "Ужасно"), "Олег", 1.0, "Ужасно", "2026-01-02"),
        (1, review_key("zoon", None, "Ужасно", author="Олег", rating=1.0), "Олег", 1.0, "Ужасно", "2026-11-24"),
        (1, old_key("zoon", long_text), "Ира", 4.0, long_text, "2026-01-03"),
        (1, "zoon:id:77", "Петр", 2.0, "Плохо", "2026-01-04"),
        (2, old_key("zoon", "Ужасно"), "Олег", 1.0, "Ужасно", "2026-01-05"),
    ]
    with application.app_context():
        upgrade(revision="0020_responses_never_reuse_ids")
        engine = create_engine(url)
        with engine.begin() as connection:
            for slug, tenant_id in (("a", 1), ("b", 2)):
                connection.exec_driver_sql(
                    "INSERT INTO tenants (id, slug, name, legal_name, timezone, language, created_at, settings) "
                    f"VALUES ({tenant_id}, '{slug}', '{slug}', '', 'UTC', 'ru', '2026-01-01', '{{}}')")
            for tenant_id, key, author, rating, text, seen in reviews:
                connection.exec_driver_sql(
                    "INSERT INTO external_reviews (tenant_id, key, origin, site, url, author, rating, text, "
                    "first_seen_at, contradiction, topics) VALUES (?, ?, 'scrape', 'zoon', '', ?, ?, ?, ?, 0, '{}')",
                    (tenant_id, key, author, rating, text, seen))
        upgrade()
        with engine.connect() as connection:
            stored = connection.exec_driver_sql(
                "SELECT tenant_id, key, text, first_seen_at FROM external_reviews ORDER BY tenant_id, id").all()
        engine.dispose()
    assert [(t, k, text, seen[:10]) for t, k, text, seen in stored] == [
        (1, review_key("zoon", None, "Спасибо!", author="Анна", rating=5.0), "Спасибо!", "2026-01-01"),
        (1, review_key("zoon", None, "Ужасно", author="Олег", rating=1.0), "Ужасно", "2026-01-02"),
        (1, old_key("zoon", long_text), long_text, "2026-01-03"),
        (1, "zoon:id:77", "Плохо", "2026-01-04"),
        (2, review_key("zoon", None, "Ужасно", author="Олег", rating=1.0), "Ужасно", "2026-01-05"),
    ]
