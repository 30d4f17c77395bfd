"""Settings from the environment, in one place.

Development gets safe embedded defaults (SQLite in ./instance, a local Redis);
production refuses to start without its secrets.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """Raised when a production setting is missing or unsafe."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_config(env: dict[str, str] | None = None) -> dict:
    """Build the Flask config mapping from environment variables.

    ``VERNOST_ENV=production`` makes SECRET_KEY, DATABASE_URL, REDIS_URL and
    BASE_URL mandatory; anything else falls back to development defaults.
    """
    env = dict(os.environ if env is None else env)
    production = env.get("VERNOST_ENV", "development") == "production"
    instance = Path(env.get("VERNOST_INSTANCE_DIR", PROJECT_ROOT / "instance"))

    if production:
        missing = [k for k in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "BASE_URL") if not env.get(k)]
        if missing:
            raise ConfigError(f"production needs these settings: {', '.join(missing)}")
        if len(env["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'vernost.db'}"
    base_url = env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    secure_cookies = base_url.startswith("https://")

    return {
        "ENV_NAME": "production" if production else "development",
        "SECRET_KEY": env.get("SECRET_KEY", "dev-only-secret-key-not-for-production"),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(database_url),
        # Migrations run as the schema owner; the app connects as a role that owns nothing.
        "MIGRATION_DATABASE_URL": _normalise_db_url(env.get("MIGRATION_DATABASE_URL") or database_url),
        # hide_parameters: a failed statement's log line and error keep its SQL but not its values,
        # which may be a patient's phone or comment.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "REDIS_URL": env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "BASE_URL": base_url,
        "SMTP_HOST": env.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": int(env.get("SMTP_PORT", "1025")),
        "SMTP_USERNAME": env.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _bool(env.get("SMTP_STARTTLS")),
        "SMTP_SSL": _bool(env.get("SMTP_SSL")),
        "SMTP_TIMEOUT": float(env.get("SMTP_TIMEOUT", "10")),
        "MAIL_FROM": env.get("MAIL_FROM", "Vernost <no-reply@vernost.local>"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 12,
        # A patient may keep the form open for a long time; the token lives as long as the session.
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "ru",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LANGUAGES": ("ru", "en"),
        "LICENCE_GRACE_DAYS": int(env.get("LICENCE_GRACE_DAYS", "14")),
        "INVITATION_TTL_HOURS": int(env.get("INVITATION_TTL_HOURS", "72")),
        "PASSWORD_RESET_TTL_MINUTES": int(env.get("PASSWORD_RESET_TTL_MINUTES", "60")),
        "LOGIN_MAX_FAILURES": int(env.get("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_WINDOW_MINUTES": int(env.get("LOGIN_WINDOW_MINUTES", "15")),
        # Operators reach every clinic: each must set up two-factor login before using the console.
        "OPERATOR_TWO_FACTOR_REQUIRED": _bool(env.get("OPERATOR_TWO_FACTOR_REQUIRED", "1")),
        "SENTIMENT_MODEL_PATH": env.get("SENTIMENT_MODEL_PATH") or None,
        # Submissions per client address / per collection point in 10 minutes (None: the form's defaults).
        "PUBLIC_FORM_CLIENT_LIMIT": int(env["PUBLIC_FORM_CLIENT_LIMIT"]) if env.get("PUBLIC_FORM_CLIENT_LIMIT") else None,
        "PUBLIC_FORM_POINT_LIMIT": int(env["PUBLIC_FORM_POINT_LIMIT"]) if env.get("PUBLIC_FORM_POINT_LIMIT") else None,
        # Requests per API key per minute.
        "API_RATE_LIMIT": int(env.get("API_RATE_LIMIT", "600")),
        # Webhooks to plain http:// or to private and loopback addresses are refused unless this is on
        # (tests, and a receiver on the same machine in development).
        "WEBHOOK_ALLOW_PRIVATE": _bool(env.get("WEBHOOK_ALLOW_PRIVATE")),
        # Review scraping: who we are in the User-Agent, and how politely we fetch.
        "REPUTATION_BOT_CONTACT_URL": env.get("REPUTATION_BOT_CONTACT_URL") or f"{base_url}/bot",
        # Review pages on private or loopback addresses are refused unless this is on (tests only).
        "REPUTATION_ALLOW_PRIVATE": _bool(env.get("REPUTATION_ALLOW_PRIVATE")),
        "REPUTATION_FETCH_DELAY": float(env.get("REPUTATION_FETCH_DELAY", "2")),
        "REPUTATION_FETCH_TIMEOUT": float(env.get("REPUTATION_FETCH_TIMEOUT", "20")),
        "REPUTATION_FETCH_RETRIES": int(env.get("REPUTATION_FETCH_RETRIES", "3")),
        "REPUTATION_RETRY_BACKOFF": float(env.get("REPUTATION_RETRY_BACKOFF", "2")),
        "REPUTATION_MAX_PAGES": int(env.get("REPUTATION_MAX_PAGES", "10")),
        "INSTANCE_DIR": str(instance),
    }


def _normalise_db_url(url: str) -> str:
    # Hosted PostgreSQL often hands out postgres:// which SQLAlchemy 2 no longer accepts.
    if url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url
