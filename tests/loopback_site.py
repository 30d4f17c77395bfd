"""A real HTTP server on 127.0.0.1 (random port) with a routing table the test fills.

Shared by the fetcher's and the scraping jobs' tests; nothing here leaves loopback.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    pause: float = 0.0


Route = Reply | list | Callable[["Handler"], Reply]


class Handler(BaseHTTPRequestHandler):
    """Answers GET and POST from the site's routes: a Reply, a list consumed in order (the last repeats), or a function."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stall per keep-alive response

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._answer()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(length))

    def _answer(self, body: bytes | None = None):
        site: LoopbackSite = self.server.site  # type: ignore[attr-defined]
        with site.lock:
            site.hits[self.path] = site.hits.get(self.path, 0) + 1
            site.requests.append((self.path, dict(self.headers)))
            if body is not None:
                site.posts.append((self.path, dict(self.headers), body))
            site.in_flight += 1
            site.max_in_flight = max(site.max_in_flight, site.in_flight)
        try:
            route = site.routes.get(self.path)
            if route is None:
                reply = Reply(404, b"not found")
            elif isinstance(route, list):
                reply = route.pop(0) if len(route) > 1 else route[0]
            elif callable(route):
                reply = route(self)
            else:
                reply = route
            if reply.pause:
                time.sleep(reply.pause)
            self.send_response(reply.status)
            headers = {"Content-Type": "text/html; charset=utf-8", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with site.lock:
                site.in_flight -= 1


class LoopbackSite:
    """Use as a context manager: the server runs inside the with-block."""

    def __init__(self, routes: dict[str, Route] | None = None):
        self.routes: dict[str, Route] = dict(routes or {})
        self.hits: dict[str, int] = {}
        self.requests: list = []
        self.posts: list[tuple[str, dict, bytes]] = []  # (path, headers, body) of each POST
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.site = self  # type: ignore[attr-defined]
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def headers_of(self, path: str) -> list[dict]:
        return [headers for seen_path, headers in self.requests if seen_path == path]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
