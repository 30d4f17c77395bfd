"""Russian plural forms for counts (ngettext) and words with two meanings (pgettext).

Russian has three forms: 1 отзыв (also 21, 31…), 3 отзыва (2–4, 22–24…), 5 отзывов (5–20, 0…).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from app.extensions import db
from tenants.context import tenant_scope
from tests.conftest import form_token, login
from tests.factories import make_scrape_run, make_visit_import

COUNTS = (1, 3, 5)


def russian(client):
    """The same client, with a browser that prefers Russian (the user has not chosen a language)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    return client


@pytest.fixture
def ru_client(manager_client):
    return russian(manager_client)


def _set_run(app, clinic_id, run_id, n):
    from app.models import ScrapeRun

    with app.app_context(), tenant_scope(clinic_id):
        run = db.session.get(ScrapeRun, run_id)
        run.status, run.finished_at = "done", datetime.now(timezone.utc)
        run.sources_total = run.sources_done = run.sources_failed = run.reviews_new = n
        db.session.commit()


@pytest.mark.parametrize("n, new, read, failed", [
    (1, "1 новый отзыв", "Прочитано 1 из 1 источника", "1 источник с ошибкой"),
    (3, "3 новых отзыва", "Прочитано 3 из 3 источников", "3 источника с ошибкой"),
    (5, "5 новых отзывов", "Прочитано 5 из 5 источников", "5 источников с ошибкой"),
    (21, "21 новый отзыв", "Прочитано 21 из 21 источника", "21 источник с ошибкой"),
])
def test_scrape_run_fragment_in_russian(app, tenant, ru_client, n, new, read, failed):
    run_id = make_scrape_run(app, tenant.id)
    _set_run(app, tenant.id, run_id, n)
    html = ru_client.get(tenant.url(f"reputation/runs/{run_id}"), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert new in html and read in html and failed in html


def test_scrape_run_fragment_in_english_singular_and_plural(app, tenant, manager_client):
    run_id = make_scrape_run(app, tenant.id)
    _set_run(app, tenant.id, run_id, 1)
    html = manager_client.get(tenant.url(f"reputation/runs/{run_id}"), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "1 of 1 source read" in html and "1 new review" in html and "1 new reviews" not in html
    _set_run(app, tenant.id, run_id, 3)
    html = manager_client.get(tenant.url(f"reputation/runs/{run_id}"), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "3 of 3 sources read" in html and "3 new reviews" in html and "3 failed" in html


def _paste(count: int, start: int) -> str:
    return "\n\n".join(f"2025-01-{10 + i:02d} | 5 | Автор {start + i}\nОтзыв номер {start + i}: всё хорошо."
                       for i in range(count))


def _import_pasted(client, tenant, pasted):
    token = form_token(client.get(tenant.url("reputation/import")).get_data(as_text=True))
    return client.post(tenant.url("reputation/import"), data={"csrf_token": token, "pasted": pasted},
                       content_type="multipart/form-data")


def test_review_import_message_in_russian(app, tenant, ru_client):
    start = 0
    for n, expected in ((1, "Импортирован 1 отзыв (уже известных: 0)."),
                        (3, "Импортировано 3 отзыва (уже известных: 0)."),
                        (5, "Импортировано 5 отзывов (уже известных: 0).")):
        response = _import_pasted(ru_client, tenant, _paste(n, start))
        assert response.status_code == 302, response.get_data(as_text=True)
        start += n
        assert expected in ru_client.get(tenant.url("reputation")).get_data(as_text=True)


def test_review_import_message_in_english(app, tenant, manager_client):
    assert _import_pasted(manager_client, tenant, _paste(1, 0)).status_code == 302
    assert "Imported 1 review (0 already known)." in manager_client.get(tenant.url("reputation")).get_data(as_text=True)


def _finish_import(app, clinic_id, import_id, imported, rows, duplicates):
    from app.models import VisitImport

    with app.app_context(), tenant_scope(clinic_id):
        visit_import = db.session.get(VisitImport, import_id)
        visit_import.status, visit_import.finished_at = "done", datetime.now(timezone.utc)
        visit_import.imported_rows, visit_import.total_rows, visit_import.duplicate_rows = imported, rows, duplicates
        db.session.commit()


def test_visit_import_progress_in_russian_and_english(app, tenant, manager_client):
    import_id = make_visit_import(app, tenant.id)
    url = tenant.url(f"visits/imports/{import_id}/progress")
    expected = {1: "Импортирован 1 визит из 1 строки; 1 из них уже был загружен ранее.",
                3: "Импортировано 3 визита из 3 строк; 3 из них уже были загружены ранее.",
                5: "Импортировано 5 визитов из 5 строк; 5 из них уже были загружены ранее."}
    for n in COUNTS:
        _finish_import(app, tenant.id, import_id, n, n, n)
        english = manager_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        if n == 1:
            assert "1 visit imported of 1 row; 1 was already known." in english
        else:
            assert f"{n} visits imported of {n} rows; {n} were already known." in english
        russian(manager_client)
        assert expected[n] in manager_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        manager_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.mark.parametrize("minutes, expected", [(1, "Подождите 1 минуту"), (3, "Подождите 3 минуты"),
                                               (5, "Подождите 5 минут"), (15, "Подождите 15 минут")])
def test_login_throttle_message_in_russian(app, tenant, monkeypatch, minutes, expected):
    monkeypatch.setitem(app.config, "LOGIN_WINDOW_MINUTES", minutes)
    c = russian(app.test_client())
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(c, tenant.owner_email, "wrong-password!").status_code == 401
    blocked = login(c, tenant.owner_email, "wrong-password!")
    assert blocked.status_code == 429 and expected in blocked.get_data(as_text=True)


def test_python_messages_choose_the_russian_form(app):
    from flask_babel import ngettext

    from app.security import password_problem

    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert password_problem("short") == "не меньше 10 символов"
        forms = [ngettext("%(num)s response deleted.", "%(num)s responses deleted.", n) for n in COUNTS]
        assert forms == ["Удалён 1 ответ.", "Удалено 3 ответа.", "Удалено 5 ответов."]
        forms = [ngettext("%(failed)s of %(num)s source could not be read.",
                          "%(failed)s of %(num)s sources could not be read.", n, failed=1) for n in COUNTS]
        assert forms == ["Не удалось прочитать 1 из 1 источника.", "Не удалось прочитать 1 из 3 источников.",
                         "Не удалось прочитать 1 из 5 источников."]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert password_problem("short") == "at least 10 characters"
        assert ngettext("%(num)s response deleted.", "%(num)s responses deleted.", 1) == "1 response deleted."


def test_reputation_card_in_russian(app):
    from flask import render_template

    with app.test_request_context(headers={"Accept-Language": "ru"}):
        for n, reviews, negative, failing, unanswered in (
                (1, "1 отзыв", "1 новый негативный отзыв за неделю", "1 источник с ошибкой",
                 "1 жалоба за 90 дней без ответа"),
                (3, "3 отзыва", "3 новых негативных отзыва за неделю", "3 источника с ошибкой",
                 "3 жалобы за 90 дней без ответа"),
                (5, "5 отзывов", "5 новых негативных отзывов за неделю", "5 источников с ошибкой",
                 "5 жалоб за 90 дней без ответа")):
            card = {"index": 70.0, "week_delta": None, "reviews": n, "new_negative_7d": n, "broken_sources": n,
                    "unanswered": n}
            html = render_template("workspace/_reputation_card.html", reputation=card, has_endpoint=lambda name: False)
            assert reviews in html and negative in html and failing in html and unanswered in html


def test_context_gives_two_meanings_two_russian_words(app, tenant, ru_client):
    from flask_babel import gettext, pgettext

    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert pgettext("action", "Open") == "Открыть"
        assert pgettext("case list", "Open") == "Открытые"
        assert pgettext("action", "open") == "открыть"
        assert pgettext("case status", "open") == "открыто"
        assert pgettext("review sentiment", "negative") != pgettext("reviews filter", "negative")
        assert gettext("Open") == "Open"  # no context-free entry is left to share one translation
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert pgettext("case list", "Open") == pgettext("action", "Open") == "Open"
    # On the pages: the case list tab reads as a status, the questionnaire link as an action.
    assert "Открытые (0)" in ru_client.get(tenant.url("cases")).get_data(as_text=True)
    questionnaires = ru_client.get(tenant.url("questionnaires")).get_data(as_text=True)
    assert ">Открыть</a>" in questionnaires
    count, word = re.search(r"версия 1 · (\d+) (вопрос\w*)", questionnaires).groups()
    assert word == russian_form(int(count), ("вопрос", "вопроса", "вопросов"))


def russian_form(n: int, forms: tuple[str, str, str]) -> str:
    """The Russian plural rule, written out independently of the catalogue's header."""
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def test_empty_dashboard_in_russian(app, tenant, ru_client):
    html = ru_client.get(tenant.url("dashboard")).get_data(as_text=True)
    assert "0 ответов" in html and "из 0 пациентов прошлого периода" in html


def test_visit_import_status_is_translated_in_the_list(app, tenant, ru_client):
    import_id = make_visit_import(app, tenant.id)
    _finish_import(app, tenant.id, import_id, 3, 3, 0)
    html = ru_client.get(tenant.url("visits/imports")).get_data(as_text=True)
    assert ">готово</span>" in html and ">done</span>" not in html


def test_visit_import_errors_are_shown_in_the_readers_language(app, tenant, manager_client):
    """Import errors are stored as English msgids with their values and translated on the page."""
    from app.models import VisitImport

    import_id = make_visit_import(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        visit_import = db.session.get(VisitImport, import_id)
        visit_import.status, visit_import.finished_at = "failed", datetime.now(timezone.utc)
        visit_import.errors = [
            {"line": 3, "field": "doctor", "value": "Dr Nobody", "message": "no such doctor in the clinic's settings",
             "params": {}},
            {"line": 4, "field": "birth_year", "value": "1800", "message": "a year from 1900 to %(year)s",
             "params": {"year": 2026}},
            {"line": 5, "field": "amount", "value": "x", "message": "not an amount"},  # stored before params existed
        ]
        db.session.commit()
    url = tenant.url(f"visits/imports/{import_id}/progress")
    english = manager_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "no such doctor in the clinic&#39;s settings" in english and "a year from 1900 to 2026" in english
    russian(manager_client)
    html = manager_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "такого врача нет в настройках клиники" in html
    assert "год от 1900 до 2026" in html and "это не сумма" in html


def test_upload_and_point_errors_in_russian(app, tenant, ru_client):
    import io

    page = ru_client.get(tenant.url("visits/imports")).get_data(as_text=True)
    response = ru_client.post(tenant.url("visits/imports"), data={
        "csrf_token": form_token(page), "encoding": "utf-8",
        "file": (io.BytesIO(b"patient;date;amount\n"), "visits.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Загрузите файл .csv или .xlsx." in response.get_data(as_text=True)
    page = ru_client.get(tenant.url("points")).get_data(as_text=True)
    response = ru_client.post(tenant.url("points"), data={
        "csrf_token": form_token(page), "name": "", "kind": "clinic",
        "questionnaire_id": "999999"})
    assert response.status_code == 400 and "укажите название" in response.get_data(as_text=True)


def test_not_found_page_speaks_the_readers_language(client):
    english = client.get("/no/such/page").get_data(as_text=True)
    assert "There is no such page here" in english and "requested URL" not in english
    russian(client)
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "Такой страницы нет" in page.get_data(as_text=True)


def test_running_import_shows_a_labelled_progress_bar(app, tenant, manager_client):
    """A <progress> element: no inline width style (the CSP refuses those), and a name for screen readers."""
    from app.models import VisitImport

    import_id = make_visit_import(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        visit_import = db.session.get(VisitImport, import_id)
        visit_import.status, visit_import.total_rows = "running", 40
        db.session.commit()
    html = manager_client.get(tenant.url(f"visits/imports/{import_id}/progress"),
                              headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<progress aria-label="Import progress" max="40" value="0">' in html and "style=" not in html
    assert 'hx-trigger="load delay:1s"' in html  # still polling


def test_a_clinics_name_never_needs_a_russian_case_ending():
    """A clinic's name ("Клиника «Демо»") is quoted as it is, in the nominative: a Russian message
    must not put it where Russian would decline it (after a preposition, or after "Клиника")."""
    from pathlib import Path

    from babel.messages.pofile import read_po

    catalog_path = Path(__file__).resolve().parents[1] / "app/translations/ru/LC_MESSAGES/messages.po"
    with catalog_path.open("rb") as handle:
        catalog = read_po(handle)
    declined = re.compile(r"(?i)(?:^|\s)(?:к|ко|в|во|у|для|от|из|о|об|с|со|на|по|при|про|клиника)\s+%\(clinic\)s")
    checked, wrong = 0, []
    for message in catalog:
        translations = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in translations:
            if text and "%(clinic)s" in text:
                checked += 1
                if declined.search(text):
                    wrong.append(text)
    assert checked >= 5
    assert wrong == []


def test_percentage_points_are_written_in_the_readers_language(app):
    """A change of a share reads "+2.5 pp" in English and "+2.5 п. п." in Russian, never a stray "pp"."""
    from types import SimpleNamespace

    from app.workspace.dashboard_views import delta

    rise, fall = SimpleNamespace(delta=0.025), SimpleNamespace(delta=-0.1)
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert delta(rise, percent=True) == "+2.5\u00a0п.\u00a0п."
        assert delta(fall, percent=True) == "−10.0\u00a0п.\u00a0п."
        assert delta(SimpleNamespace(delta=3), percent=False) == "+3.0"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert delta(rise, percent=True) == "+2.5\u00a0pp"


def test_programme_kinds_and_plans_are_words_not_codes(app, tenant, ru_client):
    """Every kind of loyalty programme and every licence plan has a translated name; a Russian manager
    reads "кешбэк", not the stored code "cashback"."""
    from app.i18n import TERMS
    from app.metrics.programme import ProgrammeType
    from tenants.licensing import PLANS

    assert {kind.value for kind in ProgrammeType} | set(PLANS) <= set(TERMS)
    page = ru_client.get(tenant.url("settings/programme")).get_data(as_text=True)
    assert ">кешбэк</option>" in page and ">скидки по уровням</option>" in page and ">cashback<" not in page
    licence = ru_client.get(tenant.url("settings/licence")).get_data(as_text=True)
    assert "Тариф: <strong>Стандартный</strong>" in licence


def test_spans_of_time_read_naturally_in_both_languages(app):
    from app.web import elapsed_hours

    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert [elapsed_hours(h) for h in (None, 0.4, 9.4, 84)] == ["—", "меньше часа", "9 ч", "3.5 дн."]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert [elapsed_hours(h) for h in (0.4, 47.6, 48)] == ["under an hour", "48 h", "2.0 days"]
