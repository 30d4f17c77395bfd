"""A clinic's workspace, under /c/<slug>/: the clinic is resolved before any view runs."""
from app.workspace.base import bp
from app.workspace import account_views, dashboard_views, visits_views, webhook_views  # noqa: F401
from app.workspace import case_views, feedback_views, journal_views, notification_views, privacy_views, reputation_views, settings_views, views

__all__ = ["bp", "case_views", "feedback_views", "journal_views", "notification_views", "privacy_views", "reputation_views", "settings_views", "views"]
