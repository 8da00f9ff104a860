"""Screenshots of the weak and the good demo report for the README (docs/screenshots/).

    python scripts/screenshots.py

Runs the real demo (simulated Graph over loopback), then lets Debian's headless Chromium
photograph the first screen of each report.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from m365apk.cli import main
from m365apk.reports.pdf import FLAGS, find_browser

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def shoot(html: Path, png: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                find_browser(),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                "--window-size=1100,1500",
                f"--screenshot={png}",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def run() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for profile in ("weak", "good"):
            folder = Path(work) / profile
            if main(["demo", "--profile", profile, "--out", str(folder), "--quiet"]) != 0:
                return 1
            shoot((folder / "report.html").resolve(), OUT / f"{profile}.png")
            print(OUT / f"{profile}.png")
    return 0


if __name__ == "__main__":
    sys.exit(run())
