"""Translations: `python scripts/i18n.py update` refreshes the catalogues, `compile` builds them.

The Russian catalogue lives in app/translations/ru/LC_MESSAGES/messages.po.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "app" / "translations"


def pybabel(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], cwd=ROOT, check=True)


def update() -> None:
    """Extract messages from code and templates and merge them into every catalogue."""
    pot = ROOT / "instance" / "messages.pot"
    pot.parent.mkdir(exist_ok=True)
    # N_ marks messages stored in English (import errors) and translated where they are shown.
    pybabel("extract", "-F", "babel.cfg", "-k", "_l", "-k", "_lp:1c,2", "-k", "N_", "--no-location",
            "-o", str(pot), "app", "tenants", "jobs")
    pybabel("update", "-i", str(pot), "-d", str(TRANSLATIONS), "--no-fuzzy-matching", "--ignore-obsolete",
            "-w", "120")


def compile_catalogues() -> None:
    """Build the .mo files the app loads."""
    pybabel("compile", "-d", str(TRANSLATIONS), "--statistics")


if __name__ == "__main__":
    {"update": update, "compile": compile_catalogues}[sys.argv[1] if len(sys.argv) > 1 else "compile"]()
