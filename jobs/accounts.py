"""Account e-mails sent from the queue, so how long a request takes says nothing about an account."""
from __future__ import annotations

from app.extensions import db
from jobs.app_context import app_config, platform_job


@platform_job
def send_password_reset(email: str, locale: str) -> bool:
    """Make a reset link for the active account with this address, if there is one, and mail it."""
    from flask_babel import force_locale, ngettext
    from flask_babel import gettext as _

    from app.accounts import normalise_email, start_password_reset
    from app.mail import try_send

    ttl = app_config("PASSWORD_RESET_TTL_MINUTES")
    token = start_password_reset(email, ttl)
    db.session.commit()
    if token is None:
        return False
    link = f"{app_config('BASE_URL')}/password/reset/{token}"
    with force_locale(locale):
        subject = _("Vernost: reset your password")
        body = ngettext("Follow this link to choose a new password (valid for %(num)s minute):\n\n%(link)s\n",
                        "Follow this link to choose a new password (valid for %(num)s minutes):\n\n%(link)s\n",
                        ttl, link=link)
    return try_send(normalise_email(email), subject, body)
