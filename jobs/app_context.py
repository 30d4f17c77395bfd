"""Helpers for job functions: the app context in the worker, the clinic scope in the job."""
from __future__ import annotations

import contextlib
import functools

from flask import current_app, has_app_context


class NoAppContextError(RuntimeError):
    """A job ran outside the app: start workers with `python -m jobs.worker`."""


def _ensure_app():
    # The worker (jobs.worker.AppWorker) pushes the app context around every job.
    if not has_app_context():
        raise NoAppContextError("job run outside the Flask app context; use `python -m jobs.worker`")
    return contextlib.nullcontext()


def tenant_job(func):
    """Decorator: run ``func(tenant_id, ...)`` inside that clinic's scope, session cleaned after."""

    @functools.wraps(func)
    def wrapper(tenant_id, *args, **kwargs):
        from app.extensions import db
        from tenants.context import tenant_scope

        from app.models import Tenant

        with _ensure_app(), tenant_scope(int(tenant_id)):
            try:
                if db.session.get(Tenant, int(tenant_id)) is None:
                    # The clinic was deleted while this job waited: there is nothing left to do.
                    return None
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
