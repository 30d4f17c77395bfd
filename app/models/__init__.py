"""All models, imported here so Alembic and the app see one metadata."""
from app.models.accounts import ROLES, ApiKey, Invitation, LoginAttempt, Membership, Operator, PasswordReset, User
from app.models.analytics import DirtyPeriod, MetricSnapshot, Patient, Visit, VisitImport
from app.models.audit import AccessLog, OperatorAction
from app.models.base import TenantScoped, utcnow
from app.models.cases import CASE_STATUSES, OPEN_CASE_STATUSES, Case, CaseEvent, PublishedReview
from app.models.integrations import Webhook, WebhookDelivery
from app.models.feedback import (RISK_LEVELS, CollectionPoint, ConsentText, Questionnaire, QuestionnaireVersion,
                                 Response, ResponseAspect, ResponseRating)
from app.models.jobs import PendingJob
from app.models.notifications import DigestRun, MailOutbox
from app.models.reputation import ClinicSentimentModel, ExternalReview, ReputationSnapshot, ReviewSource, ScrapeRun
from app.models.tenancy import Branch, Doctor, Licence, Tenant

__all__ = [
    "DirtyPeriod", "MetricSnapshot", "Patient", "Visit", "VisitImport",
    "RISK_LEVELS", "CollectionPoint", "ConsentText", "Questionnaire", "QuestionnaireVersion", "Response",
    "ResponseAspect", "ResponseRating", "CASE_STATUSES", "OPEN_CASE_STATUSES", "Case", "CaseEvent", "PublishedReview",
    "ROLES", "AccessLog", "ApiKey", "Branch", "Doctor", "Invitation", "Licence", "LoginAttempt", "Membership",
    "Operator", "OperatorAction", "PasswordReset", "PendingJob", "Tenant", "TenantScoped", "User", "utcnow",
    "DigestRun", "MailOutbox",
    "ClinicSentimentModel", "ExternalReview", "ReputationSnapshot", "ReviewSource", "ScrapeRun",
    "Webhook", "WebhookDelivery",
]
