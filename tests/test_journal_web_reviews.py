"""Web reviews in the journal, and patients' data rights on a read-only licence."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Licence, Response
from app.models.reputation import ExternalReview
from tenants.context import tenant_scope
from tests.conftest import form_token
from tests.factories import make_response


def _review(app, clinic_id, text, label, rating):
    with app.app_context(), tenant_scope(clinic_id):
        db.session.add(ExternalReview(key=f"prodoctorov:text:{abs(hash(text))}", site="prodoctorov", text=text,
                                      rating=rating, sentiment_label=label, url="https://prodoctorov.ru/x/"))
        db.session.commit()


def test_new_negative_web_reviews_appear_in_the_journal_of_their_clinic_only(app, tenant, other_tenant,
                                                                             manager_client):
    _review(app, tenant.id, "Врач опоздал на час и нагрубил", "negative", 1.0)
    _review(app, tenant.id, "Прекрасная клиника", "positive", 5.0)
    _review(app, other_tenant.id, "Чужой плохой отзыв", "negative", 1.0)
    page = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    assert "New negative reviews on review sites" in page
    assert "Врач опоздал на час" in page
    assert "Прекрасная клиника" not in page and "Чужой плохой отзыв" not in page
    # A filtered view shows patients' responses only.
    assert "Врач опоздал на час" not in manager_client.get(tenant.url("journal?risk=critical")).get_data(as_text=True)


def test_patient_data_can_be_deleted_on_a_read_only_licence(app, tenant, manager_client):
    response_id = make_response(app, tenant.id, nps=3, comment="Please delete me")
    with app.app_context(), tenant_scope(tenant.id):
        reference = db.session.get(Response, response_id).reference
        licence = db.session.scalar(select(Licence))
        licence.starts_on, licence.ends_on = date.today() - timedelta(days=400), date.today() - timedelta(days=60)
        db.session.commit()
    token = form_token(manager_client.get(tenant.url("privacy")).get_data(as_text=True))
    found = manager_client.post(tenant.url("privacy"), data={"reference": reference, "csrf_token": token})
    assert found.status_code == 200 and "Please delete me" in found.get_data(as_text=True)
    page = found.get_data(as_text=True)
    deleted = manager_client.post(tenant.url("privacy/delete"), data={
        "reference": reference, "confirm": "yes", "csrf_token": form_token(page)})
    assert deleted.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Response, response_id) is None
