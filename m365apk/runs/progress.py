"""Progress on stderr: a live line on a terminal, one line per finished endpoint otherwise."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from m365apk.snapshot import Dataset, DatasetStatus

_STATUS = {
    DatasetStatus.OK: "ok",
    DatasetStatus.FORBIDDEN: "geen toestemming",
    DatasetStatus.NOT_LICENSED: "licentie ontbreekt",
    DatasetStatus.NOT_FOUND: "niet gevonden",
    DatasetStatus.THROTTLED: "afgeknepen (429)",
    DatasetStatus.ERROR: "fout",
    DatasetStatus.MALFORMED: "onleesbaar antwoord",
    DatasetStatus.INCOMPLETE: "onvolledig",
    DatasetStatus.NOT_COLLECTED: "overgeslagen",
    DatasetStatus.NOT_AVAILABLE: "niet beschikbaar (preview)",
}


class ProgressDisplay:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = self.stream.isatty()
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        if not self.quiet:
            with self._lock:
                self._clear()
                print(text, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")

    def page(self, name: str, pages: int, objects: int) -> None:
        if self.quiet or not self.live:
            return
        with self._lock:
            self._clear()
            line = f"  {name}: {objects:,} objecten, {pages} pagina's …".replace(",", ".")
            self.stream.write(line)
            self.stream.flush()

    def dataset(self, name: str, ds: Dataset) -> None:
        size = ""
        if ds.ok and isinstance(ds.data, list | dict):
            n = len(ds.data)
            size = f" ({n:,} {'object' if n == 1 else 'objecten'})".replace(",", ".")
        extra = f" — {ds.error_code or ''} {ds.error_message or ''}".rstrip() if not ds.ok else ""
        self.say(f"  {name}: {_STATUS[ds.status]}{size}{extra}")
