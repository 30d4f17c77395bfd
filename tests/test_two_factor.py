"""Two-factor login: set up through the pages with codes computed as an authenticator app would,
the second login step, one use per code, recovery codes, throttling, and a clinic that requires it."""
from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timedelta, timezone

import pyotp
from sqlalchemy import select

from app import two_factor
from app.extensions import db
from app.models import User
from app.security import hash_password
from tests.conftest import TEST_PASSWORD, add_member, csrf_token, form_token, login


def app_code(secret: str, at: datetime | None = None) -> str:
    """What the phone shows: an independent TOTP of the secret (RFC 6238, 30 s, 6 digits)."""
    return pyotp.TOTP(secret).at(at or datetime.now(timezone.utc))


def next_code(app, email: str, secret: str) -> str:
    """The phone's code for the step after the last one accepted (the set-up's): within the drift
    allowed for a minute after it, and not yet used, whichever side of a 30-second edge the test is."""
    step = user_row(app, email).totp_last_step + 1
    return pyotp.TOTP(secret).at(step * two_factor.STEP_SECONDS)


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def post(client, url: str, **data):
    data["csrf_token"] = form_token(page(client, url))
    return client.post(url, data=data)


def user_row(app, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def turn_on(client, tenant, url: str | None = None) -> tuple[str, list[str]]:
    """Set up two-factor login through the settings page; returns the secret and the recovery codes."""
    url = url or tenant.url("settings/security")
    html = post(client, url, action="start").get_data(as_text=True)
    assert "<svg" in html  # the QR code to scan
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    with client.session_transaction() as session:  # the cookie, readable by its holder, never carries it
        assert secret not in repr(dict(session))
    wrong = post(client, url, action="confirm", code="000000" if app_code(secret) != "000000" else "111111",
                 password=TEST_PASSWORD)
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    done = post(client, url, action="confirm", code=app_code(secret), password=TEST_PASSWORD)
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.get_data(as_text=True))
    assert len(codes) == two_factor.RECOVERY_CODES
    return secret, codes


def log_in_with_code(app, email: str, code: str):
    client = app.test_client()
    first = login(client, email)
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/code")
    response = post(client, "/login/code", code=code)
    return client, response


def test_a_member_turns_it_on_and_then_logs_in_with_a_code(app, tenant, manager_client):
    secret, codes = turn_on(manager_client, tenant)
    owner = user_row(app, tenant.owner_email)
    assert owner.totp_secret == secret and owner.totp_enabled_at is not None
    assert codes[0] not in str(owner.recovery_code_hashes)  # stored hashed only
    # The session that turned it on goes on; the page says so.
    assert "Two-factor login is on" in page(manager_client, tenant.url("settings/security"))

    # The password alone opens nothing.
    client = app.test_client()
    assert login(client, tenant.owner_email).headers["Location"].endswith("/login/code")
    assert client.get(tenant.url("")).status_code == 302
    assert post(client, "/login/code", code="12345").status_code == 401
    # The set-up used its step's code, and a code is accepted once: the phone's next code (the
    # step after, within the drift allowed) opens the workspace.
    used_step = user_row(app, tenant.owner_email).totp_last_step
    used = pyotp.TOTP(secret).at(used_step * two_factor.STEP_SECONDS)
    assert post(client, "/login/code", code=used).status_code == 401
    code = next_code(app, tenant.owner_email, secret)
    response = post(client, "/login/code", code=code)
    assert response.status_code == 302 and response.headers["Location"].endswith(tenant.url(""))
    assert client.get(tenant.url("")).status_code == 200
    _, replay = log_in_with_code(app, tenant.owner_email, code)
    assert replay.status_code == 401
    stale_code = pyotp.TOTP(secret).at((used_step - 3) * two_factor.STEP_SECONDS)
    _, stale = log_in_with_code(app, tenant.owner_email, stale_code)
    assert stale.status_code == 401


def test_recovery_codes_work_once_and_can_be_renewed(app, tenant, manager_client):
    secret, codes = turn_on(manager_client, tenant)
    client, response = log_in_with_code(app, tenant.owner_email, codes[3].upper())
    assert response.status_code == 302
    assert "9 are left" in page(client, tenant.url(""))
    _, again = log_in_with_code(app, tenant.owner_email, codes[3])
    assert again.status_code == 401
    # New codes need a valid code, and replace the old ones.
    url = tenant.url("settings/security")
    assert post(client, url, action="renew", code="nonsense").status_code == 400
    renewed = post(client, url, action="renew", code=codes[5]).get_data(as_text=True)
    fresh = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", renewed)
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    assert log_in_with_code(app, tenant.owner_email, codes[0])[1].status_code == 401
    assert log_in_with_code(app, tenant.owner_email, fresh[0])[1].status_code == 302


def test_wrong_codes_are_throttled(app, tenant, manager_client):
    secret, _ = turn_on(manager_client, tenant)
    client = app.test_client()
    login(client, tenant.owner_email)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert post(client, "/login/code", code="000001").status_code == 401
    blocked = post(client, "/login/code", code=app_code(secret))
    assert blocked.status_code == 429 and client.get(tenant.url("")).status_code == 302


def test_the_code_step_lapses_and_follows_password_changes(app, tenant, manager_client):
    secret, _ = turn_on(manager_client, tenant)
    client = app.test_client()
    login(client, tenant.owner_email)
    with client.session_transaction() as session:
        session["pending_login"] = {**session["pending_login"], "at": time.time() - 301}
    lapsed = client.post("/login/code", data={"code": app_code(secret), "csrf_token": csrf_token(client, "/login")})
    assert lapsed.status_code == 302 and lapsed.headers["Location"].endswith("/login")
    assert client.get(tenant.url("")).status_code == 302
    # A password changed between the two steps (a reset by its owner) voids the step already taken.
    client = app.test_client()
    login(client, tenant.owner_email)
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == tenant.owner_email))
        owner.password_hash = hash_password("another-long-password-1")
        db.session.commit()
    voided = client.post("/login/code", data={"code": app_code(secret), "csrf_token": csrf_token(client, "/login")})
    assert voided.status_code == 302 and voided.headers["Location"].endswith("/login")
    # A code page reached without the password step sends back to the password.
    assert app.test_client().get("/login/code").headers["Location"].endswith("/login")


def test_turning_it_off_needs_a_code_and_ends_other_sessions(app, tenant, manager_client):
    secret, codes = turn_on(manager_client, tenant)
    other, response = log_in_with_code(app, tenant.owner_email, codes[0])
    assert response.status_code == 302 and other.get(tenant.url("")).status_code == 200
    url = tenant.url("settings/security")
    refused = post(manager_client, url, action="disable", code="999999")
    assert refused.status_code == 400 and user_row(app, tenant.owner_email).totp_enabled_at is not None
    assert post(manager_client, url, action="disable", code=next_code(app, tenant.owner_email, secret)).status_code == 302
    owner = user_row(app, tenant.owner_email)
    assert owner.totp_secret is None and owner.recovery_code_hashes == []
    assert manager_client.get(tenant.url("")).status_code == 200  # this session goes on
    assert other.get(tenant.url("")).status_code == 302  # the other one has ended
    assert login(app.test_client(), tenant.owner_email).headers["Location"].endswith(tenant.url(""))


def test_turning_it_on_ends_sessions_opened_with_the_password_alone(app, tenant, manager_client):
    stolen = app.test_client()
    assert login(stolen, tenant.owner_email).status_code == 302
    turn_on(manager_client, tenant)
    assert stolen.get(tenant.url("")).status_code == 302
    assert manager_client.get(tenant.url("")).status_code == 200


def test_a_clinic_can_require_it_of_everyone(app, tenant, other_tenant, manager_client):
    settings_url = tenant.url("settings/clinic")

    def save_settings(**extra):
        html = page(manager_client, settings_url)
        fields = dict(re.findall(r'<input id="[^"]+" name="([a-z_]+)" type="(?:text|number)"[^>]*value="([^"]*)"', html))
        fields.update(language="ru", **extra)
        return post(manager_client, settings_url, **fields)

    refused = save_settings(require_two_factor="yes")
    assert refused.status_code == 400 and "for yourself first" in refused.get_data(as_text=True)
    secret, _ = turn_on(manager_client, tenant)
    assert save_settings(require_two_factor="yes").status_code == 302

    manager = add_member(app, tenant, "nurse.manager@clinic.test", "manager")
    add_member(app, other_tenant, manager, "manager")  # the same person in a clinic that does not require it
    client = app.test_client()
    login(client, manager, TEST_PASSWORD)
    for path in ("", "journal", "settings/users", "dashboard"):
        response = client.get(tenant.url(path))
        assert response.status_code == 302 and response.headers["Location"].endswith("/settings/security")
    assert "requires two-factor login" in page(client, tenant.url("settings/security"))
    assert client.get(other_tenant.url("")).status_code == 200  # the other clinic's own rule applies there
    own_secret, _ = turn_on(client, tenant)
    assert client.get(tenant.url("journal")).status_code == 200
    # Turning it off is refused while the clinic requires it.
    off = post(client, tenant.url("settings/security"), action="disable", code=app_code(own_secret))
    assert off.status_code == 400 and user_row(app, manager).totp_enabled_at is not None
    users_page = page(manager_client, tenant.url("settings/users"))
    assert users_page.count("two-factor login</span>") == 2
    assert secret not in users_page and own_secret not in users_page


def test_codes_follow_rfc_6238_and_the_drift_window():
    """The RFC 6238 reference vector (SHA-1, T = 59 s gives 94287082 in 8 digits), then our window:
    one step either side of now, never a step already used, and spaces in a typed code allowed."""
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert pyotp.TOTP(secret, digits=8).at(59) == "94287082"
    now = datetime.fromtimestamp(1_700_000_000, timezone.utc)
    current = 1_700_000_000 // 30
    previous = pyotp.TOTP(secret).at(now - timedelta(seconds=30))
    assert two_factor.matching_step(secret, previous, now) == current - 1
    assert two_factor.matching_step(secret, previous, now, after_step=current - 1) is None
    assert two_factor.matching_step(secret, pyotp.TOTP(secret).at(now - timedelta(seconds=61)), now) is None
    spaced = pyotp.TOTP(secret).at(now)
    assert two_factor.matching_step(secret, f"{spaced[:3]} {spaced[3:]}", now) == current


def operator_login(app, operator: str):
    client = app.test_client()
    response = client.post("/platform/login", data={"email": operator, "password": TEST_PASSWORD,
                                                    "csrf_token": csrf_token(client, "/platform/login")})
    return client, response


def test_operators_must_set_it_up_and_then_log_in_with_a_code(app, tenant, operator, monkeypatch):
    from app.models import Operator, OperatorAction

    monkeypatch.setitem(app.config, "OPERATOR_TWO_FACTOR_REQUIRED", True)
    client, response = operator_login(app, operator)
    assert response.status_code == 302
    for path in ("/platform/", "/platform/clinics/new", "/platform/audit"):
        sent = client.get(path)
        assert sent.status_code == 302 and sent.headers["Location"].endswith("/platform/account/security")
    assert "Operators must log in with two-factor login" in page(client, "/platform/account/security")
    secret, codes = turn_on(client, tenant, url="/platform/account/security")
    assert client.get("/platform/").status_code == 200
    off = post(client, "/platform/account/security", action="disable", code=codes[0])
    assert off.status_code == 400  # required: it cannot be turned off

    # The next login asks for the code; the password alone reaches nothing.
    fresh, response = operator_login(app, operator)
    assert response.headers["Location"].endswith("/platform/login/code")
    assert fresh.get("/platform/").status_code == 302
    assert post(fresh, "/platform/login/code", code="000000").status_code == 401
    assert post(fresh, "/platform/login/code", code=codes[1]).status_code == 302
    assert fresh.get("/platform/").status_code == 200
    # A clinic member's pending step does not stand in for an operator's, nor the reverse.
    assert app.test_client().get("/platform/login/code").headers["Location"].endswith("/platform/login")
    with app.app_context():
        actions = [a.action for a in db.session.scalars(select(OperatorAction).order_by(OperatorAction.id))]
        assert "two_factor_on" in actions
        assert db.session.scalar(select(Operator).where(Operator.email == operator)).totp_enabled_at is not None


def test_lost_phone_and_codes_reset_from_the_command_line(app, tenant, manager_client, operator):
    from app.models import OperatorAction

    turn_on(manager_client, tenant)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["operators", "reset-two-factor", "--staff", tenant.owner_email])
    assert result.exit_code == 0, result.output
    assert user_row(app, tenant.owner_email).totp_enabled_at is None
    assert manager_client.get(tenant.url("")).status_code == 302  # the sessions have ended
    assert login(app.test_client(), tenant.owner_email).headers["Location"].endswith(tenant.url(""))
    again = runner.invoke(args=["operators", "reset-two-factor", "--staff", tenant.owner_email])
    assert again.exit_code != 0 and "no two-factor login" in again.output
    missing = runner.invoke(args=["operators", "reset-two-factor", "nobody@nowhere.test"])
    assert missing.exit_code != 0 and "no operator" in missing.output
    with app.app_context():
        [reset] = db.session.scalars(select(OperatorAction).where(OperatorAction.action == "two_factor_reset")).all()
        assert reset.details == {"account": "staff", "email": tenant.owner_email}


def test_a_member_changes_the_password_knowing_the_current_one(app, tenant, manager_client):
    url = tenant.url("settings/security")
    other = app.test_client()
    assert login(other, tenant.owner_email).status_code == 302
    new = "a-new-long-password-7"
    cases = [({"current_password": "wrong-password-123", "new_password": new, "new_password_confirm": new},
              "current password is wrong"),
             ({"current_password": TEST_PASSWORD, "new_password": new, "new_password_confirm": new + "x"},
              "passwords differ"),
             ({"current_password": TEST_PASSWORD, "new_password": "short", "new_password_confirm": "short"},
              "at least 10"),
             ({"current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD, "new_password_confirm": TEST_PASSWORD},
              "same as the current")]
    for fields, message in cases:
        refused = post(manager_client, url, action="password", **fields)
        assert refused.status_code == 400 and message in refused.get_data(as_text=True), message
    changed = post(manager_client, url, action="password", current_password=TEST_PASSWORD, new_password=new,
                   new_password_confirm=new)
    assert changed.status_code == 302
    assert manager_client.get(tenant.url("")).status_code == 200  # this session goes on
    assert other.get(tenant.url("")).status_code == 302  # the other one has ended
    assert login(app.test_client(), tenant.owner_email).status_code == 401
    assert login(app.test_client(), tenant.owner_email, new).status_code == 302


def test_guessing_the_current_password_is_throttled(app, tenant, manager_client):
    url = tenant.url("settings/security")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert post(manager_client, url, action="password", current_password="guess-guess-1",
                    new_password="x-new-password-1", new_password_confirm="x-new-password-1").status_code == 400
    blocked = post(manager_client, url, action="password", current_password=TEST_PASSWORD,
                   new_password="x-new-password-1", new_password_confirm="x-new-password-1")
    assert blocked.status_code == 429
    assert login(app.test_client(), tenant.owner_email).status_code == 302  # the password is unchanged


def test_an_operator_changes_the_password(app, operator_client, operator):
    from app.models import OperatorAction

    new = "operator-new-password-9"
    changed = post(operator_client, "/platform/account/security", action="password", current_password=TEST_PASSWORD,
                   new_password=new, new_password_confirm=new)
    assert changed.status_code == 302 and operator_client.get("/platform/").status_code == 200
    client = app.test_client()
    response = client.post("/platform/login", data={"email": operator, "password": new,
                                                    "csrf_token": csrf_token(client, "/platform/login")})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(OperatorAction.action).order_by(OperatorAction.id.desc())) == "password_changed"


def test_one_code_posted_twice_at_once_opens_one_login(app, tenant, manager_client):
    """Two requests racing with the same code: the account's row is held from check to commit, so
    the second finds the step spent (PostgreSQL; SQLite has no row locks)."""
    import threading

    import pytest

    if app.config["DIALECT"] != "postgresql":
        pytest.skip("row locks exist on PostgreSQL only (set VERNOST_TEST_DATABASE_URL)")
    secret, _ = turn_on(manager_client, tenant)
    code = next_code(app, tenant.owner_email, secret)
    barrier, results = threading.Barrier(2), []

    def attempt():
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == tenant.owner_email))
            barrier.wait()
            used = two_factor.verify(user, code)
            time.sleep(0.2)  # hold the lock a while: the other request must wait, not read past it
            db.session.commit()
            results.append(used)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results, key=str) == [None, "app"]


def test_guessing_codes_to_turn_it_off_is_throttled(app, tenant, manager_client):
    secret, _ = turn_on(manager_client, tenant)
    url = tenant.url("settings/security")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert post(manager_client, url, action="disable", code="000001").status_code == 400
    code = next_code(app, tenant.owner_email, secret)
    assert post(manager_client, url, action="disable", code=code).status_code == 429
    assert user_row(app, tenant.owner_email).totp_enabled_at is not None


def test_operators_see_who_of_them_uses_it_and_accounts_are_switched_off(app, tenant, operator, operator_client):
    from app.models import Operator, OperatorAction

    with app.app_context():
        db.session.add(Operator(email="idle@vernost.test", full_name="", password_hash=hash_password(TEST_PASSWORD)))
        db.session.commit()
    turn_on(operator_client, tenant, url="/platform/account/security")
    # Signing in again, with the code: that is the sign-in the roster shows.
    with app.app_context():
        secret = db.session.scalar(select(Operator).where(Operator.email == operator)).totp_secret
        step = db.session.scalar(select(Operator).where(Operator.email == operator)).totp_last_step
    client, _ = operator_login(app, operator)
    assert post(client, "/platform/login/code", code=pyotp.TOTP(secret).at((step + 1) * 30)).status_code == 302

    html = page(client, "/platform/operators")
    rows = dict(re.findall(r"<tr>\s*<td>([^<]+).*?</td>\s*<td[^>]*>(.*?)</td>", html, re.S))
    assert "on" in rows["Op"] and "off" in rows["idle@vernost.test"]
    assert html.count(">never<") == 1  # the idle account has never signed in; Op has a time
    assert tenant.owner_email not in html  # clinic members are not operators
    assert app.test_client().get("/platform/operators").status_code == 302
    listed = app.test_cli_runner().invoke(args=["operators", "list"])
    assert listed.exit_code == 0 and "idle@vernost.test\t2fa OFF\tnever signed in\tactive" in listed.output
    assert f"{operator}\t2fa on\t" in listed.output

    switched = app.test_cli_runner().invoke(args=["operators", "deactivate", operator])
    assert switched.exit_code == 0, switched.output
    assert client.get("/platform/").status_code == 302  # the session has ended
    assert operator_login(app, operator)[1].status_code == 401
    back = app.test_cli_runner().invoke(args=["operators", "deactivate", "--undo", operator])
    assert back.exit_code == 0 and operator_login(app, operator)[1].status_code == 302
    with app.app_context():
        actions = [a.action for a in db.session.scalars(select(OperatorAction).order_by(OperatorAction.id))]
    assert actions[-2:] == ["operator_deactivated", "operator_activated"]


def test_a_borrowed_session_cannot_turn_it_on_without_the_password(app, tenant, manager_client):
    """Whoever holds only the cookie must not put their own phone between the owner and the account."""
    url = tenant.url("settings/security")
    html = post(manager_client, url, action="start").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    for guess in ("", "wrong-password-1"):
        refused = post(manager_client, url, action="confirm", code=app_code(secret), password=guess)
        body = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "Wrong password" in body and "totp-secret" in body
    assert user_row(app, tenant.owner_email).totp_enabled_at is None
    # Guesses count like a login's: after the limit even the right password waits.
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post(manager_client, url, action="confirm", code=app_code(secret), password="wrong-password-2")
    blocked = post(manager_client, url, action="confirm", code=app_code(secret), password=TEST_PASSWORD)
    assert blocked.status_code == 429 and user_row(app, tenant.owner_email).totp_enabled_at is None
