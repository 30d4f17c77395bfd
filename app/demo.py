"""Demo content for trying Vernost locally: branches, doctors, QR points and a few weeks of feedback."""
from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import select

from app.collection import create_point
from app.extensions import db
from app.models import Branch, CollectionPoint, Doctor, Response, ResponseRating, utcnow
from app.questionnaires import published_version
from app.risk import classify_response
from tenants.settings import clinic_settings, update_settings

COMMENTS = [
    ("Врач внимательно выслушал, всё объяснил. Спасибо!", 10),
    ("Долго ждали в очереди, почти час после назначенного времени.", 4),
    ("Чисто, уютно, администраторы вежливые.", 9),
    ("Цены не совпали с тем, что сказали по телефону.", 3),
    ("Медсестра очень аккуратно взяла кровь, совсем не больно.", 10),
    ("Не дозвониться в регистратуру, записалась только со второго дня.", 5),
    ("Great doctor, clear explanations, will come back.", 9),
    ("", 8),
    ("Всё хорошо, но парковки нет.", 7),
    ("Грубый администратор на ресепшене.", 2),
]


def seed_demo_content(tenant) -> None:
    """Branches, doctors, points and ~120 responses over the last 60 days for the demo clinic."""
    rng = random.Random(7)
    update_settings(tenant, review_links=[{"name": "ПроДокторов", "url": "https://prodoctorov.ru/"},
                                          {"name": "Яндекс Карты", "url": "https://yandex.ru/maps/"}])
    center = Branch(name="Центральный филиал", address="ул. Ленина, 1")
    north = Branch(name="Северный филиал", address="пр. Мира, 42")
    db.session.add_all([center, north])
    db.session.flush()
    doctors = [Doctor(full_name="Иванова Ольга Петровна", specialty="Терапевт", branch_id=center.id),
               Doctor(full_name="Смирнов Андрей Викторович", specialty="Кардиолог", branch_id=center.id),
               Doctor(full_name="Кузнецова Мария Игоревна", specialty="Педиатр", branch_id=north.id)]
    db.session.add_all(doctors)
    db.session.flush()
    clinic_point = db.session.scalar(select(CollectionPoint).order_by(CollectionPoint.id))
    points = [clinic_point] + [create_point(name=f"Кабинет: {d.full_name.split()[0]}", kind="doctor",
                                            questionnaire_id=clinic_point.questionnaire_id, doctor_id=d.id)
                               for d in doctors]
    version = published_version(clinic_point.questionnaire_id)
    settings = clinic_settings(tenant)
    now = utcnow()
    for i in range(120):
        point = rng.choice(points)
        comment, nps = rng.choice(COMMENTS)
        nps = max(0, min(10, nps + rng.choice([-1, 0, 0, 1])))
        ratings = {a: max(1, min(5, round(nps / 2) + rng.choice([-1, 0, 0, 1])))
                   for a in ("doctor", "nurses", "reception", "waiting", "cleanliness", "prices") if rng.random() < 0.8}
        verdict = classify_response(nps, ratings, False, settings)
        answers = {"nps": nps, **{f"rating_{a}": s for a, s in ratings.items()}}
        if comment:
            answers["comment"] = comment
        response = Response(
            reference=f"VR-DEMO{i:03d}", submission_key=secrets.token_urlsafe(18), collection_point_id=point.id,
            questionnaire_version_id=version.id, branch_id=point.branch_id, doctor_id=point.doctor_id,
            submitted_at=now - timedelta(minutes=rng.randint(30, 60 * 24 * 60)), language="ru", answers=answers,
            nps=nps, comment=comment, min_rating=min(ratings.values()) if ratings else None,
            risk_level=verdict.level, risk_reasons=list(verdict.reasons),
            ratings=[ResponseRating(aspect=a, score=s) for a, s in ratings.items()])
        db.session.add(response)
        point.scans += rng.randint(1, 3)
        point.completions += 1
    db.session.flush()
