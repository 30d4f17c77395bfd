"""Outbound requests to addresses a clinic types in are refused, when connecting, if the name
points at a private address, even when it pointed elsewhere a moment before (DNS rebinding).

The name service is the one part faked here: a resolver that answers a public address first
and loopback afterwards, as a rebinding attacker's DNS server would. Everything else is real:
a listener on loopback counts the connections that reach it.
"""
from __future__ import annotations

import socket
import threading

import httpx
import pytest
from sqlalchemy import select

from app import webhooks
from app.extensions import db
from app.models import Webhook, WebhookDelivery
from app.net import is_private_host, public_only_transport, refused_as_private
from app.reputation.fetcher import BLOCKED_ADDRESS, FetchFailed, PoliteFetcher
from tenants.context import tenant_scope
from tests.factories import make_response, make_webhook
from tests.test_api import grant_api

PUBLIC = "93.184.216.34"


class CountingListener:
    """A TCP listener on 127.0.0.1 that accepts, counts and closes connections."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            conn.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """``rebind.test`` resolves to a public address once, then to loopback; other names as usual."""
    real = socket.getaddrinfo
    answers = {"count": 0}

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        answers["count"] += 1
        address = PUBLIC if answers["count"] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.0.0.8", "169.254.169.254", "[::1]",
                                  "::ffff:127.0.0.1", "0.0.0.0",
                                  # Shared carrier space (a cloud's metadata service lives at 100.100.100.200),
                                  # unique-local IPv6, benchmarking and documentation ranges.
                                  "100.100.100.200", "100.64.0.1", "::ffff:100.64.0.1", "fd00::1", "198.18.0.1",
                                  "192.0.2.1"])
def test_private_and_local_hosts_are_recognised(host):
    assert is_private_host(host)


def test_public_hosts_are_not_private():
    assert not is_private_host(PUBLIC)
    assert not is_private_host("2606:4700:4700::1111")


def test_the_transport_refuses_a_private_address_without_connecting():
    with CountingListener() as listener, httpx.Client(transport=public_only_transport()) as client:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(httpx.ConnectError) as caught:
                client.get(f"http://{host}:{listener.port}/")
            assert refused_as_private(caught.value)
    assert listener.accepted == 0
    # The same request through an ordinary client does connect: the listener is really there.
    with CountingListener() as listener, httpx.Client() as client:
        with pytest.raises(httpx.HTTPError):
            client.get(f"http://127.0.0.1:{listener.port}/")
    assert listener.accepted == 1


def test_a_name_rebound_to_loopback_after_the_check_is_not_fetched(rebinding_dns):
    with CountingListener() as listener, PoliteFetcher("https://vernost.example/bot", respect_robots=False,
                                                        max_retries=0, sleep=lambda _: None) as fetcher:
        with pytest.raises(FetchFailed) as caught:
            fetcher.fetch(f"http://rebind.test:{listener.port}/reviews")
    assert caught.value.status == BLOCKED_ADDRESS
    assert rebinding_dns["count"] == 2  # the check saw the public address, the connection the private one
    assert listener.accepted == 0


def test_a_webhook_whose_name_is_rebound_to_loopback_is_given_up_unsent(app, tenant, monkeypatch, rebinding_dns):
    grant_api(app, tenant.id)
    with CountingListener() as listener:
        make_webhook(app, tenant.id, f"https://rebind.test:{listener.port}/hook", events=["response.created"])
        response_id = make_response(app, tenant.id)
        monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
        rebinding_dns["count"] = 0
        with app.app_context(), tenant_scope(tenant.id):
            webhooks.announce("response.created", response_id, "r")
            db.session.commit()
            assert webhooks.deliver(db.session.scalar(select(WebhookDelivery.id))) == "failed"
            delivery = db.session.scalar(select(WebhookDelivery))
            assert "private network" in delivery.last_error
            assert db.session.scalar(select(Webhook.consecutive_failures)) == 1
    assert rebinding_dns["count"] == 2
    assert listener.accepted == 0
