"""Helpers for job functions: the app context in the worker, the clinic scope in the job."""
from __future__ import annotations

import contextlib
import functools

from flask import current_app, has_app_context

_app = None


def _ensure_app():
    # In the worker the context is pushed by AppWorker; the scheduler's jobs run there too.
    global _app
    if has_app_context():
        return contextlib.nullcontext()
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app.app_context()


def tenant_job(func):
    """Decorator: run ``func(tenant_id, ...)`` inside that clinic's scope, session cleaned after."""

    @functools.wraps(func)
    def wrapper(tenant_id, *args, **kwargs):
        from app.extensions import db
        from tenants.context import tenant_scope

        with _ensure_app(), tenant_scope(int(tenant_id)):
            try:
                return func(int(tenant_id), *args, **kwargs)
            finally:
                db.session.remove()

    return wrapper


def platform_job(func):
    """Decorator: run a fan-out job (dispatchers, sweeps) across clinics."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from app.extensions import db

        with _ensure_app():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper


def app_config(key: str, default=None):
    """A config value from the running app."""
    return current_app.config.get(key, default)
