"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepted, for mail tests.

``gate`` lets a test hold the server between receiving the DATA and answering it,
and ``reply`` chooses the answer, so a sender can be killed at an exact moment.
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from jobs.embedded_redis import free_port


@dataclass
class SinkHandler:
    accepted: list = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event | None = None
    reply: str = "250 OK"
    rcpt_reply: str = "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_reply

    async def handle_DATA(self, server, session, envelope):
        self.received.set()
        if self.gate is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 30)
        if self.reply.startswith("250"):
            message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
            self.accepted.append((list(envelope.rcpt_tos), message))
        return self.reply


class SmtpSink:
    """The running server: ``messages`` are what it accepted, as parsed e-mails."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = SinkHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.handler.gate is not None:
            self.handler.gate.set()
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        return [m for _, m in self.handler.accepted]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.handler.accepted if address in rcpt]


def parts(message: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return (text.get_content() if text else ""), (html.get_content() if html else "")


@pytest.fixture
def smtp_sink(app):
    """A loopback SMTP server; the app's SMTP settings point at it for the test."""
    sink = SmtpSink().start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    yield sink
    app.config.update(saved)
    sink.stop()
