"""Web reputation in the workspace: the index, review sources, scrape runs, imports, the reviews list."""
from __future__ import annotations

import time
from functools import wraps

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from app.charts import time_chart
from app.extensions import db
from app.models import Branch, Doctor, PendingJob, ReviewSource, ScrapeRun
from app.parsing import whole_number
from app.reputation import clinic_model, service
from app.reputation.extract import SITE_LENGTH
from app.web import render
from app.workspace.base import bp, requires
from tenants.resolve import current_tenant, get_or_404

REVIEWS_PAGE = 50

# Stored codes of this module, as people read them.
TERMS = {
    "new": _l("not read yet"), "ok": _lp("source status", "ok"), "not_modified": _l("unchanged"),
    "blocked_by_robots": _l("blocked by robots.txt"), "blocked_address": _l("private address refused"),
    "http_error": _l("HTTP error"), "timeout": _l("timed out"), "connection_error": _l("connection failed"),
    "layout_changed": _l("page layout changed"), "too_large": _l("page too large"), "invalid_url": _l("invalid address"),
    "invalid_config": _l("invalid selector config"), "error": _l("error"),
    "several_businesses": _l("lists several clinics"),
    "queued": _l("queued"), "running": _l("running"), "done": _l("done"), "failed": _l("failed"),
    "negative": _lp("review sentiment", "negative"), "neutral": _lp("review sentiment", "neutral"),
    "positive": _lp("review sentiment", "positive"),
    "scrape": _l("scraped"), "csv": _l("CSV import"), "paste": _l("pasted"),
    "branch": _l("branch"), "doctor": _l("doctor"), "source": _l("source"), "clinic": _l("clinic"),
    "site": _l("site"),
}


@bp.app_template_filter("aspect_title")
def aspect_title(aspect: str) -> str:
    """An aspect's title in the reader's language."""
    return str(ASPECT_LABELS.get(aspect, aspect))


# The topics patients talk about (keys of app.nlp.topics.ASPECTS), as managers read them.
ASPECT_LABELS = {
    "doctor": _l("Doctor"), "nurses": _l("Nurses"), "reception": _l("Reception and administrators"),
    "waiting": _l("Waiting and queues"), "booking": _l("Booking and phone"), "prices": _l("Prices and billing"),
    "cleanliness": _l("Cleanliness and comfort"), "results": _l("Results and treatment"),
}


@bp.app_template_filter("rep_term")
def rep_term(code) -> str:
    """A reputation code (source status, run status, label, origin) in the reader's language."""
    return str(TERMS.get(code, code))


def licensed(view):
    """Without the reputation module: a page that says so (403 for writes), and nothing is fetched."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not service.reputation_licensed():
            status = 200 if request.method == "GET" else 403
            return render_template("workspace/reputation_unlicensed.html"), status
        return view(*args, **kwargs)

    return wrapper


def _choices():
    return (db.session.scalars(select(Branch).order_by(Branch.name)).all(),
            db.session.scalars(select(Doctor).order_by(Doctor.full_name)).all())


@bp.context_processor
def _reputation_card():
    # The dashboard includes workspace/_reputation_card.html; give it its data there and only there.
    if request.endpoint == "workspace.dashboard" and g.get("tenant") is not None:
        return {"reputation": service.dashboard_card()}
    return {}


@bp.get("/reputation")
@licensed
def reputation():
    today = service.clinic_today()
    window_key = request.args.get("aspects", service.DEFAULT_ASPECT_WINDOW)
    if window_key not in service.ASPECT_WINDOWS:
        window_key = service.DEFAULT_ASPECT_WINDOW
    window = service.ASPECT_WINDOWS[window_key]
    scopes = service.index_overview(today)
    clinic = scopes[0]
    points = service.trend("clinic", 0, 90, today)
    chart = time_chart(points, title=_("Reputation index, last 90 days"),
                       empty_text=_("The trend appears after the first scrape or import."))
    return render_template(
        "workspace/reputation.html", clinic=clinic, scopes=scopes[1:], chart=chart,
        aspects=service.aspect_table(since=today - window if window else None), aspect_window=window_key,
        reviews=service.review_list(limit=10)[0],
        run=service.latest_run(), sources=service.list_sources(),
        drivers=service.index_drivers(today=today),
        reputation=service.dashboard_card(today, overview=scopes), models=clinic_model.recent_models(),
        active_model=clinic_model.active_model_record())


@bp.get("/reputation/reviews")
@licensed
def reputation_reviews():
    show = request.args.get("show", "all")
    if show not in ("all", "negative", "unanswered", "contradiction"):
        show = "all"
    scope, scope_name = _reviews_scope()
    site = (request.args.get("site") or "").strip()[:SITE_LENGTH] or None
    after = service.ReviewCursor.parse(request.args.get("before"))
    entries, next_page = service.review_list(negative_only=show == "negative",
                                             contradictions_only=show == "contradiction",
                                             unanswered_only=show == "unanswered",
                                             limit=REVIEWS_PAGE, after=after, scope=scope, site=site)
    filters = ({"scope": scope[0], "id": scope[1]} if scope else {}) | ({"site": site} if site else {})
    # A branch's, doctor's, source's or site's own list says what moves its index; the whole
    # clinic's is on the overview. Later pages (htmx) need only the entries.
    drivers = (service.index_drivers(scope=scope, site=site)
               if (scope or site) and after is None and show == "all" else None)
    return render("workspace/reputation_reviews.html", "workspace/_review_entries.html", entries=entries, show=show,
                  next_before=next_page, paged=after is not None, filters=filters, scope_name=scope_name,
                  drivers=drivers)


# What a scope's reviews are listed under: its model and the name people know it by.
SCOPE_OBJECTS = {"branch": (Branch, lambda branch: branch.name),
                 "doctor": (Doctor, lambda doctor: doctor.full_name),
                 "source": (ReviewSource, lambda source: source.label or source.url)}


def _reviews_scope() -> tuple[tuple[str, int] | None, str | None]:
    """``?scope=doctor&id=7``: one of the clinic's branches, doctors or sources, or the whole clinic."""
    scope = request.args.get("scope")
    if scope not in SCOPE_OBJECTS:
        return None, None
    model, name_of = SCOPE_OBJECTS[scope]
    number = whole_number(request.args.get("id"))
    if number is None:
        abort(404)
    return (scope, number), name_of(get_or_404(model, number))


@bp.route("/reputation/sources", methods=["GET", "POST"])
@licensed
def reputation_sources():
    branches, doctors = _choices()
    errors, form = {}, {}
    if request.method == "POST":
        if not current_user.can("manage_sources"):
            abort(403)
        values, errors = service.validate_source_form(request.form)
        if not errors:
            source, _moved = service.save_source(values)
            db.session.commit()
            flash(_("Source added: %(site)s.", site=source.site or _("site not recognised, the schema.org reader will be tried")))
            return redirect(url_for("workspace.reputation_sources"))
        form = request.form
    return render_template("workspace/reputation_sources.html", sources=service.list_sources(),
                           counts=service.source_review_counts(), branches=branches, doctors=doctors,
                           errors=errors, form=form), (400 if errors else 200)


@bp.route("/reputation/sources/<int:source_id>", methods=["GET", "POST"])
@licensed
def reputation_source_edit(source_id: int):
    source = get_or_404(ReviewSource, source_id)
    branches, doctors = _choices()
    if request.method == "POST":
        if not current_user.can("manage_sources"):
            abort(403)
        values, errors = service.validate_source_form(request.form, source=source)
        if errors:
            return render_template("workspace/reputation_source_edit.html", source=source, branches=branches,
                                   doctors=doctors, errors=errors, form=request.form), 400
        source, moved = service.save_source(values, source)
        db.session.commit()
        if moved:
            flash(ngettext("Source saved; the %(num)d review already read from it now counts for the branch and doctor chosen.",
                           "Source saved; the %(num)d reviews already read from it now count for the branch and doctor chosen.",
                           moved))
        else:
            flash(_("Source saved."))
        return redirect(url_for("workspace.reputation_sources"))
    return render_template("workspace/reputation_source_edit.html", source=source, branches=branches,
                           doctors=doctors, errors={}, form=None)


@bp.post("/reputation/sources/<int:source_id>/delete")
@licensed
@requires("manage_sources")
def reputation_source_delete(source_id: int):
    source = get_or_404(ReviewSource, source_id)
    # Its reviews stay (they are part of the clinic's history); they just lose the link.
    db.session.delete(source)
    db.session.commit()
    flash(_("Source removed; its reviews are kept."))
    return redirect(url_for("workspace.reputation_sources"))


@bp.post("/reputation/scrape")
@licensed
@requires("manage_sources")
def reputation_scrape():
    from jobs.outbox import flush_outbox

    run = service.start_scrape_run("manual")
    db.session.commit()
    # Committed first, then handed to Redis; if Redis is down the outbox sweep enqueues it later.
    flush_outbox([run.job_id])
    return redirect(url_for("workspace.reputation_run", run_id=run.id))


@bp.post("/reputation/model/train")
@licensed
@requires("manage_sources")
def reputation_model_train():
    from jobs.outbox import defer, flush_outbox
    from jobs.queues import make_job_id

    try:
        clinic_model.check_trainable(clinic_model.labelled_reviews()[1])
    except clinic_model.ClinicModelError as exc:
        flash(str(exc), "error")
        return redirect(url_for("workspace.reputation"))
    # One training per clinic and minute: a double click does not train twice.
    job_id = make_job_id(current_tenant().id, "sentiment-train", int(time.time() // 60))
    if db.session.scalar(select(PendingJob.id).where(PendingJob.job_id == job_id)) is not None:
        flash(_("Training is already under way."))
        return redirect(url_for("workspace.reputation"))
    defer("scrape", "jobs.sentiment.train_clinic_sentiment", current_user.user.email, job_id=job_id)
    db.session.commit()
    flush_outbox([job_id])
    flash(_("Training started: it takes a minute or so. Reload this page to see the result."))
    return redirect(url_for("workspace.reputation"))


@bp.post("/reputation/model/use-default")
@licensed
@requires("manage_sources")
def reputation_model_use_default():
    from jobs.outbox import defer, flush_outbox
    from jobs.queues import make_job_id

    if clinic_model.use_default():
        job_id = make_job_id(current_tenant().id, "sentiment-rescore", int(time.time()))
        defer("scrape", "jobs.sentiment.rescore_clinic_texts", job_id=job_id)
        db.session.commit()
        flush_outbox([job_id])
    flash(_("The standard analyser scores reviews and comments again."))
    return redirect(url_for("workspace.reputation"))


def _run_version(run: ScrapeRun) -> str:
    return f"{run.status}-{run.sources_done}-{run.reviews_new}"


@bp.get("/reputation/runs/<int:run_id>")
@licensed
def reputation_run(run_id: int):
    run = get_or_404(ScrapeRun, run_id)
    version = _run_version(run)
    if request.headers.get("HX-Request") == "true" and request.args.get("v") == version:
        return "", 204  # nothing changed: htmx keeps the fragment and polls again
    sources = service.list_sources() if run.finished else []
    return render("workspace/reputation_run.html", "workspace/_reputation_run.html", run=run, version=version,
                  sources=sources)


@bp.route("/reputation/import", methods=["GET", "POST"])
@licensed
def reputation_import():
    from app.reputation.importer import parse_csv, parse_pasted

    branches, doctors = _choices()
    context = {"branches": branches, "doctors": doctors, "report": None, "pasted": "", "form": {}}
    if request.method == "GET":
        return render_template("workspace/reputation_import.html", **context)
    if not current_user.can("import_data"):
        abort(403)
    errors = {}
    branch_id = service.own_object_id(Branch, request.form.get("branch_id"), errors, "branch_id",
                                _("choose a branch of this clinic"))
    doctor_id = service.own_object_id(Doctor, request.form.get("doctor_id"), errors, "doctor_id",
                                _("choose a doctor of this clinic"))
    upload = request.files.get("file")
    pasted = request.form.get("pasted") or ""
    context.update(pasted=pasted, form=request.form, errors=errors)
    if upload is not None and upload.filename:
        data = upload.read()
        report, origin = parse_csv(data, today=service.clinic_today()), "csv"
    elif pasted.strip():
        report, origin = parse_pasted(pasted, today=service.clinic_today()), "paste"
    else:
        errors["form"] = _("Choose a CSV file or paste reviews.")
        return render_template("workspace/reputation_import.html", **context), 400
    context["report"] = report
    if errors or report.errors:
        return render_template("workspace/reputation_import.html", **context), 400
    new, duplicates = service.import_reviews(report, origin=origin, branch_id=branch_id, doctor_id=doctor_id)
    service.compute_snapshots()
    db.session.commit()
    service.send_review_events()
    flash(ngettext("Imported %(num)s review (%(dup)s already known).", "Imported %(num)s reviews (%(dup)s already known).",
                   new, dup=duplicates))
    return redirect(url_for("workspace.reputation"))
