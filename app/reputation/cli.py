"""``flask reviews ...``: extract reviews from a saved page or a URL (no database); train a clinic's sentiment model."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.reputation.extract import ExtractedPage, LayoutChanged, SelectorConfigError, extract_page, validate_selector_config

reviews_cli = AppGroup("reviews", help="Review pages of public review sites: extraction and fetching.")

CONTACT_URL_ENV = "VERNOST_BOT_CONTACT_URL"
CONTACT_URL_SETTING = "REPUTATION_BOT_CONTACT_URL"


def _contact_url(option: str | None) -> str | None:
    """The contact URL for the bot's User-Agent: the option, the environment, then app config."""
    if option:
        return option
    if os.environ.get(CONTACT_URL_ENV):
        return os.environ[CONTACT_URL_ENV]
    try:
        return current_app.config.get(CONTACT_URL_SETTING)
    except RuntimeError:  # no application context
        return None


def _print_json(data: dict) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _print_summary(data: dict) -> None:
    aggregate = data.get("aggregate") or {}
    header = f"site: {data.get('site') or 'unknown'}"
    if data.get("encoding"):
        header += f", encoding {data['encoding']}"
    if data.get("status"):
        header += f", status {data['status']}"
    click.echo(header)
    click.echo(f"aggregate: rating {aggregate.get('rating')}, count {aggregate.get('count')}")
    if data.get("category_aggregate"):
        category = data["category_aggregate"]
        click.echo(f"category aggregate (whole category, not one clinic): {category['rating']} ({category['count']})")
    click.echo(f"reviews: {len(data.get('reviews', []))}")
    for review in data.get("reviews", []):
        rating = "-" if review.get("rating") is None else f"{review['rating']:.2f}"
        text = review.get("text", "")
        text = text if len(text) <= 100 else text[:99] + "…"
        click.echo(f"  {review.get('date') or '????-??-??'}  {rating}  {review.get('author') or '?'}: {text}")
        if review.get("reply"):
            click.echo(f"      reply: {review['reply'][:100]}")
    if data.get("next_page_url"):
        click.echo(f"next page: {data['next_page_url']}")
    for warning in data.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)


def _print(data: dict, as_json: bool) -> None:
    if as_json:
        _print_json(data)
    else:
        _print_summary(data)


def _load_selectors(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
        validate_selector_config(config)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--selectors") from exc
    return config


@reviews_cli.command("extract")
@click.argument("file_or_url")
@click.option("--site", help="Site adapter to use (prodoctorov, zoon, ratemds, yelp, trustpilot, google_maps, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--url", "page_url", help="For a saved file: the address it was saved from.")
@click.option("--selectors", "selectors_path", type=click.Path(dir_okay=False), help="JSON selector config file.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Reference date for relative dates.")
@click.option("--max-pages", default=5, show_default=True, help="For a URL: pages to follow.")
@click.option("--delay", default=1.0, show_default=True, help="For a URL: seconds between requests to the host.")
@click.option("--contact-url", help=f"For a URL: contact address in the User-Agent (or ${CONTACT_URL_ENV}).")
@click.option("--allow-private", is_flag=True, help="For a URL: allow local/private addresses (testing).")
def extract_command(
    file_or_url: str,
    site: str | None,
    as_json: bool,
    page_url: str | None,
    selectors_path: str | None,
    today,
    max_pages: int,
    delay: float,
    contact_url: str | None,
    allow_private: bool,
) -> None:
    """Extract reviews from FILE_OR_URL (a saved page, or a URL fetched politely) and print them."""
    selector_config = _load_selectors(selectors_path)
    reference: date | None = today.date() if today else None

    if file_or_url.startswith(("http://", "https://")):
        from app.reputation.fetcher import fetch_source

        contact = _contact_url(contact_url)
        if not contact:
            raise click.UsageError(f"fetching needs --contact-url or ${CONTACT_URL_ENV} for the User-Agent")
        result = fetch_source(
            file_or_url,
            max_pages=max_pages,
            delay=delay,
            contact_url=contact,
            site=site,
            selector_config=selector_config,
            today=reference,
            allow_private=allow_private,
        )
        _print(result.to_json_dict(), as_json)
        if not result.ok:
            click.echo(f"error: {result.status}: {result.reason}", err=True)
            sys.exit(1)
        return

    path = Path(file_or_url)
    if not path.is_file():
        raise click.BadParameter(f"no such file: {file_or_url}", param_hint="FILE_OR_URL")
    try:
        page: ExtractedPage = extract_page(
            path.read_bytes(), url=page_url, site=site, today=reference, selector_config=selector_config
        )
    except LayoutChanged as exc:
        click.echo(f"error: layout_changed: {exc}", err=True)
        sys.exit(1)
    except SelectorConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--selectors") from exc
    _print(page.to_json_dict(), as_json)


@reviews_cli.command("train-sentiment")
@click.option("--tenant", "slug", required=True, help="The clinic's slug.")
def train_sentiment(slug: str) -> None:
    """Train the clinic's own sentiment model on its star-rated reviews and print how it compares."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Tenant
    from app.reputation.clinic_model import ClinicModelError, train_clinic_model
    from tenants.context import platform_scope, tenant_scope

    with platform_scope():
        tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise click.ClickException(f"no clinic with slug {slug!r}")
    with tenant_scope(tenant_id):
        try:
            record = train_clinic_model("command line")
        except ClinicModelError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        click.echo(f"trained on {record.trained_on} rated reviews {record.label_counts}")
        click.echo(f"held-out macro-F1 over {record.folds} folds: clinic model {record.macro_f1:.3f}, "
                   f"standard analyser {record.default_macro_f1:.3f}")
        click.echo("in use: the clinic's model" if record.active else "in use: the standard analyser (not better)")
        if record.active:
            from jobs.sentiment import rescore_texts

            # As the workspace's job does: stored texts are judged again by the model now in use.
            counts = rescore_texts(tenant_id)
            click.echo(f"re-scored {counts}")
