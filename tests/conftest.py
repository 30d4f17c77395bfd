"""Shared fixtures: the app on SQLite or PostgreSQL, real Redis, clinics and logins.

Set ``VERNOST_TEST_DATABASE_URL`` (a PostgreSQL URL of the schema owner) to run
on PostgreSQL: the suite migrates it, creates the non-owner application role and
connects the app as that role, so row-level security is in force. Without it the
suite runs on a scratch SQLite file. ``VERNOST_TEST_REDIS_URL`` points at a real
Redis; without it a scratch server is started.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jobs.embedded_redis import start_embedded_redis

APP_ROLE = "vernost_app"
TEST_PASSWORD = "correct-horse-battery"
PG_OWNER_URL = os.environ.get("VERNOST_TEST_DATABASE_URL")
# The shared data sets (../shared/data beside the clone, or $VERNOST_SHARED_DATA): read in place, never copied.
SHARED_DATA = Path(os.environ.get("VERNOST_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
REVIEW_PAGES = SHARED_DATA / "review-pages"
SENTIMENT_DATA = SHARED_DATA / "sentiment"
needs_review_pages = pytest.mark.skipif(
    not (REVIEW_PAGES / "ground_truth.json").exists(),
    reason=f"saved review pages not found at {REVIEW_PAGES} (set VERNOST_SHARED_DATA to the shared data folder)")
needs_sentiment_data = pytest.mark.skipif(
    not SENTIMENT_DATA.is_dir(),
    reason=f"labelled sentiment texts not found at {SENTIMENT_DATA} (set VERNOST_SHARED_DATA to the shared data folder)")


def _pg_app_url(owner_url: str) -> str:
    url = make_url(owner_url).set(username=APP_ROLE, password=None, drivername="postgresql+psycopg2")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("VERNOST_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = start_embedded_redis()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """Migrated database URLs: (app_url, owner_url, dialect)."""
    if PG_OWNER_URL:
        owner = make_url(PG_OWNER_URL).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
        engine = create_engine(owner)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        yield _pg_app_url(owner), owner, "postgresql"
    else:
        path = tmp_path_factory.mktemp("db") / "vernost-test.db"
        url = f"sqlite:///{path}"
        yield url, url, "sqlite"


class EnglishClient(FlaskClient):
    """A test client whose browser prefers English, so assertions read naturally."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")


@pytest.fixture(scope="session")
def app(database, redis_url, tmp_path_factory):
    from flask_migrate import upgrade

    from app import create_app

    app_url, owner_url, dialect = database
    instance = tmp_path_factory.mktemp("instance")
    application = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": app_url,
        "MIGRATION_DATABASE_URL": owner_url,
        "REDIS_URL": redis_url,
        "BASE_URL": "http://localhost",
        "SERVER_NAME": None,
        "INSTANCE_DIR": str(instance),
        "SMTP_PORT": 1,  # nothing listens: tests that send mail start their own server
        "SMTP_TIMEOUT": 2,
        # Review-scraping tests serve pages on loopback.
        "REPUTATION_ALLOW_PRIVATE": True,
        "WEBHOOK_ALLOW_PRIVATE": True,
        # On in production; tests of the console log in with a password, test_two_factor turns it on.
        "OPERATOR_TWO_FACTOR_REQUIRED": False,
    })
    with application.app_context():
        upgrade()
        if dialect == "postgresql":
            from tenants.rls import grant_app_role

            engine = create_engine(owner_url)
            with engine.begin() as conn:
                grant_app_role(conn, APP_ROLE)
            engine.dispose()
    application.config["DIALECT"] = dialect
    application.test_client_class = EnglishClient
    return application


def _table_names(connection, dialect):
    if dialect == "postgresql":
        rows = connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))
    else:
        rows = connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "AND name <> 'alembic_version'"))
    return [r[0] for r in rows]


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Every test starts with empty tables and an empty Redis database."""
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    yield
    from flask import has_app_context

    from app.extensions import db

    # A context left pushed (say, by a streamed download nobody read to its end) would hand its `g`,
    # with the logged-in user, to every later test's requests: fail here, where it happened.
    assert not has_app_context(), "the test left an app or request context pushed"

    with application.app_context():
        db.session.remove()
        dialect = application.config["DIALECT"]
        engine = create_engine(application.config["MIGRATION_DATABASE_URL"])
        with engine.begin() as conn:
            tables = _table_names(conn, dialect)
            if dialect == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                conn.execute(text("PRAGMA foreign_keys=OFF"))
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))
        engine.dispose()
        import redis

        redis.Redis.from_url(application.config["REDIS_URL"]).flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class Clinic:
    """A test clinic with its owner's login."""

    id: int
    slug: str
    owner_email: str

    def url(self, path: str = "") -> str:
        return f"/c/{self.slug}/{path.lstrip('/')}"


def make_clinic(app, slug: str, *, plan: str = "standard", timezone: str = "Europe/Moscow") -> Clinic:
    """Onboard a clinic and accept its owner's invitation with TEST_PASSWORD."""
    from app.accounts import accept_invitation
    from app.extensions import db
    from tenants.context import platform_scope, tenant_scope
    from tenants.onboarding import onboard_clinic

    owner = f"owner@{slug}.test"
    with app.app_context():
        with platform_scope():
            result = onboard_clinic(slug=slug, name=f"Clinic {slug}", owner_email=owner, plan=plan,
                                    timezone=timezone, actor="test")
        with tenant_scope(result.tenant_id):
            accept_invitation(result.invitation_token, full_name="Owner", password=TEST_PASSWORD)
        db.session.commit()
    return Clinic(result.tenant_id, slug, owner)


@pytest.fixture
def tenant(app):
    return make_clinic(app, "alpha")


@pytest.fixture
def other_tenant(app):
    return make_clinic(app, "beta")


def add_member(app, clinic: Clinic, email: str, role: str) -> str:
    """Add a member with ``role`` to a clinic; returns the e-mail (password TEST_PASSWORD)."""
    from app.accounts import accept_invitation, invite
    from app.extensions import db
    from tenants.context import tenant_scope

    with app.app_context(), tenant_scope(clinic.id):
        _, token = invite(email, role, ttl_hours=24)
        accept_invitation(token, full_name=role.title(), password=TEST_PASSWORD)
        db.session.commit()
    return email


def csrf_token(client, path: str) -> str:
    """Fetch a page and return the CSRF token in its first form."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, email: str, password: str = TEST_PASSWORD):
    """Log a staff member in through the real login form."""
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def manager_client(app, tenant):
    """A client logged in as the owner of ``tenant``."""
    c = app.test_client()
    response = login(c, tenant.owner_email)
    assert response.status_code == 302
    return c


@pytest.fixture
def operator(app):
    from app.extensions import db
    from app.models import Operator
    from app.security import hash_password

    with app.app_context():
        db.session.add(Operator(email="op@vernost.test", full_name="Op", password_hash=hash_password(TEST_PASSWORD)))
        db.session.commit()
    return "op@vernost.test"


@pytest.fixture
def operator_client(app, operator):
    c = app.test_client()
    html = c.get("/platform/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = c.post("/platform/login", data={"email": operator, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return c


def form_token(html: str) -> str:
    """The CSRF token in a rendered page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


# --- real browser journeys ---

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _chromium_path() -> str | None:
    import shutil

    return os.environ.get("VERNOST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def live_server(app):
    """The app served over real HTTP on loopback, in a background thread."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    path = _chromium_path()
    if not path:
        if os.environ.get("VERNOST_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (VERNOST_REQUIRE_BROWSER=1) but was not found")
        pytest.skip("Chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    """A browser tab on the live server; the test fails if the page broke its Content-Security-Policy."""
    context = chromium.new_context(base_url=live_server, locale="en-GB", viewport={"width": 1280, "height": 800})
    refused = refused_by_csp(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert not refused, f"a page broke its CSP: {refused[:3]}"


def refused_by_csp(context) -> list[str]:
    """What the pages of a browser context report as refused by their Content-Security-Policy,
    and any of their images, styles, scripts or icons that failed to load (a missing favicon too)."""
    refused: list[str] = []
    def on_console(message):
        # The browser's own requests (the icon) show only as a console line.
        if "Content Security Policy" in message.text or (
                message.type == "error" and message.text.startswith("Failed to load resource")
                and message.location.get("url", "").rsplit("/", 1)[-1] == "favicon.ico"):
            refused.append(f"{message.text} {message.location.get('url', '')}")

    context.on("console", on_console)
    context.on("response", lambda response: refused.append(f"{response.status} {response.url}")
               if response.status >= 400 and response.request.resource_type not in ("document", "xhr", "fetch")
               else None)
    return refused


def save_screenshot(page, name: str) -> Path:
    """Keep a screenshot as a test artifact (test-artifacts/, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
