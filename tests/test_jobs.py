"""The job outbox and the worker: promised work survives a Redis outage."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Branch, PendingJob
from jobs.outbox import defer, flush_outbox
from jobs.queues import make_job_id
from jobs.worker import InlineAppWorker, build_worker
from tenants.context import platform_scope, tenant_scope
from tests.factories import add_branch_job


def _run_worker(app):
    build_worker(app, ["default"], worker_class=InlineAppWorker).work(burst=True)


def test_deferred_job_runs_in_its_clinic(app, tenant, other_tenant):
    with app.app_context():
        with tenant_scope(tenant.id):
            defer("default", add_branch_job, "From a job", job_id=make_job_id(tenant.id, "test", 1))
            db.session.commit()
        assert flush_outbox() == 1
    _run_worker(app)
    with app.app_context():
        with tenant_scope(tenant.id):
            assert db.session.scalars(select(Branch.name)).all() == ["From a job"]
        with tenant_scope(other_tenant.id):
            assert db.session.scalars(select(Branch.name)).all() == []


def test_redis_down_keeps_the_job_pending_until_the_sweep(app, tenant):
    good_url = app.config["REDIS_URL"]
    app.extensions.pop("vernost_redis", None)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        with app.app_context():
            with tenant_scope(tenant.id):
                defer("default", add_branch_job, "Saved while Redis was down", job_id=make_job_id(tenant.id, "test", 2))
                db.session.commit()
            assert flush_outbox() == 0
            with platform_scope():
                pending = db.session.scalar(select(PendingJob))
                assert pending.enqueued_at is None and pending.attempts == 1 and pending.last_error
    finally:
        app.config["REDIS_URL"] = good_url
        app.extensions.pop("vernost_redis", None)
    from jobs.periodic import sweep_outbox

    with app.app_context():
        assert sweep_outbox(older_than_seconds=0) == 1
        assert sweep_outbox(older_than_seconds=0) == 0  # never enqueued twice
    _run_worker(app)
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalars(select(Branch.name)).all() == ["Saved while Redis was down"]


def test_the_sweep_forgets_rows_enqueued_more_than_a_week_ago(app, tenant):
    from datetime import timedelta

    from app.models import utcnow
    from jobs.periodic import sweep_outbox

    with app.app_context(), tenant_scope(tenant.id):
        for n, age in enumerate((timedelta(days=8), timedelta(days=6))):
            db.session.add(PendingJob(queue="default", func="x.y", args=[], job_id=make_job_id(tenant.id, "old", n),
                                      created_at=utcnow() - age, enqueued_at=utcnow() - age))
        defer("default", add_branch_job, "Still waiting", job_id=make_job_id(tenant.id, "test", 3))
        db.session.commit()
    with app.app_context():
        sweep_outbox(older_than_seconds=3600)  # too young to enqueue: it must stay as it is
        with platform_scope():
            left = db.session.execute(select(PendingJob.job_id, PendingJob.enqueued_at)).all()
    assert sorted(job_id for job_id, _ in left) == [make_job_id(tenant.id, "old", 1), make_job_id(tenant.id, "test", 3)]
