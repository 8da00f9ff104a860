"""bestuursrapport.pdf and bijlage.pdf: the two HTML documents, printed by headless Chromium
(A4, page numbers).

Chromium is the browser the school will open the HTML in, so the PDF looks the same; page
numbers come from the print stylesheet (CSS @page margin boxes), bookmarks from the headings.
No network: the HTML is self-contained and Chromium starts with networking features off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from m365apk.errors import ConfigError
from m365apk.snapshot.files import atomic

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Quiet, offline, reproducible: no first-run, sync, background or component traffic.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)


def find_browser() -> str:
    # An explicit path first: a browser that is not on PATH (Playwright's download, which
    # scripts/test.sh may provision) or a particular build.
    explicit = os.environ.get("M365APK_CHROMIUM")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise ConfigError(f"M365APK_CHROMIUM wijst niet naar een programma: {explicit}")
        return explicit
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError(
        "voor de PDF is Chromium nodig (Debian/Ubuntu: apt-get install chromium); "
        "report.html is wel geschreven"
    )


def write_pdf(html_path: Path, pdf_path: Path, timeout: float = 120.0) -> Path:
    browser = find_browser()
    with (
        tempfile.TemporaryDirectory(prefix="m365apk-chromium-") as profile,
        atomic(pdf_path) as tmp,
    ):
        command = [
            browser,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            # Bookmarks from the headings, so the archive copy can be navigated (finding 10).
            "--generate-pdf-document-outline",
            f"--print-to-pdf={tmp.resolve()}",
            html_path.resolve().as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0 or not tmp.is_file():
            detail = (result.stderr or "").strip().splitlines()[-1:] or ["geen uitvoer"]
            raise ConfigError(f"PDF maken mislukt ({browser}): {detail[0]}")
    return pdf_path
