"""Invitations, passwords, CSRF, throttling, roles and operator separation."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from app.accounts import invite
from app.extensions import db
from app.models import Invitation, LoginAttempt, User, utcnow
from tenants.context import tenant_scope
from jobs.embedded_redis import free_port
from tests.conftest import TEST_PASSWORD, add_member, csrf_token, form_token, login
from tests.smtp_sink import smtp_sink  # noqa: F401  (fixture)


def _invite(app, clinic, email="new@example.test", role="manager"):
    with app.app_context(), tenant_scope(clinic.id):
        invitation, token = invite(email, role, ttl_hours=24)
        db.session.commit()
        return invitation.id, token


def _accept(client, clinic, token, password="a-long-password-1", confirm=None):
    path = clinic.url(f"invite/{token}")
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(path, data={"full_name": "New Person", "password": password,
                                   "password_confirm": confirm or password,
                                   "csrf_token": form_token(page.get_data(as_text=True))})


def test_invitation_sets_a_password_and_lands_in_the_workspace(app, tenant, client):
    _, token = _invite(app, tenant)
    response = _accept(client, tenant, token)
    assert response.status_code == 302 and response.headers["Location"].endswith(tenant.url())
    assert client.get(tenant.url()).status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new@example.test"))
        assert user.password_hash.startswith("$argon2id$")


def test_invitation_cannot_be_reused(app, tenant, client):
    _, token = _invite(app, tenant)
    assert _accept(client, tenant, token).status_code == 302
    again = app.test_client().get(tenant.url(f"invite/{token}"))
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)


def test_expired_invitation_is_refused(app, tenant, client):
    invitation_id, token = _invite(app, tenant)
    with app.app_context(), tenant_scope(tenant.id):
        db.session.get(Invitation, invitation_id).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = client.get(tenant.url(f"invite/{token}"))
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)


def test_invitation_link_only_works_in_its_own_clinic(app, tenant, other_tenant, client):
    _, token = _invite(app, tenant)
    assert client.get(other_tenant.url(f"invite/{token}")).status_code == 410


def test_an_invitation_to_someone_with_an_account_needs_their_password(app, tenant, other_tenant):
    """The inviting owner sees the link too: it must not open the invitee's account in other clinics."""
    from datetime import datetime, timezone

    import pyotp

    from app import two_factor

    # alpha's owner invites beta's owner, then tries the link without, and with a wrong, password.
    _, token = _invite(app, tenant, email=other_tenant.owner_email, role="viewer")
    intruder = app.test_client()
    for password in ("", "not-their-password-1"):
        refused = _accept(intruder, tenant, token, password=password)
        assert refused.status_code == 400 and "enter its password" in refused.get_data(as_text=True)
    assert intruder.get(other_tenant.url("settings/users")).status_code == 302  # not logged in anywhere
    with app.app_context(), tenant_scope(tenant.id):
        waiting = select(Invitation.accepted_at).where(Invitation.email == other_tenant.owner_email)
        assert db.session.scalar(waiting) is None  # the link still waits for its owner
    # Guesses here count like guesses at the login page.
    app.config["LOGIN_MAX_FAILURES"], saved = 3, app.config["LOGIN_MAX_FAILURES"]
    try:
        assert _accept(intruder, tenant, token, password="third-wrong-guess-1").status_code == 400
        assert _accept(intruder, tenant, token, password=TEST_PASSWORD).status_code == 429
    finally:
        app.config["LOGIN_MAX_FAILURES"] = saved
    with app.app_context():
        db.session.execute(delete(LoginAttempt))
        db.session.commit()

    # With two-factor login on, the right password leads to the code step, not into the workspace.
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == other_tenant.owner_email))
        secret = two_factor.new_secret()
        user.totp_secret, user.totp_enabled_at = secret, utcnow()
        db.session.commit()
    person = app.test_client()
    accepted = _accept(person, tenant, token, password=TEST_PASSWORD)
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith("/login/code")
    assert person.get(tenant.url()).status_code == 302
    code = pyotp.TOTP(secret).at(datetime.now(timezone.utc))
    entered = person.post("/login/code", data={"code": code, "csrf_token": csrf_token(person, "/login/code")})
    assert entered.status_code == 302 and entered.headers["Location"].endswith(tenant.url())
    assert person.get(tenant.url()).status_code == 200 and person.get(other_tenant.url()).status_code == 200


def test_a_closed_clinic_takes_no_new_members(app, tenant, client):
    from app.models import Licence, Membership

    _, token = _invite(app, tenant)
    with app.app_context(), tenant_scope(tenant.id):
        db.session.scalar(select(Licence)).suspended = True
        db.session.commit()
    page = client.get(tenant.url(f"invite/{token}"))
    assert page.status_code == 403 and "closed to new members" in page.get_data(as_text=True)
    posted = client.post(tenant.url(f"invite/{token}"), data={"password": "a-long-password-1",
                                                             "password_confirm": "a-long-password-1",
                                                             "csrf_token": csrf_token(client, "/login")})
    assert posted.status_code == 403
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(Membership)) == 1


def test_weak_password_is_refused_and_nothing_is_created(app, tenant, client):
    _, token = _invite(app, tenant)
    response = _accept(client, tenant, token, password="short")
    assert response.status_code == 400 and "at least 10" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "new@example.test")) is None


def test_forms_without_csrf_token_are_rejected(app, tenant, manager_client):
    response = manager_client.post(tenant.url("settings/branches"), data={"name": "No token"})
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert app.test_client().post("/login", data={"email": tenant.owner_email, "password": TEST_PASSWORD}).status_code == 400


def test_login_is_throttled_after_repeated_failures(app, tenant):
    c = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(c, tenant.owner_email, "wrong-password!").status_code == 401
    blocked = login(c, tenant.owner_email, TEST_PASSWORD)
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.get_data(as_text=True)


def test_wrong_password_message_does_not_reveal_accounts(app, tenant):
    c = app.test_client()
    unknown = login(c, "nobody@example.test", "whatever-pass").get_data(as_text=True)
    wrong = login(c, tenant.owner_email, "whatever-pass").get_data(as_text=True)
    assert "Wrong e-mail or password." in unknown and "Wrong e-mail or password." in wrong


def _work_mail_queue(app):
    from jobs.worker import InlineAppWorker, build_worker

    build_worker(app, ["default"], worker_class=InlineAppWorker).work(burst=True)


def test_password_reset_changes_the_password_and_ends_old_sessions(app, tenant, manager_client, smtp_sink):
    c = app.test_client()
    c.post("/password/reset", data={"email": tenant.owner_email, "csrf_token": csrf_token(c, "/password/reset")})
    assert smtp_sink.messages == []  # the request only asks; the worker makes and sends the link
    _work_mail_queue(app)
    [mail] = smtp_sink.to(tenant.owner_email)
    link = re.search(r"http://localhost(/password/reset/\S+)", mail.get_body(preferencelist=("plain",)).get_content()).group(1)
    page = c.get(link)
    c.post(link, data={"password": "brand-new-password", "password_confirm": "brand-new-password",
                       "csrf_token": form_token(page.get_data(as_text=True))})
    assert login(app.test_client(), tenant.owner_email, "brand-new-password").status_code == 302
    # The session opened with the old password is over.
    assert manager_client.get(tenant.url()).status_code == 302
    # The link was single-use.
    assert "not valid" in c.post(link, data={"password": "another-password-1", "password_confirm": "another-password-1",
                                             "csrf_token": form_token(page.get_data(as_text=True))}).get_data(as_text=True)


def test_viewer_reads_but_cannot_change(app, tenant):
    email = add_member(app, tenant, "viewer@example.test", "viewer")
    c = app.test_client()
    login(c, email)
    assert c.get(tenant.url("settings/branches")).status_code == 200
    token = form_token(c.get(tenant.url("settings/branches")).get_data(as_text=True))
    assert c.post(tenant.url("settings/branches"), data={"name": "X", "csrf_token": token}).status_code == 403
    assert c.post(tenant.url("settings/users/invite"), data={"email": "a@b.test", "role": "owner",
                                                            "csrf_token": token}).status_code == 403


def test_last_owner_cannot_be_removed(app, tenant, manager_client):
    page = manager_client.get(tenant.url("settings/users")).get_data(as_text=True)
    membership_id = re.search(r"settings/users/(\d+)", page).group(1)
    response = manager_client.post(tenant.url(f"settings/users/{membership_id}"),
                                   data={"action": "remove", "csrf_token": form_token(page)})
    assert response.status_code == 400 and "at least one owner" in response.get_data(as_text=True)


def test_staff_session_does_not_open_the_operator_console(app, tenant, manager_client):
    response = manager_client.get("/platform/")
    assert response.status_code == 302 and "/platform/login" in response.headers["Location"]


def test_operator_session_does_not_open_a_workspace(app, tenant, operator_client):
    response = operator_client.get(tenant.url())
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_session_cookie_is_http_only(app, tenant):
    c = app.test_client()
    response = login(c, tenant.owner_email)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_language_choice_is_remembered(app, tenant, manager_client):
    page = manager_client.get(tenant.url()).get_data(as_text=True)
    manager_client.post(tenant.url("language"), data={"lang": "en", "csrf_token": form_token(page)})
    with app.app_context():
        assert db.session.scalar(select(User.language).where(User.email == tenant.owner_email)) == "en"
    manager_client.post(tenant.url("language"), data={"lang": "ru", "csrf_token": form_token(page)})
    assert "Настройки" in manager_client.get(tenant.url()).get_data(as_text=True)


@pytest.mark.parametrize("target", ["http://[", "//[::1", "http://evil.example:99999/", "https://evil.example/", "//evil.example"])
def test_unparsable_or_foreign_next_address_goes_home(app, tenant, target):
    """Addresses urlsplit refuses used to raise; they and other sites' addresses now lead home."""
    c = app.test_client()
    token = csrf_token(c, "/login")
    response = c.post(f"/login?next={target}", data={"email": tenant.owner_email, "password": TEST_PASSWORD,
                                                     "csrf_token": token, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    anonymous = app.test_client()
    switched = anonymous.post("/language", data={"lang": "en", "csrf_token": csrf_token(anonymous, "/login"),
                                                  "next": target})
    assert switched.status_code == 302 and switched.headers["Location"] == "/"


def test_password_reset_mails_are_limited_per_address_and_per_network(app, tenant, smtp_sink):
    """Three links an hour per address (the same page after, so accounts stay unprobeable); 20 requests per IP."""
    import time

    if 3600 - time.time() % 3600 < 15:  # the limits count per clock hour: don't straddle its end
        time.sleep(16)
    c = app.test_client()
    token = csrf_token(c, "/password/reset")
    pages = [c.post("/password/reset", data={"email": tenant.owner_email, "csrf_token": token}) for _ in range(5)]
    assert [p.status_code for p in pages] == [200] * 5
    assert len({p.get_data(as_text=True) for p in pages}) == 1  # the fourth and fifth look the same
    _work_mail_queue(app)
    assert len(smtp_sink.to(tenant.owner_email)) == 3
    others = [c.post("/password/reset", data={"email": f"nobody{i}@example.test", "csrf_token": token}).status_code
              for i in range(16)]
    assert others == [200] * 15 + [429]  # 21st request from this address in the hour


def test_reset_request_for_an_unknown_address_sends_nothing_and_looks_the_same(app, tenant, smtp_sink):
    c = app.test_client()
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"  # the mail is written in the language the page was
    token = csrf_token(c, "/password/reset")
    unknown = c.post("/password/reset", data={"email": "nobody@example.test", "csrf_token": token})
    known = c.post("/password/reset", data={"email": tenant.owner_email, "csrf_token": token})
    # The same page but for the form's CSRF token, signed anew with the second it was made in.
    def page(response):
        return re.sub(r"[\w-]+\.[\w-]{6}\.[\w-]{27}", "TOKEN", response.get_data(as_text=True))

    assert page(unknown) == page(known) and "TOKEN" in page(known)
    _work_mail_queue(app)
    assert [(m["To"], m["Subject"]) for m in smtp_sink.messages] == [(tenant.owner_email, "Vernost: сброс пароля")]


def test_reset_link_is_sent_even_when_redis_is_down(app, tenant, smtp_sink):
    """Without a queue the link is made and sent in the request: the owner still gets back in."""
    import redis

    c = app.test_client()
    token = csrf_token(c, "/password/reset")
    saved = app.extensions.get("vernost_redis")
    app.extensions["vernost_redis"] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        response = c.post("/password/reset", data={"email": tenant.owner_email, "csrf_token": token})
    finally:
        app.extensions["vernost_redis"] = saved
    assert response.status_code == 200 and len(smtp_sink.to(tenant.owner_email)) == 1


def test_an_htmx_request_after_the_session_ended_sends_the_browser_to_the_login(app, tenant, manager_client):
    """htmx would follow a redirect and paste the login page into the fragment it was loading."""
    page_url = f"http://localhost{tenant.url('journal')}?risk=critical"
    htmx = {"HX-Request": "true", "HX-Current-URL": page_url}
    assert manager_client.get(tenant.url("journal"), headers=htmx).status_code == 200
    manager_client.post("/logout", data={"csrf_token": csrf_token(manager_client, tenant.url(""))})
    answer = manager_client.get(tenant.url("journal") + "?cursor=1_1", headers=htmx)
    assert answer.status_code == 401 and answer.get_data() == b""
    target = answer.headers["HX-Redirect"]
    assert target == "/login?next=/c/alpha/journal?risk%3Dcritical"  # back to the page, not the fragment
    # A page from another site named in the header is not where the login sends anyone back.
    foreign = manager_client.get(tenant.url("journal"), headers={"HX-Request": "true",
                                                                 "HX-Current-URL": "https://evil.example/x"})
    assert "evil" not in foreign.headers["HX-Redirect"]
    # Without htmx, a plain redirect as before.
    plain = manager_client.get(tenant.url("journal"))
    assert plain.status_code == 302 and "HX-Redirect" not in plain.headers


def _reset_link(app, c, email, smtp_sink) -> str:
    c.post("/password/reset", data={"email": email, "csrf_token": csrf_token(c, "/password/reset")})
    _work_mail_queue(app)
    mail = smtp_sink.to(email)[-1]
    return re.search(r"http://localhost(/password/reset/\S+)", mail.get_body(preferencelist=("plain",)).get_content()).group(1)


def _use_reset_link(c, link, password):
    page = c.get(link)
    return c.post(link, data={"password": password, "password_confirm": password,
                              "csrf_token": form_token(page.get_data(as_text=True))})


def test_an_older_reset_link_dies_when_the_password_changes_another_way(app, tenant, manager_client, smtp_sink):
    c = app.test_client()
    first = _reset_link(app, c, tenant.owner_email, smtp_sink)
    second = _reset_link(app, c, tenant.owner_email, smtp_sink)
    assert first != second
    # The second link sets a password: the first one, still unused and unexpired, no longer works.
    assert _use_reset_link(c, second, "brand-new-password").status_code == 302
    assert "not valid" in _use_reset_link(c, first, "sneaky-password-1").get_data(as_text=True)
    assert login(app.test_client(), tenant.owner_email, "brand-new-password").status_code == 302

    # A link mailed before the person changed the password on the security page dies too.
    third = _reset_link(app, c, tenant.owner_email, smtp_sink)
    owner = app.test_client()
    login(owner, tenant.owner_email, "brand-new-password")
    page = owner.get(tenant.url("settings/security")).get_data(as_text=True)
    changed = owner.post(tenant.url("settings/security"), data={
        "action": "password", "current_password": "brand-new-password", "new_password": "changed-on-the-page",
        "new_password_confirm": "changed-on-the-page", "csrf_token": form_token(page)})
    assert changed.status_code == 302
    assert "not valid" in _use_reset_link(c, third, "sneaky-password-2").get_data(as_text=True)
    assert login(app.test_client(), tenant.owner_email, "changed-on-the-page").status_code == 302


def test_an_inviter_cannot_keep_an_account_made_in_someone_elses_name(app, tenant, manager_client, smtp_sink):
    """The invitation link goes to the mailbox; shown to the inviter only when the mail fails, and an
    account made with a shown link is the mailbox owner's to take back with a password reset."""
    import pyotp

    victim = "victim@corp.test"
    page = manager_client.get(tenant.url("settings/users")).get_data(as_text=True)
    mailed = manager_client.post(tenant.url("settings/users/invite"),
                                 data={"email": victim, "role": "viewer", "csrf_token": form_token(page)})
    body = mailed.get_data(as_text=True)
    assert mailed.status_code == 200 and "/invite/" not in body and "Invitation sent" in body
    assert len(smtp_sink.to(victim)) == 1  # the link reached the mailbox only

    # With the mail server down, the owner is shown a fresh link: an account made with it is unconfirmed.
    app.config.update(SMTP_PORT=free_port())
    shown = manager_client.post(tenant.url("settings/users/invite"),
                                data={"email": victim, "role": "viewer", "csrf_token": form_token(page)})
    link = re.search(r'id="invitation-link">http://localhost(/c/[^<]+)<', shown.get_data(as_text=True)).group(1)
    app.config.update(SMTP_PORT=smtp_sink.port)
    squatter = app.test_client()
    assert _accept(squatter, tenant, link.rsplit("/", 1)[1], password="squatters-password").status_code == 302
    settings = tenant.url("settings/security")
    started = squatter.post(settings, data={"action": "start", "csrf_token": form_token(
        squatter.get(settings).get_data(as_text=True))}).get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', started).group(1).replace(" ", "")
    squatter.post(settings, data={"action": "confirm", "code": pyotp.TOTP(secret).now(),
                                  "password": "squatters-password", "csrf_token": form_token(started)})
    with app.app_context():
        account = db.session.scalar(select(User).where(User.email == victim))
        assert account.email_confirmed_at is None and account.totp_enabled_at is not None

    # The mailbox's owner resets the password: the squatter's phone and sessions are gone.
    person = app.test_client()
    link = _reset_link(app, person, victim, smtp_sink)
    done = _use_reset_link(person, link, "victims-own-password")
    assert done.status_code == 302
    notice = person.get(done.headers["Location"]).get_data(as_text=True)
    assert "set it up again with your own phone" in notice
    signed_in = login(person, victim, "victims-own-password")
    assert signed_in.status_code == 302 and not signed_in.headers["Location"].endswith("/login/code")
    assert squatter.get(tenant.url()).status_code == 302  # the squatter's session ended with the password
    with app.app_context():
        account = db.session.scalar(select(User).where(User.email == victim))
        assert account.email_confirmed_at is not None and account.totp_enabled_at is None


def test_an_account_made_with_an_e_mailed_link_keeps_its_second_factor_through_a_reset(app, tenant, smtp_sink):
    """Only a shown link leaves an account unconfirmed: a reset does not weaken anyone else's login."""
    _, token = _invite(app, tenant)
    person = app.test_client()
    assert _accept(person, tenant, token).status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new@example.test"))
        assert user.email_confirmed_at is not None
        from app import two_factor
        two_factor.enable(user, two_factor.begin_setup(user), __import__("pyotp").TOTP(user.totp_secret).now())
        db.session.commit()
    assert _use_reset_link(person, _reset_link(app, person, "new@example.test", smtp_sink),
                           "a-new-password-22").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User.totp_enabled_at).where(User.email == "new@example.test")) is not None
