"""One scan-all at a time per output folder and history file.

Two runs on the same folder would remove each other's unfinished tenant folders and overwrite
each other's history rows. The lock is an OS file lock (flock): the kernel releases it when the
process ends, however it ends, so a killed run never leaves a lock that blocks the next one.
Shards of one round (`--shard-index`) share the folder: each takes the folder's lock shared and
its own shard lock exclusive, so shards run side by side but a full run excludes them all.
The lock file holds who has it (pid, host, start, round), for the message to a second run.
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from m365apk.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: msvcrt has exclusive locks only, so shards also exclude each other
    fcntl = None  # type: ignore[assignment]
    import msvcrt


class LockedError(ConfigError):
    """Another scan-all holds the output folder or history: exit 2, naming who."""


def _try_lock(f: IO[str], shared: bool) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(f.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        else:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _describe(text: str) -> str | None:
    try:
        who = json.loads(text)
        return (
            f"pid {who['pid']} op {who['host']}, gestart {who['started']}, ronde {who['run_id']}"
            + (f", deel {who['shard']}" if who.get("shard") else "")
        )
    except (ValueError, KeyError, TypeError):
        return None


class ScanAllLock:
    """Context manager: the locks on an output folder and a history file."""

    def __init__(
        self, output: Path, history: Path, run_id: str, shard: tuple[int, int] | None = None
    ) -> None:
        self.resources = [(output, True), (history, False)]
        self.shard = shard
        self.holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_id": run_id,
            "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        }
        self._stack = ExitStack()

    @staticmethod
    def lock_file(resource: Path, folder: bool, shard: tuple[int, int] | None = None) -> Path:
        suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard else ""
        if folder:
            return resource / f".scan-all{suffix}.lock"
        return resource.with_name(f"{resource.name}{suffix}.lock")  # beside the file

    def __enter__(self) -> ScanAllLock:
        try:
            for resource, folder in self.resources:
                main = self.lock_file(resource, folder)
                if self.shard is None:
                    self._take(main, resource, shared=False)
                else:
                    self._take(main, resource, shared=True)
                    self._take(self.lock_file(resource, folder, self.shard), resource, False)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_: Any) -> None:
        self._stack.close()

    def _take(self, path: Path, resource: Path, shared: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = path.open("a+", encoding="utf-8")
        if not _try_lock(f, shared):
            f.seek(0)
            who = _describe(f.read()) or self._shard_holders(path)
            f.close()
            raise LockedError(
                f"{resource} is in gebruik door een andere scan-all ({who or 'houder onbekend'}); "
                "wacht tot die klaar is, of stop die eerst"
            )
        self._stack.callback(f.close)  # closing the file releases the lock
        # A shared holder clears the line: no exclusive holder can exist now, so what it
        # says is stale. An exclusive holder writes itself.
        f.seek(0)
        f.truncate()
        if not shared:
            f.write(json.dumps(self.holder))
        f.flush()

    @staticmethod
    def _shard_holders(main: Path) -> str | None:
        """Who holds the shard locks beside `main` (when shards keep it shared)."""
        stem = main.name[: -len(".lock")]
        found = []
        for other in sorted(main.parent.glob(f"{stem}.shard-*.lock")):
            with other.open("a+", encoding="utf-8") as f:
                if _try_lock(f, shared=False):
                    continue  # free: no one there
                f.seek(0)
                found.append(_describe(f.read()) or other.name)
        return "; ".join(found) or None
