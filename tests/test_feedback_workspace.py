"""The workspace side of patient feedback: questionnaire editor and versions, collection points,
QR codes, posters, consent texts and review sites — each checked through the public form too."""
from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET

from sqlalchemy import select

from app.extensions import db
from app.models import (
    CollectionPoint,
    ConsentText,
    Questionnaire,
    QuestionnaireVersion,
    Response,
)
from tenants.context import tenant_scope
from tests.conftest import add_member, form_token, login
from tests.feedback_helpers import point_token, submit


def _token(client, path):
    return form_token(client.get(path).get_data(as_text=True))


def _post(client, path, data, page=None):
    return client.post(path, data={"csrf_token": _token(client, page or path), **data})


def _questionnaire_id(app, clinic_id, name=None):
    with app.app_context(), tenant_scope(clinic_id):
        query = select(Questionnaire.id).order_by(Questionnaire.id.desc())
        if name:
            query = query.where(Questionnaire.name == name)
        return db.session.scalar(query)


def _draft(app, clinic_id, questionnaire_id):
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalar(select(QuestionnaireVersion).where(
            QuestionnaireVersion.questionnaire_id == questionnaire_id, QuestionnaireVersion.status == "draft"))


def _build_questionnaire(app, tenant, manager_client):
    """Create a questionnaire with every question type through the editor; returns (id, editor path)."""
    created = _post(manager_client, tenant.url("questionnaires"), {"name": "After the visit"})
    assert created.status_code == 302
    qid = _questionnaire_id(app, tenant.id, "After the visit")
    editor = tenant.url(f"questionnaires/{qid}")
    for qtype, extra in [("rating", {"aspect": "parking", "label_ru": "Парковка", "label_en": "Parking"}),
                         ("single", {"label_ru": "Как вы нас нашли?", "label_en": "How did you find us?"}),
                         ("multiple", {"label_ru": "Что понравилось?", "label_en": "What did you like?"}),
                         ("yesno", {"label_ru": "Придёте снова?", "label_en": "Will you come again?"}),
                         ("text", {"label_ru": "Комментарий", "label_en": "Comment"})]:
        assert _post(manager_client, editor, {"action": "add", "type": qtype, **extra}).status_code == 302
    # Translate the single-choice options and add a third one; mark the question required.
    assert _post(manager_client, editor, {
        "action": "update", "key": "single", "label_ru": "Как вы нас нашли?", "label_en": "How did you find us?",
        "required": "on", "opt_key_0": "option_1", "opt_ru_0": "Друзья", "opt_en_0": "Friends",
        "opt_key_1": "option_2", "opt_ru_1": "Интернет", "opt_en_1": "Internet",
        "opt_ru_2": "Реклама", "opt_en_2": "An advert"}).status_code == 302
    assert _post(manager_client, editor, {
        "action": "update", "key": "multiple", "label_ru": "Что понравилось?", "label_en": "What did you like?",
        "opt_key_0": "option_1", "opt_ru_0": "Врач", "opt_en_0": "The doctor",
        "opt_key_1": "option_2", "opt_ru_1": "Чистота", "opt_en_1": "Cleanliness"}).status_code == 302
    # Move the text question above the yes/no one.
    assert _post(manager_client, editor, {"action": "up", "key": "comment"}).status_code == 302
    return qid, editor


def test_editor_builds_every_question_type_and_a_patient_answers_them(app, tenant, manager_client, client):
    qid, editor = _build_questionnaire(app, tenant, manager_client)
    draft = _draft(app, tenant.id, qid)
    assert [q["key"] for q in draft.questions] == ["nps", "rating_parking", "single", "multiple", "comment", "yesno"]
    single = draft.questions[2]
    assert single["required"] and [o["label"]["en"] for o in single["options"]] == ["Friends", "Internet", "An advert"]
    assert draft.questions[1]["aspect"] == "parking"

    # Publish, then hang a QR code for it.
    assert _post(manager_client, editor, {"action": "publish"}).status_code == 302
    assert _post(manager_client, tenant.url("points"), {
        "name": "Room 12", "kind": "room", "questionnaire_id": str(qid)}, page=tenant.url("points")).status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        token = db.session.scalar(select(CollectionPoint.token).where(CollectionPoint.name == "Room 12"))

    form = client.get(f"/q/{token}?lang=en").get_data(as_text=True)
    assert "How did you find us?" in form and "An advert" in form and "Parking" in form
    # The required single choice is enforced.
    missing = submit(client, token, {"q_nps": "9"}, lang="en")
    assert missing.status_code == 422 and "Please answer this question." in missing.get_data(as_text=True)
    ok = submit(client, token, {"q_nps": "9", "q_rating_parking": "2", "q_single": "option_3",
                                "q_multiple": ["option_1", "option_2"], "q_yesno": "no",
                                "q_comment": "Парковки мало"}, lang="en")
    assert ok.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        response = db.session.scalar(select(Response))
        version = db.session.get(QuestionnaireVersion, response.questionnaire_version_id)
        assert version.number == 1 and version.status == "published"
        assert response.answers == {"nps": 9, "rating_parking": 2, "single": "option_3",
                                    "multiple": ["option_1", "option_2"], "yesno": False, "comment": "Парковки мало"}
        assert response.comment == "Парковки мало" and response.min_rating == 2
        assert response.risk_level == "at_risk"
        old_response_id = response.id

    # A patient opens the form now, and is still answering it when version 2 comes out.
    from tests.feedback_helpers import form_fields

    slow_patient = app.test_client()
    stale_fields = form_fields(slow_patient.get(f"/q/{token}?lang=en").get_data(as_text=True))

    # Edit again: drop the parking question, rename an option, publish version 2.
    assert _post(manager_client, editor, {"action": "remove", "key": "rating_parking"}).status_code == 302
    assert _post(manager_client, editor, {
        "action": "update", "key": "single", "label_ru": "Откуда вы о нас узнали?", "label_en": "Where did you hear of us?",
        "required": "on", "opt_key_0": "option_1", "opt_ru_0": "Друзья", "opt_en_0": "Friends",
        "opt_key_1": "option_2", "opt_ru_1": "Интернет", "opt_en_1": "Internet",
        "opt_key_2": "option_3", "opt_ru_2": "Реклама", "opt_en_2": "A billboard"}).status_code == 302
    assert _post(manager_client, editor, {"action": "publish"}).status_code == 302

    form = client.get(f"/q/{token}?lang=en").get_data(as_text=True)
    assert "Parking" not in form and "Where did you hear of us?" in form
    assert submit(client, token, {"q_nps": "10", "q_single": "option_1"}, lang="en").status_code == 302
    # The slow patient's answers are read with the questions they saw: the parking score of 1 is kept.
    sent = slow_patient.post(f"/q/{token}?lang=en", data={**stale_fields, "q_nps": "8", "q_rating_parking": "1",
                                                          "q_single": "option_2"})
    assert sent.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        late = db.session.scalar(select(Response).where(Response.nps == 8))
        assert db.session.get(QuestionnaireVersion, late.questionnaire_version_id).number == 1
        assert late.answers["rating_parking"] == 1 and late.risk_level == "at_risk"

    from app.questionnaires import answered_questions

    with app.app_context(), tenant_scope(tenant.id):
        old = db.session.get(Response, old_response_id)
        versions = {v.id: v for v in db.session.scalars(select(QuestionnaireVersion).where(
            QuestionnaireVersion.questionnaire_id == qid))}
        assert versions[old.questionnaire_version_id].number == 1
        assert versions[old.questionnaire_version_id].status == "archived"
        # The old response still reads with its own questions and option labels.
        rows = dict(answered_questions(old, "en"))
        assert rows["Parking"] == "2/5" and rows["How did you find us?"] == "An advert"
        assert rows["What did you like?"] == "The doctor, Cleanliness" and rows["Will you come again?"] == "No"
        new = db.session.scalar(select(Response).where(Response.nps == 10))
        assert versions[new.questionnaire_version_id].number == 2
        assert dict(answered_questions(new, "en"))["Where did you hear of us?"] == "Friends"

    # Version history shows each version with its responses; an old version can be viewed.
    page = manager_client.get(editor).get_data(as_text=True)
    counts = re.findall(r'<td class="responses"[^>]*>(\d+)</td>', page)
    assert counts == ["1", "2"]  # version 2, then version 1 with the slow patient's answer
    old_view = manager_client.get(f"{editor}/preview?version=1&lang=en").get_data(as_text=True)
    assert "Parking" in old_view and "How did you find us?" in old_view


def test_preview_shows_the_draft_without_a_send_button(app, tenant, manager_client):
    qid = _questionnaire_id(app, tenant.id)
    editor = tenant.url(f"questionnaires/{qid}")
    assert _post(manager_client, editor, {"action": "add", "type": "yesno", "label_en": "Was it on time?",
                                          "label_ru": "Приняли вовремя?"}).status_code == 302
    preview = manager_client.get(f"{editor}/preview?lang=en")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Was it on time?" in html and "Preview: sending is off." in html
    assert 'class="send"' not in html
    assert "Приняли вовремя?" in manager_client.get(f"{editor}/preview?lang=ru").get_data(as_text=True)
    # Patients still get the published version until the draft is published.
    token = point_token(app, tenant.id)
    assert "Was it on time?" not in app.test_client().get(f"/q/{token}?lang=en").get_data(as_text=True)
    assert manager_client.get(f"{editor}/preview?version=99").status_code == 404
    assert manager_client.get(f"{editor}/preview?version=abc").status_code == 404


def test_editor_refuses_bad_edits_with_a_clear_4xx(app, tenant, manager_client):
    qid = _questionnaire_id(app, tenant.id)
    editor = tenant.url(f"questionnaires/{qid}")
    cases = [
        {"action": "publish"},  # nothing changed yet
        {"action": "explode"},
        {"action": "add", "type": "rating", "aspect": "Not A Key"},
        {"action": "add", "type": "nps"},  # one NPS question per questionnaire
        {"action": "add", "type": "sliders"},
        {"action": "remove", "key": "no_such_question"},
        {"action": "update", "key": "nps", "label_ru": "", "label_en": ""},
        {"action": "rename", "name": "   "},
    ]
    for data in cases:
        response = _post(manager_client, editor, data)
        assert response.status_code == 400, data
        assert 'class="flash error"' in response.get_data(as_text=True)
    # Removing every question is refused at the last one.
    keys = [q["key"] for q in _published_questions(app, tenant.id, qid)]
    for key in keys[:-1]:
        assert _post(manager_client, editor, {"action": "remove", "key": key}).status_code == 302
    assert _post(manager_client, editor, {"action": "remove", "key": keys[-1]}).status_code == 400
    # Discarding the draft brings back the published questions.
    assert _post(manager_client, editor, {"action": "discard"}).status_code == 302
    assert _draft(app, tenant.id, qid) is None


def _published_questions(app, clinic_id, qid):
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalar(select(QuestionnaireVersion.questions).where(
            QuestionnaireVersion.questionnaire_id == qid, QuestionnaireVersion.status == "published"))


def test_viewers_see_read_only_pages(app, tenant):
    add_member(app, tenant, "viewer@alpha.test", "viewer")
    viewer = app.test_client()
    login(viewer, "viewer@alpha.test")
    qid = _questionnaire_id(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        point_id = db.session.scalar(select(CollectionPoint.id))
    for path in ["questionnaires", f"questionnaires/{qid}", "points", f"points/{point_id}", "settings/consent",
                 "settings/review-sites"]:
        page = viewer.get(tenant.url(path))
        assert page.status_code == 200, path
        assert 'name="action"' not in page.get_data(as_text=True) and "<textarea" not in page.get_data(as_text=True)
    token = _token(viewer, tenant.url("questionnaires"))
    for path, data in [(f"questionnaires/{qid}", {"action": "discard"}), ("questionnaires", {"name": "x"}),
                       ("points", {"name": "x"}), (f"points/{point_id}", {"name": "x"}),
                       ("settings/consent", {"language": "ru", "text": "x" * 30}),
                       ("settings/review-sites", {"name_0": "x", "url_0": "https://example.org/"})]:
        assert viewer.post(tenant.url(path), data={"csrf_token": token, **data}).status_code == 403, path


def test_collection_points_list_edit_and_deactivate(app, tenant, manager_client, client):
    from tests.factories import make_branch, make_doctor

    branch_id = make_branch(app, tenant.id, "North")
    doctor_id = make_doctor(app, tenant.id, "Dr Petrova", branch_id)
    qid = _questionnaire_id(app, tenant.id)
    created = _post(manager_client, tenant.url("points"), {
        "name": "Dr Petrova's room", "kind": "doctor", "questionnaire_id": str(qid), "doctor_id": str(doctor_id)})
    assert created.status_code == 302
    point_path = created.headers["Location"]
    with app.app_context(), tenant_scope(tenant.id):
        point = db.session.scalar(select(CollectionPoint).where(CollectionPoint.kind == "doctor"))
        assert point.branch_id == branch_id  # the doctor's branch
        token = point.token
    submit(client, token, {"q_nps": "10"})
    client.get(f"/q/{token}")  # the same patient again: not a second scan
    app.test_client().get(f"/q/{token}")  # another patient opens it and leaves
    from jobs.worker import InlineAppWorker, build_worker

    build_worker(app, ["default"], worker_class=InlineAppWorker).work(burst=True)  # counts the completion
    listing = manager_client.get(tenant.url("points")).get_data(as_text=True)
    assert f"http://localhost/q/{token}" in listing
    assert re.search(r'Dr Petrova&#39;s room.*?<td data-label="Scans">2</td><td data-label="Responses">1</td>\s*'
                     r'<td data-label="Completion rate">50%</td>', listing, re.DOTALL)

    # Bad input is a 400 with the reason, never a 500.
    for bad in [{"kind": "spaceship"}, {"questionnaire_id": "abc"}, {"questionnaire_id": ""},
                {"branch_id": "999999"}, {"doctor_id": "-1"}, {"name": ""}]:
        data = {"name": "Reception", "kind": "clinic", "questionnaire_id": str(qid), **bad}
        assert _post(manager_client, tenant.url("points"), data).status_code == 400, bad

    edited = _post(manager_client, point_path, {"name": "Room 7", "kind": "room", "questionnaire_id": str(qid),
                                                "branch_id": str(branch_id), "doctor_id": ""})
    assert edited.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        point = db.session.scalar(select(CollectionPoint).where(CollectionPoint.token == token))
        assert (point.name, point.kind, point.doctor_id, point.active) == ("Room 7", "room", None, False)
    assert client.get(f"/q/{token}").status_code == 404  # unchecked "active" deactivates it


def test_a_point_cannot_use_another_clinics_questionnaire(app, tenant, other_tenant, manager_client):
    foreign = _questionnaire_id(app, other_tenant.id)
    response = _post(manager_client, tenant.url("points"), {"name": "Sneaky", "kind": "clinic",
                                                            "questionnaire_id": str(foreign)})
    assert response.status_code == 400
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(CollectionPoint).where(CollectionPoint.name == "Sneaky")) is None


def test_qr_codes_are_valid_svg_and_png(app, tenant, manager_client):
    with app.app_context(), tenant_scope(tenant.id):
        point_id, token = db.session.execute(select(CollectionPoint.id, CollectionPoint.token)).one()
    svg = manager_client.get(tenant.url(f"points/{point_id}/qr.svg"))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert "attachment" in svg.headers["Content-Disposition"]
    root = ET.fromstring(svg.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.find("{http://www.w3.org/2000/svg}path") is not None

    png = manager_client.get(tenant.url(f"points/{point_id}/qr.png"))
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n" and png.data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png.data[16:24])
    assert width == height and width >= 21 * 12  # at least a version-1 code at scale 12

    import segno

    # The PNG encodes exactly the point's short link.
    expected = segno.make(f"http://localhost/q/{token}", error="m", micro=False)
    assert (width // 12) == expected.symbol_size(scale=1, border=2)[0]


def test_poster_page_for_a4_and_a5(app, tenant, manager_client):
    with app.app_context(), tenant_scope(tenant.id):
        point_id, token = db.session.execute(select(CollectionPoint.id, CollectionPoint.token)).one()
    for size in ("a4", "a5"):
        page = manager_client.get(tenant.url(f"points/{point_id}/poster?size={size}"))
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert f"size: {size.upper()} portrait" in html and "Clinic alpha" in html
        assert f"http://localhost/q/{token}" in html and "<svg" in html
        assert "Отсканируйте код" in html and "Scan the code" in html
        # The toolbar speaks the manager's language; each language of the sheet is marked as such.
        assert '<html lang="en">' in html and '<span lang="en">Anonymous if you like</span>' in html
    # An unknown size falls back to A4 instead of failing.
    assert "size: A4 portrait" in manager_client.get(tenant.url(f"points/{point_id}/poster?size=<b>")).get_data(as_text=True)


def test_review_sites_are_validated_and_shown_to_every_patient(app, tenant, manager_client, client):
    path = tenant.url("settings/review-sites")
    for bad in [{"name_0": "Site", "url_0": "http://example.org/clinic"},
                {"name_0": "Site", "url_0": "javascript:alert(1)"},
                {"name_0": "Site", "url_0": "https://"},
                {"name_0": "", "url_0": "https://example.org/clinic"}]:
        response = _post(manager_client, path, bad)
        assert response.status_code == 400 and 'class="flash error"' in response.get_data(as_text=True), bad
    saved = _post(manager_client, path, {"name_0": "2GIS", "url_0": "https://2gis.example/clinic-alpha",
                                         "name_1": "", "url_1": "",
                                         "name_2": "Prodoctorov", "url_2": "https://prodoctorov.example/alpha"})
    assert saved.status_code == 302
    assert "https://prodoctorov.example/alpha" in manager_client.get(path).get_data(as_text=True)
    token = point_token(app, tenant.id)
    # No review gating: the unhappy patient sees the same links as the happy one.
    for nps in ("0", "10"):
        patient = app.test_client()
        thanks = submit(patient, token, {"q_nps": nps})
        page = patient.get(thanks.headers["Location"]).get_data(as_text=True)
        assert 'href="https://2gis.example/clinic-alpha"' in page and "Prodoctorov" in page


def test_consent_versions_are_kept_with_each_response(app, tenant, manager_client, client):
    path = tenant.url("settings/consent")
    page = manager_client.get(path).get_data(as_text=True)
    assert "Version 1" in page
    token = point_token(app, tenant.id)

    def answer_with_contact(patient):
        html = patient.get(f"/q/{token}?lang=ru").get_data(as_text=True)
        consent_id = re.search(r'name="consent" value="(\d+)"', html).group(1)
        submit(patient, token, {"q_nps": "7", "contact_name": "Анна", "contact_phone": "+7 900 123-45-67",
                                "consent": consent_id})
        return int(consent_id)

    first = answer_with_contact(app.test_client())
    assert _post(manager_client, path, {"language": "ru", "text": "Короче"}).status_code == 400
    assert _post(manager_client, path, {"language": "de", "text": "x" * 40}).status_code == 400
    new_text = "Я согласен на обработку моих данных клиникой для ответа на мой отзыв (версия 2)."
    assert _post(manager_client, path, {"language": "ru", "text": new_text}).status_code == 302
    assert "Version 2" in manager_client.get(path).get_data(as_text=True)
    second = answer_with_contact(app.test_client())
    assert second != first
    with app.app_context(), tenant_scope(tenant.id):
        texts = {c.id: c for c in db.session.scalars(select(ConsentText))}
        recorded = [r.consent_text_id for r in db.session.scalars(select(Response).order_by(Response.id))]
    assert recorded == [first, second]
    assert texts[first].version == 1 and texts[second].version == 2 and texts[second].text == new_text
    assert new_text in client.get(f"/q/{token}?lang=ru").get_data(as_text=True)
