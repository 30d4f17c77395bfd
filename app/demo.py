"""Demo content for trying Vernost locally: a clinic with a year of history in every part of the product.

Two branches, five doctors and their QR points; 1,500 answers over twelve months with
comments, sentiment, topics and the cases they raised (most handled, a few still open); two
years of visits imported through the CRM import, with a cashback programme; public reviews
imported as a manager would, with the reputation index's last 90 days; every metric computed.
Everything goes through the same functions the product uses, so the demo shows what the code
does. A fixed random seed makes every demo clinic the same.
"""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from app.cases import add_note, assign, log_contact, open_case, resolve_case, set_status
from app.collection import create_point
from app.extensions import db
from app.feedback import store_topics
from app.models import (Branch, CollectionPoint, ConsentText, Doctor, PublishedReview, Response, ResponseRating,
                        Tenant, utcnow)
from app.nlp.sentiment import score_text
from app.nlp.topics import tag_aspects
from app.publishing import CURRENT_PUBLISH_WORDING
from app.questionnaires import published_version
from app.risk import classify_response
from tenants.settings import ClinicSettings, clinic_settings, update_settings

RESPONSES = 1500
PATIENTS = 420
DAYS = 365

# (text, the aspect it is about or None). Written for the demo; the pools follow the NPS band.
PRAISE = [
    ("Врач внимательно выслушал, всё подробно объяснил. Спасибо!", "doctor"),
    ("Чисто, уютно, администраторы вежливые.", "reception"),
    ("Медсестра очень аккуратно взяла кровь, совсем не больно.", "nurses"),
    ("Приняли точно по времени, ждать не пришлось.", "waiting"),
    ("Хожу сюда всей семьёй, ни разу не пожалели.", None),
    ("Удобная онлайн-запись, накануне напомнили о визите.", None),
    ("Результаты анализов пришли на почту уже на следующий день.", None),
    ("Ребёнок не испугался, педиатр нашла к нему подход.", "doctor"),
    ("Кардиолог всё разложил по полочкам, после лечения стало намного лучше.", "doctor"),
    ("Отличная клиника, рекомендую друзьям.", None),
    ("Цены честные, всё как в прайсе, без навязанных услуг.", "prices"),
    ("Great doctor, clear explanations, will come back.", "doctor"),
    ("Friendly nurses and a spotless clinic.", "nurses"),
]
MIXED = [
    ("Всё хорошо, но парковки нет.", None),
    ("Врач хороший, но пришлось подождать минут двадцать.", "waiting"),
    ("В целом нормально, цены немного выше, чем в соседней клинике.", "prices"),
    ("Дозвонилась не с первого раза, но записали на удобное время.", "reception"),
    ("Приём прошёл нормально, ничего особенного.", None),
    ("В холле душновато, а так всё устроило.", "cleanliness"),
    ("Good care, but the wait was long.", "waiting"),
]
COMPLAINTS = [
    ("Долго ждали в очереди, почти час после назначенного времени.", "waiting"),
    ("Цены не совпали с тем, что сказали по телефону.", "prices"),
    ("Не дозвониться в регистратуру, записалась только со второго дня.", "reception"),
    ("Грубый администратор на ресепшене.", "reception"),
    ("Врач торопился, толком не осмотрел и не объяснил назначения.", "doctor"),
    ("Результаты анализов потеряли, пришлось сдавать заново.", "nurses"),
    ("В туалете грязно, нет мыла.", "cleanliness"),
    ("Выставили счёт за услугу, которую не оказывали.", "prices"),
    ("Nobody answered the phone for two days.", "reception"),
]
PATIENT_NAMES = ["Мария", "Ирина Соколова", "Олег", "Елена В.", "Дмитрий Орлов", "Наталья", "Сергей К."]

# The clinic's handling of a case, as its staff would write it (no patient data).
CONTACT_NOTES = ["Извинились, объяснили, что случилось.", "Пациент на связи, ждёт решения по оплате.",
                 "Договорились о повторном приёме в удобное время."]
RESOLUTIONS = ["Извинились, провели повторный приём без оплаты.", "Вернули разницу в цене, обновили прайс на сайте.",
               "Разобрали случай с администраторами, пациент доволен ответом.",
               "Перенесли приём к другому врачу, пациент остался с нами."]
NOTES = ["Проверить расписание врача на эту дату.", "Запросить объяснение у старшей медсестры."]

# Public reviews: (site, stars, text, index of the doctor reviewed or None). Written for the demo.
REVIEWS = [
    ("prodoctorov.ru", 5, "Ольга Петровна — замечательный терапевт, внимательная и спокойная.", 0),
    ("prodoctorov.ru", 5, "Андрей Викторович всё объяснил, подобрал лечение, давление в норме.", 1),
    ("prodoctorov.ru", 4, "Хороший кардиолог, но запись к нему на две недели вперёд.", 1),
    ("prodoctorov.ru", 2, "Приём длился десять минут, вопросы задать не успела.", 1),
    ("prodoctorov.ru", 5, "Мария Игоревна нашла подход к сыну, он теперь не боится врачей.", 3),
    ("prodoctorov.ru", 5, "Педиатр от бога, объясняет понятно, не пугает.", 3),
    ("prodoctorov.ru", 3, "Врач грамотный, но в кабинете ждали сорок минут.", 0),
    ("prodoctorov.ru", 5, "Лучший невролог, к которому я обращался.", 2),
    ("prodoctorov.ru", 4, "Дерматолог выслушала и назначила анализы, посмотрим на результат.", 4),
    ("yandex.ru", 5, "Чистая современная клиника, приветливый персонал.", None),
    ("yandex.ru", 1, "Сорвали запись, никто не предупредил, зря ехала через весь город.", None),
    ("yandex.ru", 4, "Удобное расположение, парковка рядом, только цены кусаются.", None),
    ("yandex.ru", 5, "Сдавали анализы всей семьёй, быстро и без очередей.", None),
    ("yandex.ru", 2, "Администратор разговаривала грубо, настроение испорчено.", None),
    ("yandex.ru", 5, "Спасибо за внимательное отношение к пожилой маме.", None),
    ("yandex.ru", 3, "Обычная клиника, ничего выдающегося.", None),
    ("yandex.ru", 4, "Понравилось, что результаты приходят в приложение.", None),
    ("2gis.ru", 5, "Быстро записали по телефону, приняли вовремя.", None),
    ("2gis.ru", 2, "В счёт добавили услугу, о которой не договаривались.", None),
    ("2gis.ru", 5, "Хорошие врачи и чистота, рекомендую.", None),
    ("2gis.ru", 4, "Всё понравилось, кроме очереди в регистратуру утром.", None),
    ("2gis.ru", 1, "Потеряли результаты анализов, пришлось сдавать повторно.", None),
    ("2gis.ru", 5, "Вежливые медсёстры, уколы совсем не больно.", None),
    ("2gis.ru", 5, "Лечимся здесь третий год, всегда довольны.", None),
]

# The clinic's answers to some reviews; the other complaints are still waiting for one.
REPLIES = {
    "Приём длился десять минут": "Спасибо, что написали. Мы увеличили время первичного приёма до 30 минут.",
    "Администратор разговаривала грубо": "Приносим извинения. С администратором проведена беседа, позвоните нам, "
                                         "пожалуйста, — разберёмся.",
    "Мария Игоревна нашла подход": "Спасибо! Передали Марии Игоревне ваши слова.",
}

# (specialty, services with prices in roubles)
SPECIALTIES = {
    "Терапевт": [("Приём терапевта", 2500), ("Анализ крови", 900), ("ЭКГ", 1500)],
    "Кардиолог": [("Приём кардиолога", 3500), ("ЭКГ", 1500), ("Холтер", 4200)],
    "Педиатр": [("Приём педиатра", 2300), ("Справка в школу", 800)],
    "Невролог": [("Приём невролога", 3200), ("УЗИ сосудов", 3800)],
    "Дерматолог": [("Приём дерматолога", 2900), ("Удаление новообразования", 5200)],
}
DISTRICTS = ["Центральный", "Северный", "Заречный", "Пригород"]


@dataclass
class _Clinic:
    branches: list[Branch]
    doctors: list[Doctor]
    points: list[CollectionPoint]


def seed_demo_content(tenant: Tenant, manager_id: int | None = None) -> None:
    """Fill the (new, empty) demo clinic; ``manager_id`` handles its cases. Commits."""
    from app.analytics.refresh import full_recompute
    from tenants.resolve import clinic_local_now

    rng = random.Random(7)
    now = utcnow()
    today = clinic_local_now(tenant).date()
    clinic = _structure()
    settings = _settings(tenant, today)
    responses = _responses(rng, clinic, settings, now)
    _handle_cases(rng, responses, settings, manager_id, now)
    _publish_praise(responses, manager_id)
    _reviews(rng, clinic, today)
    _visits(rng, clinic, today)  # the import commits what came before
    _reputation_history(today)
    db.session.commit()
    full_recompute(tenant)


def _structure() -> _Clinic:
    center = Branch(name="Центральный филиал", address="ул. Ленина, 1")
    north = Branch(name="Северный филиал", address="пр. Мира, 42")
    db.session.add_all([center, north])
    db.session.flush()
    doctors = [Doctor(full_name="Иванова Ольга Петровна", specialty="Терапевт", branch_id=center.id),
               Doctor(full_name="Смирнов Андрей Викторович", specialty="Кардиолог", branch_id=center.id),
               Doctor(full_name="Волков Игорь Сергеевич", specialty="Невролог", branch_id=center.id),
               Doctor(full_name="Кузнецова Мария Игоревна", specialty="Педиатр", branch_id=north.id),
               Doctor(full_name="Лебедева Анна Олеговна", specialty="Дерматолог", branch_id=north.id)]
    db.session.add_all(doctors)
    db.session.flush()
    clinic_point = db.session.scalar(select(CollectionPoint).order_by(CollectionPoint.id))
    questionnaire_id = clinic_point.questionnaire_id
    points = [clinic_point]
    points += [create_point(name=f"Регистратура: {b.name}", kind="branch", questionnaire_id=questionnaire_id,
                            branch_id=b.id) for b in (center, north)]
    points += [create_point(name=f"Кабинет: {d.full_name.split()[0]}", kind="doctor",
                            questionnaire_id=questionnaire_id, doctor_id=d.id) for d in doctors]
    return _Clinic([center, north], doctors, points)


def _settings(tenant: Tenant, today: date) -> ClinicSettings:
    update_settings(tenant, review_links=[{"name": "ПроДокторов", "url": "https://prodoctorov.ru/"},
                                          {"name": "Яндекс Карты", "url": "https://yandex.ru/maps/"}],
                    programme_type="cashback", programme_launched_on=(today - timedelta(days=300)).isoformat(),
                    programme_running_cost=40000,
                    # A small clinic's doctors get a scorecard from ten answers a month (the default is 30).
                    min_sample=10)
    return clinic_settings(tenant)


def _band(rng: random.Random, age_days: float, weaker: bool) -> str:
    """Promoter, passive or detractor; the clinic improves over the year, one doctor lags behind."""
    fresh = 1 - age_days / DAYS
    detractor = 0.30 - 0.14 * fresh + (0.10 if weaker else 0)
    promoter = 0.42 + 0.18 * fresh - (0.08 if weaker else 0)
    draw = rng.random()
    return "detractor" if draw < detractor else "promoter" if draw < detractor + promoter else "passive"


def _responses(rng: random.Random, clinic: _Clinic, settings: ClinicSettings, now: datetime) -> list[Response]:
    version = published_version(clinic.points[0].questionnaire_id)
    consent = db.session.scalar(select(ConsentText).where(ConsentText.language == "ru")
                                .order_by(ConsentText.version.desc()))
    lagging_doctor = clinic.doctors[1].id
    responses = []
    for i in range(RESPONSES):
        # A few answers from today and this week, so the journal and the case list open on fresh
        # ones; the rest over the year.
        minutes = rng.randint(20, 60 * 20) if i < 6 else rng.randint(60, 7 * 24 * 60) if i < 40 else \
            rng.randint(60, DAYS * 24 * 60)
        submitted_at = now - timedelta(minutes=minutes)
        # Most patients scan the code in the doctor's room.
        point = rng.choice(clinic.points[3:]) if rng.random() < 0.7 else rng.choice(clinic.points[:3])
        band = _band(rng, minutes / 1440, point.doctor_id == lagging_doctor)
        nps = {"promoter": rng.choice([9, 10, 10]), "passive": rng.choice([7, 8]),
               "detractor": rng.choice([1, 3, 4, 5, 6, 6])}[band]
        pool = {"promoter": PRAISE, "passive": MIXED, "detractor": COMPLAINTS}[band]
        comment, about = rng.choice(_fitting(pool, clinic, point)) if rng.random() < 0.6 else ("", None)
        ratings = {aspect: max(1, min(5, round(nps / 2) + rng.choice([-1, 0, 0, 1])))
                   for aspect in ("doctor", "nurses", "reception", "waiting", "cleanliness", "prices")
                   if rng.random() < 0.8}
        if about and about in ratings:
            ratings[about] = {"promoter": 5, "passive": 3, "detractor": rng.choice([1, 2])}[band]
        urgent = band == "detractor" and rng.random() < 0.05
        verdict = classify_response(nps, ratings, urgent, settings)
        language = "en" if comment and comment.isascii() else "ru"
        answers = {"nps": nps, **{f"rating_{a}": s for a, s in ratings.items()}}
        would_return = nps >= 7 or rng.random() < 0.3
        answers["would_return"] = would_return
        if comment:
            answers["comment"] = comment
        response = Response(
            reference=f"VR-DEMO{i:04d}", submission_key=secrets.token_urlsafe(18), collection_point_id=point.id,
            questionnaire_version_id=version.id, branch_id=point.branch_id, doctor_id=point.doctor_id,
            submitted_at=submitted_at, language=language, answers=answers, nps=nps, would_return=would_return,
            comment=comment, min_rating=min(ratings.values()) if ratings else None, risk_level=verdict.level,
            risk_reasons=list(verdict.reasons), urgent=urgent,
            publish_consent=band == "promoter" and bool(comment) and rng.random() < 0.6,
            ratings=[ResponseRating(aspect=a, score=s) for a, s in sorted(ratings.items())])
        if response.publish_consent:
            response.publish_consent_at, response.publish_consent_version = submitted_at, CURRENT_PUBLISH_WORDING
        if urgent or (comment and rng.random() < 0.25):
            response.contact_name = rng.choice(PATIENT_NAMES)
            response.contact_phone = f"+7 9{rng.randint(10, 99)} {rng.randint(100, 999)}-{rng.randint(10, 99)}-" \
                                     f"{rng.randint(10, 99)}"
            response.consent_text_id, response.consent_at = consent.id, submitted_at
        if comment:
            scored = score_text(comment)
            response.sentiment_label, response.sentiment_polarity = scored.label, round(float(scored.polarity), 4)
            store_topics(response, tag_aspects(comment))
        if minutes > 24 * 60:
            response.seen_at = submitted_at + timedelta(hours=rng.randint(1, 20))
        point.scans += rng.randint(1, 3)
        point.completions += 1
        db.session.add(response)
        responses.append(response)
    db.session.flush()
    return responses


def _fitting(pool: list[tuple], clinic: _Clinic, point: CollectionPoint) -> list[tuple]:
    """The comments that could be left at this point: one that names a specialty ("кардиолог") only in that
    doctor's room, so a dermatologist's patients do not thank the cardiologist."""
    specialty = next((d.specialty.lower() for d in clinic.doctors if d.id == point.doctor_id), None)
    return [entry for entry in pool
            if all(named == specialty for named in map(str.lower, SPECIALTIES) if named in entry[0].lower())]


def _handle_cases(rng: random.Random, responses: list[Response], settings: ClinicSettings,
                  manager_id: int | None, now: datetime) -> None:
    """Cases as a clinic leaves them: older ones handled and resolved, this week's still open."""
    for response in responses:
        if response.risk_level not in ("at_risk", "critical"):
            continue
        case = open_case(response, settings, now=response.submitted_at)
        age = now - response.submitted_at
        if age < timedelta(days=1):
            continue  # new, nobody has looked yet
        start = response.submitted_at + timedelta(hours=rng.randint(1, 6))
        assign(case, manager_id, manager_id, now=start)
        set_status(case, "in_progress", manager_id, now=start)
        if age < timedelta(days=6) and rng.random() < 0.7:
            add_note(case, rng.choice(NOTES), manager_id, now=start + timedelta(minutes=10))
            continue  # in progress; some will be past their deadline
        if response.has_contact:
            log_contact(case, "reached", rng.choice(CONTACT_NOTES), manager_id, now=start + timedelta(hours=2))
        resolve_case(case, rng.choice(RESOLUTIONS), manager_id, now=start + timedelta(hours=rng.randint(3, 40)))
    db.session.flush()


def _publish_praise(responses: list[Response], manager_id: int | None) -> None:
    """The latest praise the patients allowed to publish, on the clinic's reviews widget."""
    praise = sorted((r for r in responses if r.publish_consent), key=lambda r: r.submitted_at, reverse=True)
    for response in praise[:6]:
        db.session.add(PublishedReview(response_id=response.id, published_by_user_id=manager_id,
                                       published_at=response.submitted_at + timedelta(days=1)))
    db.session.flush()


def _reviews(rng: random.Random, clinic: _Clinic, today: date) -> None:
    """Public reviews imported as CSV, as a manager does before the first scrape; the doctors' own go to them."""
    import csv
    import io

    from app.reputation.importer import parse_csv
    from app.reputation.service import import_reviews

    by_doctor: dict[int | None, list[tuple]] = {}
    for site, stars, text, doctor_index in REVIEWS:
        doctor_id = clinic.doctors[doctor_index].id if doctor_index is not None else None
        # One complaint and one praise from this week, so the journal has news; the rest over two years.
        fresh = {"Сорвали запись": 2, "Быстро записали": 4}
        published = today - timedelta(days=next((days for start, days in fresh.items() if text.startswith(start)),
                                                rng.randint(30, 700)))
        by_doctor.setdefault(doctor_id, []).append((published.isoformat(), stars, text, site))
    for doctor_id, rows in by_doctor.items():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["date", "rating", "text", "author", "site", "reply"])
        writer.writerows([published, stars, text, "", site, next((answer for start, answer in REPLIES.items()
                                                                  if text.startswith(start)), "")]
                         for published, stars, text, site in rows)
        import_reviews(parse_csv(out.getvalue(), today=today), origin="csv", doctor_id=doctor_id)
    db.session.flush()


def _visits(rng: random.Random, clinic: _Clinic, today: date) -> None:
    """Two years of visits as the clinic's CRM exports them, through the visit import. Commits."""
    from app.visits_import import create_import, run_import

    launched = today - timedelta(days=300)
    branch_names = {b.id: b.name for b in clinic.branches}
    lines = ["Пациент;Дата визита;Филиал;Врач;Услуга;Сумма;Пол;Год рождения;Район;Первичный;Начислено;Списано"]
    for number in range(1, PATIENTS + 1):
        doctor = rng.choice(clinic.doctors)
        child = doctor.specialty == "Педиатр"
        gender = rng.choice("МЖЖ")
        born = rng.randint(2010, 2022) if child else rng.randint(1945, 2004)
        district = rng.choice(DISTRICTS)
        day = today - timedelta(days=rng.randint(10, 730))
        first, balance = True, 0
        while day <= today:
            service, price = rng.choice(SPECIALTIES[doctor.specialty])
            member = day >= launched
            awarded = round(price * 0.05) if member else 0
            redeemed = min(balance, round(price * 0.1)) if member and rng.random() < 0.3 else 0
            balance += awarded - redeemed
            lines.append(";".join([f"P{number:05d}", day.strftime("%d.%m.%Y"), branch_names[doctor.branch_id],
                                   doctor.full_name, service, str(price - redeemed), gender, str(born), district,
                                   "да" if first else "нет", str(awarded), str(redeemed)]))
            first = False
            # Members of the cashback programme come back a little more often.
            if rng.random() < (0.14 if member else 0.2):
                break
            # A follow-up within weeks now and then (repeat visits), else months later.
            day += timedelta(days=rng.randint(5, 25) if rng.random() < 0.3 else rng.randint(30, 150))
            if rng.random() < 0.25:
                doctor = rng.choice([d for d in clinic.doctors if (d.specialty == "Педиатр") == child])
    visit_import = create_import("demo-crm-export.csv", "\n".join(lines).encode(), "utf-8", "demo")
    db.session.flush()
    run_import(visit_import, today, track_progress=False)


def _reputation_history(today: date) -> None:
    """The reputation index for each of the last 90 days, so its trend chart has a line."""
    from app.reputation.service import compute_snapshots

    for back in range(90, -1, -1):
        compute_snapshots(today - timedelta(days=back))
