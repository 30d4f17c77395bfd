"""The JSON API under /api/v1/: a clinic's other systems (CRM, BI) reach its data with a key.

The key decides the clinic, as the URL does in the workspace: every query of the request
then runs inside that clinic. No cookies, no CSRF: a request carries its key or is refused.
"""
from app.api.base import bp
from app.api import views  # noqa: F401

__all__ = ["bp"]
