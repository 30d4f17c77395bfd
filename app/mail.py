"""Sending e-mail through SMTP with the standard library."""
from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

log = logging.getLogger(__name__)


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


def build_message(to: str, subject: str, text: str, html: str | None = None, *, sender: str | None = None,
                  message_id: str | None = None) -> EmailMessage:
    """A MIME message with a plain-text part and, when given, an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender or current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="vernost.local")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def deliver(message: EmailMessage, config: dict | None = None) -> None:
    """Hand a message to the SMTP server; returns only when the server accepted it."""
    config = config or current_app.config
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT"]
    try:
        if config.get("SMTP_SSL"):
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if config.get("SMTP_STARTTLS"):
                client.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                client.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
            refused = client.send_message(message)
            if refused:
                raise MailError(f"recipients refused: {', '.join(refused)}")
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(str(exc) or type(exc).__name__) from exc


def try_send(to: str, subject: str, text: str, html: str | None = None) -> bool:
    """Send now; on failure log without the body (it may hold personal data) and return False."""
    try:
        deliver(build_message(to, subject, text, html))
        return True
    except MailError as exc:
        # A refusal names the address; the log gets its domain only.
        log.warning("mail to a %s address not sent: %s", to.rsplit("@", 1)[-1], str(exc).replace(to, "<recipient>"))
        return False
