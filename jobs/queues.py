"""Queues by workload, and the one helper every enqueue goes through.

Job functions take primitives, tenant id first; the tenant travels in the job id
and in ``job.meta`` so anything that reads a job can check whose it is.
"""
from __future__ import annotations

import re
from typing import Callable

import redis
from flask import current_app
from rq import Queue, Retry

from app.extensions import redis_client

QUEUES = ("alerts", "digests", "default", "metrics", "scrape")
DEFAULT_TIMEOUTS = {"alerts": 60, "digests": 300, "default": 300, "metrics": 1800, "scrape": 1800}


def queue(name: str, connection: redis.Redis | None = None) -> Queue:
    """The RQ queue for a workload."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or redis_client(),
                 default_timeout=DEFAULT_TIMEOUTS[name], is_async=not current_app.config.get("RQ_INLINE", False))


def make_job_id(tenant_id: int | None, kind: str, *parts) -> str:
    """A job id that names its clinic: ``t<tenant>-<kind>-<parts>`` (RQ allows [A-Za-z0-9_-])."""
    raw = "-".join([f"t{tenant_id}" if tenant_id is not None else "platform", kind, *map(str, parts)])
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)


def func_path(func: Callable | str) -> str:
    """Dotted path of a job function."""
    return func if isinstance(func, str) else f"{func.__module__}.{func.__name__}"


def enqueue(queue_name: str, func: Callable | str, tenant_id: int | None, *args, job_id: str | None = None,
            retries: int = 3):
    """Enqueue ``func(tenant_id, *args)`` with the tenant recorded in the job."""
    q = queue(queue_name)
    call_args = (tenant_id, *args) if tenant_id is not None else args
    return q.enqueue(func_path(func), *call_args, job_id=job_id, meta={"tenant_id": tenant_id},
                     retry=Retry(max=retries, interval=[10, 60, 300][:retries]) if retries else None,
                     failure_ttl=7 * 24 * 3600, result_ttl=3600)
