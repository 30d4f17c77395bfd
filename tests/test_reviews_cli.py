"""``flask reviews extract``: works on a saved file or a loopback URL, with no database."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask

from app.reputation.cli import reviews_cli
from tests.conftest import REVIEW_PAGES, needs_review_pages


PAGE = (
    "<html><head><script type='application/ld+json'>"
    + json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "Dentist",
            "aggregateRating": {"@type": "AggregateRating", "ratingValue": "4", "reviewCount": "2"},
            "review": [
                {"@type": "Review", "author": "Мария", "datePublished": "2024-05-01", "reviewRating": {"ratingValue": 5},
                 "reviewBody": "Лучший стоматолог"},
                {"@type": "Review", "author": "Пётр", "datePublished": "2024-04-11", "reviewRating": {"ratingValue": 3},
                 "reviewBody": "Дорого"},
            ],
        },
        ensure_ascii=False,
    )
    + "</script></head><body></body></html>"
).encode("utf-8")


@pytest.fixture
def runner():
    app = Flask(__name__)  # a bare app: the command must not need the database
    app.cli.add_command(reviews_cli)
    return app.test_cli_runner()


@pytest.fixture
def loopback():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/reviews":
                status, body = 200, PAGE
            else:
                status, body = 404, b""
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_extract_file_as_json(runner, tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    result = runner.invoke(args=["reviews", "extract", str(page), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["aggregate"] == {"rating": 4.0, "count": 2}
    assert [(r["author"], r["date"], r["rating"], r["text"]) for r in data["reviews"]] == [
        ("Мария", "2024-05-01", 5.0, "Лучший стоматолог"),
        ("Пётр", "2024-04-11", 3.0, "Дорого"),
    ]
    assert {"site", "reviews", "aggregate"} <= set(data)


def test_extract_file_summary(runner, tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    result = runner.invoke(args=["reviews", "extract", str(page)])
    assert result.exit_code == 0, result.output
    assert "reviews: 2" in result.output and "Мария: Лучший стоматолог" in result.output


@needs_review_pages
def test_extract_saved_prodoctorov_page(runner):
    path = REVIEW_PAGES / "prodoctorov" / "vidnoe-tsukanova-reviews.html"
    result = runner.invoke(args=["reviews", "extract", str(path), "--json", "--today", "2026-07-20"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["site"] == "prodoctorov" and data["encoding"] == "cp1251"
    assert len(data["reviews"]) == 72 and data["aggregate"] == {"rating": 5.0, "count": 72}
    assert data["reviews"][0]["date"] == "2026-04-07"


@needs_review_pages
def test_extract_with_forced_site_and_selectors_file(runner, tmp_path):
    config = tmp_path / "selectors.json"
    config.write_text(json.dumps({"review": "[itemprop=review]", "text": "[itemprop=reviewBody]"}))
    path = REVIEW_PAGES / "ratemds" / "dentist-pada-kelowna-bc.html"
    result = runner.invoke(args=["reviews", "extract", str(path), "--json", "--selectors", str(config)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["reviews"]) == 10


def test_invalid_selectors_file_is_a_clear_error(runner, tmp_path):
    config = tmp_path / "selectors.json"
    config.write_text(json.dumps({"reviw": ".r"}))
    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    result = runner.invoke(args=["reviews", "extract", str(page), "--selectors", str(config)])
    assert result.exit_code != 0
    assert "unknown key 'reviw' (did you mean 'review'?)" in result.output


def test_layout_changed_file_exits_nonzero(runner, tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(b"<html><body><p>redesigned</p></body></html>")
    result = runner.invoke(args=["reviews", "extract", str(page), "--site", "zoon"])
    assert result.exit_code == 1
    assert "layout_changed" in result.output


def test_missing_file(runner, tmp_path):
    result = runner.invoke(args=["reviews", "extract", str(tmp_path / "nope.html")])
    assert result.exit_code != 0 and "no such file" in result.output


def test_extract_url_goes_through_the_fetcher(runner, loopback):
    result = runner.invoke(
        args=["reviews", "extract", loopback + "/reviews", "--json", "--contact-url", "https://vernost.test/bot",
              "--allow-private", "--delay", "0"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "ok" and len(data["reviews"]) == 2
    assert data["aggregate"] == {"rating": 4.0, "count": 2}


def test_extract_url_failure_exits_nonzero(runner, loopback):
    result = runner.invoke(
        args=["reviews", "extract", loopback + "/missing", "--contact-url", "https://vernost.test/bot",
              "--allow-private", "--delay", "0"]
    )
    assert result.exit_code == 1 and "http_error" in result.output


def test_extract_url_needs_a_contact_url(runner, loopback, monkeypatch):
    monkeypatch.delenv("VERNOST_BOT_CONTACT_URL", raising=False)
    result = runner.invoke(args=["reviews", "extract", loopback + "/reviews", "--allow-private"])
    assert result.exit_code != 0 and "--contact-url" in result.output
