"""A review page is linked to the doctor it is headed with: the name matching, and the headings of real pages."""
from __future__ import annotations

import lxml.html
import pytest

from app.reputation.extract import extract_page, page_heading
from app.reputation.linking import match_doctor, names_doctor
from tests.conftest import REVIEW_PAGES, needs_review_pages



@pytest.mark.parametrize("heading, name, expected", [
    ("Цуканова Ольга Владимировна Видное", "Цуканова Ольга Владимировна", True),
    ("Цуканова Ольга Владимировна Видное", "ольга цуканова", True),              # order and case aside
    ("Семёнова Анна Петровна, терапевт", "Семенова Анна Петровна", True),         # ё and е alike
    ("Цуканова Ольга Владимировна Видное", "Цуканова О. В.", True),              # initials
    ("Dr. Hilary Pada", "Hilary Pada", True),
    ("Dr. Alissa H. Zenack", "Alissa Zenack", True),
    ("Dr. Alissa H. Zenack", "Zenack A. H.", True),
    ("Цуканова Ольга Владимировна Видное", "Цуканова", False),                   # a surname alone
    ("Цуканова Ольга Владимировна Видное", "Цуканова О. П.", False),             # another patronymic
    ("Иванова Ольга Сергеевна", "Иванова Ольга Петровна", False),
    ("Отзывы о клинике «Здоровье» на Ленина", "Здоровье Ленина", True),          # words are words
    ("Поликлиники для взрослых в Краснодаре", "Анна Петрова", False),
    ("", "Анна Петрова", False),
    ("Dr. Hilary Pada", "", False),
])
def test_a_heading_names_a_doctor(heading, name, expected):
    assert names_doctor(heading, name) is expected


def test_only_one_doctor_is_linked():
    doctors = [(1, "Цуканова Ольга Владимировна"), (2, "Петров Иван Ильич"), (3, "Цуканова Мария Ивановна")]
    assert match_doctor("Цуканова Ольга Владимировна Видное", doctors) == 1
    assert match_doctor("Петров Иван Ильич — уролог", doctors) == 2
    assert match_doctor("Клиника «Демо»", doctors) is None
    assert match_doctor(None, doctors) is None
    # Two doctors of the same name: the page could be either's, so it is linked to neither.
    assert match_doctor("Цуканова Ольга Владимировна", doctors + [(4, "Цуканова Ольга Владимировна")]) is None


@needs_review_pages
@pytest.mark.parametrize("name, words", [
    ("prodoctorov/vidnoe-tsukanova-reviews.html", "Цуканова Ольга Владимировна"),
    ("prodoctorov/moskva-hafez-profile.html", "Хафез Йамен Мухаммадович"),
    ("ratemds/dentist-pada-kelowna-bc.html", "Hilary Pada"),
    ("ratemds/family-gp-blanchet-quebec-qc-fr.html", "Alexandra Blanchet"),
])
def test_doctor_pages_of_review_sites_are_headed_with_the_doctors_name(name, words):
    page = extract_page((REVIEW_PAGES / name).read_bytes())
    assert names_doctor(page.heading, words), page.heading
    assert page.to_json_dict()["heading"] == page.heading


def test_a_page_without_a_heading_falls_back_to_its_titles():
    def heading(html: str) -> str | None:
        return page_heading(lxml.html.document_fromstring(html))

    assert heading('<html><head><meta property="og:title" content="Dr. Jane Roe"><title>x</title></head>'
                   "<body><p>reviews</p></body></html>") == "Dr. Jane Roe"
    assert heading("<html><head><title> Dr.  Jane\nRoe </title></head><body></body></html>") == "Dr. Jane Roe"
    assert heading("<html><body><h1>  </h1><p>nothing</p></body></html>") is None
