"""The noon dispatcher with a controllable clock: DST, odd offsets, downtime, duplicates, suspension."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from app.digest_schedule import claim_due_digests, due_local_date, scheduled_instant
from app.extensions import db
from app.models import DigestRun
from tenants.context import platform_scope
from tests.digest_helpers import ready_for_clock

UTC = timezone.utc


def ticks(start: datetime, end: datetime, step=timedelta(minutes=15)):
    now = start
    while now < end:
        yield now
        now += step


def run_dispatcher(app, start, end, skip=lambda now: False):
    """Run the dispatcher every 15 minutes; returns {(tenant, local date): claim time}."""
    claims = {}
    with app.app_context():
        for now in ticks(start, end):
            if skip(now):
                continue
            for claim in claim_due_digests(now):
                key = (claim.tenant_id, claim.local_date)
                assert key not in claims, f"claimed twice: {key}"
                claims[key] = (now, claim.late)
    return claims


def runs(app):
    with app.app_context(), platform_scope():
        return db.session.scalars(select(DigestRun).order_by(DigestRun.tenant_id, DigestRun.local_date)).all()


def test_noon_is_computed_on_the_local_wall_clock():
    # Berlin: CET (+1) before 28 March 2027, CEST (+2) from it.
    assert scheduled_instant(date(2027, 3, 27), "Europe/Berlin", 12) == datetime(2027, 3, 27, 11, tzinfo=UTC)
    assert scheduled_instant(date(2027, 3, 28), "Europe/Berlin", 12) == datetime(2027, 3, 28, 10, tzinfo=UTC)
    assert scheduled_instant(date(2027, 1, 5), "Asia/Kathmandu", 12) == datetime(2027, 1, 5, 6, 15, tzinfo=UTC)
    assert scheduled_instant(date(2027, 1, 5), "Asia/Kolkata", 12) == datetime(2027, 1, 5, 6, 30, tzinfo=UTC)
    assert due_local_date(datetime(2027, 1, 5, 6, 14, tzinfo=UTC), "Asia/Kathmandu", 12) == date(2027, 1, 4)
    assert due_local_date(datetime(2027, 1, 5, 6, 15, tzinfo=UTC), "Asia/Kathmandu", 12) == date(2027, 1, 5)


def test_across_spring_and_autumn_dst_changes_one_digest_a_day_at_local_noon(app, tenant, other_tenant):
    ready_for_clock(app, tenant.id, "Europe/Berlin")
    ready_for_clock(app, other_tenant.id, "America/New_York")
    # Spring: Berlin changes on 28 March 2027, New York on 14 March 2027.
    spring = run_dispatcher(app, datetime(2027, 3, 13, tzinfo=UTC), datetime(2027, 3, 30, tzinfo=UTC))
    # Autumn: Berlin changes on 31 October 2027, New York on 7 November 2027.
    autumn = run_dispatcher(app, datetime(2027, 10, 30, tzinfo=UTC), datetime(2027, 11, 9, tzinfo=UTC))
    claims = spring | autumn
    assert claims[(tenant.id, date(2027, 3, 27))] == (datetime(2027, 3, 27, 11, tzinfo=UTC), False)
    assert claims[(tenant.id, date(2027, 3, 28))] == (datetime(2027, 3, 28, 10, tzinfo=UTC), False)
    assert claims[(tenant.id, date(2027, 10, 31))] == (datetime(2027, 10, 31, 11, tzinfo=UTC), False)
    assert claims[(other_tenant.id, date(2027, 3, 13))] == (datetime(2027, 3, 13, 17, tzinfo=UTC), False)
    assert claims[(other_tenant.id, date(2027, 3, 14))] == (datetime(2027, 3, 14, 16, tzinfo=UTC), False)
    assert claims[(other_tenant.id, date(2027, 11, 7))] == (datetime(2027, 11, 7, 17, tzinfo=UTC), False)
    # Exactly one digest per clinic per local day, every day.
    for clinic in (tenant.id, other_tenant.id):
        days = sorted(d for (t, d) in claims if t == clinic)
        assert len(days) == len(set(days))
        march = [d for d in days if d.month == 3]
        assert march == [march[0] + timedelta(days=i) for i in range(len(march))] and len(march) >= 17
    # Each digest starts where the previous one ended: nothing falls between two digests.
    clinic_runs = [r for r in runs(app) if r.tenant_id == tenant.id and r.local_date.month == 3]
    for before, after in zip(clinic_runs, clinic_runs[1:]):
        assert after.period_start == before.period_end


def test_kathmandu_and_kolkata_get_theirs_at_quarter_and_half_past(app, tenant, other_tenant):
    ready_for_clock(app, tenant.id, "Asia/Kathmandu")
    ready_for_clock(app, other_tenant.id, "Asia/Kolkata")
    claims = run_dispatcher(app, datetime(2027, 1, 5, tzinfo=UTC), datetime(2027, 1, 6, tzinfo=UTC))
    assert claims[(tenant.id, date(2027, 1, 5))] == (datetime(2027, 1, 5, 6, 15, tzinfo=UTC), False)
    assert claims[(other_tenant.id, date(2027, 1, 5))] == (datetime(2027, 1, 5, 6, 30, tzinfo=UTC), False)
    # The clock started after the 4th's noon, as after an outage: that one was caught up at once, late.
    assert claims[(tenant.id, date(2027, 1, 4))] == (datetime(2027, 1, 5, tzinfo=UTC), True)
    assert len(claims) == 4


def test_downtime_over_noon_sends_late_when_the_system_returns(app, tenant):
    ready_for_clock(app, tenant.id, "Europe/Moscow")  # noon = 09:00 UTC
    down = lambda now: datetime(2027, 2, 1, 8, tzinfo=UTC) <= now < datetime(2027, 2, 1, 14, 30, tzinfo=UTC)
    claims = run_dispatcher(app, datetime(2027, 2, 1, tzinfo=UTC), datetime(2027, 2, 2, 12, tzinfo=UTC), skip=down)
    assert claims[(tenant.id, date(2027, 2, 1))] == (datetime(2027, 2, 1, 14, 30, tzinfo=UTC), True)
    assert claims[(tenant.id, date(2027, 2, 2))] == (datetime(2027, 2, 2, 9, tzinfo=UTC), False)


def test_downtime_over_a_whole_noon_catches_up_the_next_morning(app, tenant):
    ready_for_clock(app, tenant.id, "Europe/Moscow")
    # Down from 08:00 on 1 Feb to 06:00 on 2 Feb: the 1 Feb digest goes out at 06:00, late; 2 Feb at noon.
    down = lambda now: datetime(2027, 2, 1, 8, tzinfo=UTC) <= now < datetime(2027, 2, 2, 6, tzinfo=UTC)
    claims = run_dispatcher(app, datetime(2027, 2, 1, tzinfo=UTC), datetime(2027, 2, 3, tzinfo=UTC), skip=down)
    assert claims[(tenant.id, date(2027, 2, 1))] == (datetime(2027, 2, 2, 6, tzinfo=UTC), True)
    assert claims[(tenant.id, date(2027, 2, 2))] == (datetime(2027, 2, 2, 9, tzinfo=UTC), False)
    first, second = runs(app)[-2:]
    assert second.period_start == first.period_end


def test_a_new_clinic_gets_no_digest_for_a_noon_before_it_existed(app, tenant):
    # Created just now: the latest noon that passed was before it existed (or is today's, if after noon).
    now = datetime.now(UTC)
    with app.app_context():
        claimed = claim_due_digests(now)
    assert claimed == []


def test_duplicate_and_concurrent_dispatch_claims_once(app, tenant, other_tenant):
    ready_for_clock(app, tenant.id, "Europe/Berlin")
    ready_for_clock(app, other_tenant.id, "Europe/Berlin")
    now = datetime(2027, 5, 10, 10, 15, tzinfo=UTC)
    won = []

    def dispatch():
        with app.app_context():
            won.extend(claim_due_digests(now))

    threads = [threading.Thread(target=dispatch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dispatch()
    assert sorted(c.tenant_id for c in won) == sorted([tenant.id, other_tenant.id])
    assert len(runs(app)) == 2


def test_suspended_clinic_is_skipped(app, tenant, other_tenant):
    ready_for_clock(app, tenant.id, "Europe/Berlin", suspended=True)
    ready_for_clock(app, other_tenant.id, "Europe/Berlin")
    claims = run_dispatcher(app, datetime(2027, 5, 10, tzinfo=UTC), datetime(2027, 5, 11, tzinfo=UTC))
    assert {t for t, _ in claims} == {other_tenant.id}
    assert (other_tenant.id, date(2027, 5, 10)) in claims


def test_a_clinic_with_a_later_digest_hour(app, tenant):
    from app.models import Tenant
    from tenants.settings import update_settings

    ready_for_clock(app, tenant.id, "Europe/Berlin")
    with app.app_context(), platform_scope():
        update_settings(db.session.get(Tenant, tenant.id), digest_hour=17)
        db.session.commit()
    claims = run_dispatcher(app, datetime(2027, 5, 10, tzinfo=UTC), datetime(2027, 5, 11, tzinfo=UTC))
    assert claims[(tenant.id, date(2027, 5, 10))] == (datetime(2027, 5, 10, 15, tzinfo=UTC), False)
