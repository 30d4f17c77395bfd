"""The operators' console: clinics, licences, usage, audit."""
from app.platform.views import bp
from app.platform import reputation_views

__all__ = ["bp", "reputation_views"]
