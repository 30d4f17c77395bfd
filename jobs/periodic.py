"""Jobs the scheduler runs; each is small and safe to run twice."""
from __future__ import annotations

from jobs.app_context import platform_job
from jobs import outbox


@platform_job
def flush_scans() -> int:
    """Write the page opens counted in Redis to the collection points' rows."""
    from app.collection import flush_scans as flush

    return flush()


@platform_job
def sweep_outbox(older_than_seconds: int = 15) -> int:
    """Enqueue jobs promised while Redis was unavailable."""
    return outbox.sweep_outbox(older_than_seconds)
