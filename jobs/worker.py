"""The worker entry: builds the app once and runs RQ inside its app context.

    python -m jobs.worker [queue ...]
"""
from __future__ import annotations

import sys

from rq import SimpleWorker, Worker

from jobs.queues import QUEUES


class AppContextMixin:
    """Runs each job in the Flask app context, with a fresh DB session each."""

    flask_app = None

    def perform_job(self, *args, **kwargs):
        with self.flask_app.app_context():
            try:
                return super().perform_job(*args, **kwargs)
            finally:
                from app.extensions import db

                db.session.remove()


class AppWorker(AppContextMixin, Worker):
    """The production worker: forks a work horse per job, in the app context."""


class InlineAppWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in this process (tests, burst runs): no fork, same app."""


def build_worker(app, queues=QUEUES, worker_class=AppWorker, **kwargs):
    """A worker bound to ``app`` listening on ``queues`` (most urgent first)."""
    from app.extensions import redis_client

    with app.app_context():
        connection = redis_client()
    cls = type(worker_class.__name__, (worker_class,), {"flask_app": app})
    return cls(list(queues), connection=connection, **kwargs)


def main(argv: list[str] | None = None) -> None:
    from app import create_app

    queues = (argv if argv is not None else sys.argv[1:]) or list(QUEUES)
    app = create_app()
    # RQ's scheduler (one per queue at a time, under a lock) puts failed jobs with retries left
    # back in their queue when their wait is over; without it they would stay parked for ever.
    build_worker(app, queues).work(with_scheduler=True)


if __name__ == "__main__":
    main()
