"""A clinic's workspace, under /c/<slug>/: the clinic is resolved before any view runs."""
from app.workspace.base import bp
from app.workspace import feedback_views, settings_views, views

__all__ = ["bp", "feedback_views", "settings_views", "views"]
