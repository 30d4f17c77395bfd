"""The workspace answers, and every page carries the security headers."""
from __future__ import annotations

import re

from flask import url_for

from tests.factories import OBJECT_FACTORIES, make_point


def test_workspace_home_for_owner(manager_client, tenant):
    response = manager_client.get(tenant.url())
    assert response.status_code == 200
    assert "Clinic alpha" in response.get_data(as_text=True)


def test_settings_without_a_page_opens_the_clinic_settings(manager_client, tenant):
    response = manager_client.get(tenant.url("settings"))
    assert response.status_code == 302 and response.headers["Location"].endswith(tenant.url("settings/clinic"))



def test_pages_carry_a_strict_content_security_policy(app, tenant, manager_client):
    """Scripts and styles only from our static files; a page's own <style> only with this request's nonce."""
    policy = manager_client.get(tenant.url()).headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # Every workspace page, objects included: an inline style or script would be refused by the policy.
    ids = {name: factory(app, tenant.id) for name, factory in OBJECT_FACTORIES.items()} | {"slug": tenant.slug}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("workspace.") or "GET" not in rule.methods or rule.arguments - set(ids):
            continue
        with app.test_request_context():
            path = url_for(rule.endpoint, **{name: ids[name] for name in rule.arguments})
        page = manager_client.get(path)
        if rule.endpoint == "workspace.digest_preview_mail":
            # A mail's HTML (inline styles, as mail clients need) under a policy of its own: nothing runs or loads.
            mail_policy = page.headers["Content-Security-Policy"]
            assert "default-src 'none'" in mail_policy and "script-src" not in mail_policy, mail_policy
            assert "<script" not in page.get_data(as_text=True)
            continue
        if page.mimetype == "text/html":
            html = page.get_data(as_text=True)
            assert ' style="' not in html and "<script>" not in html and " onclick=" not in html, path
            assert html.count("<style") == html.count("<style nonce="), path
            checked += 1
    assert checked > 40
    poster = manager_client.get(tenant.url(f"points/{make_point(app, tenant.id)}/poster"))
    nonce = re.search(r"'nonce-([^']+)'", poster.headers["Content-Security-Policy"]).group(1)
    assert f'<style nonce="{nonce}">' in poster.get_data(as_text=True)
    assert "Content-Security-Policy" not in manager_client.get("/static/vernost.css").headers


def test_security_headers_and_https_only_when_served_over_https(app, tenant, client):
    headers = client.get("/login").headers
    assert headers["X-Content-Type-Options"] == "nosniff" and "camera=()" in headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in headers  # the test app is served over plain HTTP
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False
