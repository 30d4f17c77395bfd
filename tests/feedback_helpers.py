"""Helpers for tests that submit the public form."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import CollectionPoint
from tenants.context import tenant_scope


def point_token(app, clinic_id: int) -> str:
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalar(select(CollectionPoint.token).order_by(CollectionPoint.id))


def form_fields(html: str) -> dict:
    """Hidden fields of the rendered questionnaire (CSRF token, submission key)."""
    return {name: value for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}


def submit(client, token: str, answers: dict, lang: str = "ru", fields: dict | None = None):
    """Open the form like a patient and submit ``answers`` (form field names)."""
    page = client.get(f"/q/{token}?lang={lang}")
    assert page.status_code == 200
    data = form_fields(page.get_data(as_text=True)) | (fields or {})
    return client.post(f"/q/{token}?lang={lang}", data={**data, **answers})
