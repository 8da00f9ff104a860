"""Screenshots of the weak and the good demo's board document (bestuursrapport) for the
README (docs/screenshots/).

    python scripts/screenshots.py

Runs the real demo (simulated Graph over loopback), then lets Debian's headless Chromium
photograph the first screen of each report at a desk (1100 px) and on a phone (390 px), and the
provider's overview from `m365apk demo --portfolio`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from m365apk.cli import main
from m365apk.reports.pdf import FLAGS, find_browser

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def shoot(html: Path, png: Path, size: str = "1100,1500") -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                find_browser(),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                f"--window-size={size}",
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
            board = (folder / "bestuursrapport.html").resolve()
            shoot(board, OUT / f"{profile}.png")
            shoot(board, OUT / f"{profile}-phone.png", "390,1400")
            print(OUT / f"{profile}.png", OUT / f"{profile}-phone.png")
        folder = Path(work) / "portfolio"
        if main(["demo", "--portfolio", "--out", str(folder)]) != 0:
            return 1
        shoot((folder / "uitvoer" / "overzicht.html").resolve(), OUT / "overview.png", "1100,800")
        print(OUT / "overview.png")
    return 0


if __name__ == "__main__":
    sys.exit(run())
