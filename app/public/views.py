"""Public pages: the landing page and the health check."""
from __future__ import annotations

from flask import Blueprint, redirect, url_for
from sqlalchemy import text

from app.extensions import db

bp = Blueprint("public", __name__)


@bp.get("/")
def index():
    return redirect(url_for("auth.login"))


@bp.get("/healthz")
def health():
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
