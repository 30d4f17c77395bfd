"""HTML to PDF with headless Chromium (``--print-to-pdf``), when it is installed.

Chromium prints exactly what the printable report page shows, fonts and Cyrillic
included, so the PDF and the page never disagree. Without Chromium the caller
says so and offers the printable page instead.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class PdfRendererMissing(RuntimeError):
    """No headless Chromium on this machine, or it failed to print."""


def chromium_path() -> str | None:
    """The Chromium binary (``VERNOST_CHROMIUM`` or ``chromium`` on PATH), or None."""
    return os.environ.get("VERNOST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def html_to_pdf(html: str, timeout: int = 60) -> bytes:
    """Render a self-contained HTML document (inline CSS, no external URLs) to PDF bytes."""
    binary = chromium_path()
    if not binary:
        raise PdfRendererMissing("chromium not found")
    with tempfile.TemporaryDirectory(prefix="vernost-pdf-") as folder:
        source = Path(folder) / "report.html"
        target = Path(folder) / "report.pdf"
        source.write_text(html, encoding="utf-8")
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                   f"--user-data-dir={folder}/profile", "--no-pdf-header-footer",
                   f"--print-to-pdf={target}", source.as_uri()]
        try:
            subprocess.run(command, check=False, timeout=timeout, capture_output=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfRendererMissing(f"chromium failed: {exc.__class__.__name__}") from exc
        if not target.exists() or target.stat().st_size == 0:
            raise PdfRendererMissing("chromium produced no PDF")
        return target.read_bytes()
