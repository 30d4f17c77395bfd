"""Scraping throughput on loopback: generated review pages fetched through the polite fetcher.

Serves generated pages (JSON-LD and microdata reviews, most sources paginated) from an
in-process HTTP server on 127.0.0.1, then:

1. baseline: a bare ``httpx`` GET of every page, no extraction;
2. scrape: ``fetch_source`` for every source (robots.txt, conditional-GET bookkeeping,
   pagination, extraction), with the per-host delay set to 0 for the bench.

Prints pages/s and reviews/s of both runs and the scrape/baseline ratio. Bounded in page
count and wall time; never leaves the loopback interface.

    python bench/bench_scrape.py [--pages 1000] [--time-limit 120] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.reputation.fetcher import OK, PoliteFetcher, fetch_source  # noqa: E402

MAX_PAGES = 5000
PAGES_PER_SOURCE = 4
REVIEWS_PER_PAGE = 10
WORDS = (
    "врач внимательный приём клиника очередь запись анализы быстро вежливо рекомендую "
    "doctor friendly waiting room staff appointment helpful clean expensive great"
).split()


def _review_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 60))).capitalize() + "."


def _jsonld_page(rng: random.Random, source: int, page: int, next_path: str | None) -> bytes:
    reviews = [
        {
            "@type": "Review",
            "@id": f"s{source}-p{page}-r{index}",
            "author": {"@type": "Person", "name": f"Пациент {source}-{page}-{index}"},
            "datePublished": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "reviewRating": {"@type": "Rating", "ratingValue": rng.randint(1, 5), "bestRating": 5},
            "reviewBody": _review_text(rng),
        }
        for index in range(REVIEWS_PER_PAGE)
    ]
    data = {
        "@context": "https://schema.org",
        "@type": "MedicalClinic",
        "name": f"Клиника {source}",
        "aggregateRating": {"@type": "AggregateRating", "ratingValue": 4.2, "reviewCount": 40},
        "review": reviews,
    }
    link = f'<link rel="next" href="{next_path}">' if next_path else ""
    filler = "".join(f"<p class='info'>{_review_text(rng)}</p>" for _ in range(20))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Клиника {source}</title>{link}"
        f"<script type='application/ld+json'>{json.dumps(data, ensure_ascii=False)}</script></head>"
        f"<body><nav>{'<a href=/x>menu</a>' * 30}</nav><main>{filler}</main></body></html>"
    ).encode("utf-8")


def _microdata_page(rng: random.Random, source: int, page: int, next_path: str | None) -> bytes:
    items = "".join(
        f"""<div itemprop="review" itemscope itemtype="http://schema.org/Review" data-review-id="m{source}-{page}-{index}">
  <span itemprop="author">Гость {index}</span>
  <meta itemprop="datePublished" content="2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}">
  <div itemprop="reviewRating" itemscope itemtype="http://schema.org/Rating">
    <meta itemprop="ratingValue" content="{rng.randint(0, 100)}"><meta itemprop="bestRating" content="100"></div>
  <div itemprop="reviewBody">{_review_text(rng)}</div></div>"""
        for index in range(REVIEWS_PER_PAGE)
    )
    link = f'<a rel="next" href="{next_path}">дальше</a>' if next_path else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'></head><body>"
        f'<div itemscope itemtype="http://schema.org/Physician"><span itemprop="name">Врач {source}</span>'
        f"{items}</div>{link}</body></html>"
    ).encode("utf-8")


def build_site(total_pages: int, seed: int = 7) -> tuple[dict[str, bytes], list[str]]:
    """Generated pages by path, and the first page of every source."""
    rng = random.Random(seed)
    pages: dict[str, bytes] = {"/robots.txt": b"User-agent: *\nAllow: /\n"}
    sources: list[str] = []
    source = 0
    while len(pages) - 1 < total_pages:
        remaining = total_pages - (len(pages) - 1)
        count = min(PAGES_PER_SOURCE if source % 5 else 1, remaining)  # every fifth source has one page
        make = _microdata_page if source % 3 == 0 else _jsonld_page
        for page in range(count):
            path = f"/clinic/{source}/reviews" + (f"?page={page + 1}" if page else "")
            next_path = f"/clinic/{source}/reviews?page={page + 2}" if page + 1 < count else None
            pages[path] = make(rng, source, page, next_path)
        sources.append(f"/clinic/{source}/reviews")
        source += 1
    return pages, sources


def serve(pages: dict[str, bytes]) -> tuple[ThreadingHTTPServer, str]:
    """Start a loopback HTTP server for ``pages``; returns it and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; without this, Nagle plus delayed ACK
        # adds ~40 ms to every keep-alive response and the bench measures only that.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            body = pages.get(self.path)
            status = 200 if body is not None else 404
            body = body if body is not None else b"not found"
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def run_baseline(base: str, paths: list[str], deadline: float) -> dict:
    """Bare GETs of every page, no extraction."""
    started = time.perf_counter()
    fetched = 0
    with httpx.Client() as client:
        for path in paths:
            if time.perf_counter() > deadline:
                break
            client.get(base + path).raise_for_status()
            fetched += 1
    elapsed = time.perf_counter() - started
    return {"pages": fetched, "seconds": round(elapsed, 3), "pages_per_s": round(fetched / elapsed, 1)}


def run_scrape(base: str, sources: list[str], deadline: float) -> dict:
    """``fetch_source`` for every source through one polite fetcher with no delay."""
    started = time.perf_counter()
    pages = reviews = failures = 0
    with httpx.Client() as client:
        fetcher = PoliteFetcher(
            "https://vernost.test/bot", client=client, delay=0.0, allow_private=True, sleep=lambda s: None
        )
        for path in sources:
            if time.perf_counter() > deadline:
                break
            result = fetch_source(base + path, fetcher=fetcher, max_pages=PAGES_PER_SOURCE)
            pages += len(result.pages)
            reviews += len(result.reviews)
            failures += result.status != OK
    elapsed = time.perf_counter() - started
    return {
        "pages": pages,
        "reviews": reviews,
        "failures": failures,
        "seconds": round(elapsed, 3),
        "pages_per_s": round(pages / elapsed, 1),
        "reviews_per_s": round(reviews / elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000, help=f"pages to serve (at most {MAX_PAGES})")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per run before stopping early")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    total = max(1, min(args.pages, MAX_PAGES))

    pages, sources = build_site(total)
    page_paths = [path for path in pages if path != "/robots.txt"]
    server, base = serve(pages)
    try:
        baseline = run_baseline(base, page_paths, time.perf_counter() + args.time_limit)
        scrape = run_scrape(base, sources, time.perf_counter() + args.time_limit)
    finally:
        server.shutdown()
        server.server_close()

    ratio = round(scrape["pages_per_s"] / baseline["pages_per_s"], 3) if baseline["pages_per_s"] else None
    figures = {
        "pages_served": len(page_paths),
        "sources": len(sources),
        "mean_page_bytes": int(sum(len(pages[p]) for p in page_paths) / len(page_paths)),
        "baseline_bare_get": baseline,
        "scrape_fetch_and_extract": scrape,
        "scrape_to_baseline_pages_per_s": ratio,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"pages served: {figures['pages_served']} in {figures['sources']} sources "
              f"(mean {figures['mean_page_bytes']} bytes)")
        print(f"baseline (bare httpx GET): {baseline['pages']} pages in {baseline['seconds']} s "
              f"= {baseline['pages_per_s']} pages/s")
        print(f"scrape (fetch_source):     {scrape['pages']} pages, {scrape['reviews']} reviews in "
              f"{scrape['seconds']} s = {scrape['pages_per_s']} pages/s, {scrape['reviews_per_s']} reviews/s"
              f" ({scrape['failures']} failed sources)")
        print(f"scrape / baseline: {ratio}")
    return 0 if scrape["failures"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
