"""Vernost: patient loyalty audit for medical clinics.

``create_app`` builds the application; importing this package does no I/O.
"""
from __future__ import annotations

from flask import Flask, request


class VernostFlask(Flask):
    """Flask whose log of an unhandled error names the path with its secrets masked."""

    def log_exception(self, exc_info) -> None:
        # Flask's own line quotes request.path, which may be a patient's private link or an
        # invitation; the traceback below it is what the line is for.
        from app.access_log import redact

        self.logger.error("Exception on %s [%s]", redact(request.path), request.method, exc_info=exc_info)


def _unicode_lower(value):
    """lower() for SQLite that folds every script, not just ASCII."""
    return value.lower() if isinstance(value, str) else value


def create_app(config: dict | None = None) -> Flask:
    """Application factory: settings, extensions, tenant scoping, blueprints, CLI."""
    from app.config import load_config
    from app.extensions import babel, csrf, db, htmx, login_manager, migrate

    app = VernostFlask(__name__, instance_relative_config=False)
    app.config.update(load_config())
    if config:
        app.config.update(config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)  # installs its htmx-aware request class, which the next line extends
    from app.parsing import with_clean_parameters

    app.request_class = with_clean_parameters(app.request_class)
    login_manager.init_app(app)

    from app import i18n

    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)

    from tenants import scoping

    scoping.install()
    from tenants.resolve import leave_clinic

    app.teardown_request(leave_clinic)
    _configure_sqlite(app)

    from app.auth.principals import install_user_loader

    install_user_loader(login_manager)

    from app import errors, web

    errors.register(app)
    web.register(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _register_blueprints(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.auth.views import bp as auth_bp
    from app.platform.views import bp as platform_bp
    from app.public.journal_public import bp as journal_public_bp
    from app.public.views import bp as public_bp
    from app.workspace import bp as workspace_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(journal_public_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(workspace_bp)
    app.register_blueprint(platform_bp)
    app.register_blueprint(api_bp)


def _register_cli(app: Flask) -> None:
    from app.analytics_cli import metrics_cli, visits_cli
    from app.cli import db_roles_cli, demo_cli
    from app.digest_cli import digest_cli
    from app.nlp.cli import sentiment_cli
    from app.reputation.cli import reviews_cli
    from tenants.cli import operators_cli, tenants_cli

    for command in (tenants_cli, operators_cli, demo_cli, db_roles_cli, sentiment_cli, reviews_cli, visits_cli,
                    metrics_cli, digest_cli):
        app.cli.add_command(command)


def _configure_sqlite(app: Flask) -> None:
    """WAL and a busy timeout so web, worker and scheduler share one SQLite file."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith("sqlite"):
        return
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if database and database != ":memory:":
        # The embedded default keeps its file under instance/; make sure the folder exists.
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from app.extensions import db

    with app.app_context():
        engine: Engine = db.engine

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # SQLite's own lower() folds ASCII only; journal search and privacy lookups
        # must match "ВРАЧ" to "врач" as PostgreSQL does.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
