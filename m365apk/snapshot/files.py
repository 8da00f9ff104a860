"""Reading a file a person wrote (tenants file, tenant settings, exceptions, attestations):
every way it can be wrong becomes one line naming the file, never a traceback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from m365apk.errors import ConfigError


def read_text(path: Path, error: type[Exception] = ConfigError) -> str:
    """The file's text; `error` (one line, naming the file) when it cannot be read as UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: bestand niet gevonden") from None
    except IsADirectoryError:
        raise error(f"{path}: is een map, verwacht een bestand") from None
    except PermissionError:
        raise error(f"{path}: geen leesrechten") from None
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: geen UTF-8-tekst (ongeldige byte op positie {exc.start}); "
            "sla het bestand op als UTF-8"
        ) from None
    except OSError as exc:
        raise error(f"{path}: niet te lezen ({exc.strerror or exc})") from None


def read_yaml(path: Path, error: type[Exception] = ConfigError) -> Any:
    """The file's YAML; `error` with the line and column of a syntax error."""
    if path.is_dir():  # checked first: on some systems reading a directory is not an error
        raise error(f"{path}: is een map, verwacht een bestand")
    text = read_text(path, error)
    try:
        return yaml.safe_load(text)
    except RecursionError:  # e.g. thousands of nested brackets
        raise error(f"{path}: geen geldige YAML (te diep genest)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"regel {mark.line + 1}, kolom {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}: geen geldige YAML ({where}{problem})") from None


def first_error(exc: Any) -> str:
    """A pydantic ValidationError's first problem as `field.path: message`."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "bestand"
    return f"{where}: {first['msg']}"


def _temporary(path: Path, tag: str) -> str:
    """A hidden name beside `path` that keeps its extension (Chromium prints a staged
    report.html only when it is still called .html)."""
    return f".{path.stem}.{tag}.tmp{path.suffix}"


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to; renamed over `path` only when the block ends
    without an error, so a kill at any moment leaves the old file or the new one, never half of
    one (the rename is atomic within a folder)."""
    for stale in path.parent.glob(_temporary(path, "*")):  # left by a killed run
        stale.unlink(missing_ok=True)
    tmp = path.with_name(_temporary(path, str(os.getpid())))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(
    path: Path, text: str, encoding: str = "utf-8", newline: str | None = None
) -> Path:
    with atomic(path) as tmp:
        tmp.write_text(text, encoding=encoding, newline=newline)
    return path


@contextmanager
def replaced_together(
    paths: list[Path],
    staged: list[tuple[Path, Path]] = (),  # type: ignore[assignment]
) -> Iterator[list[Path]]:
    """Temporary names for a set of files that belong together (one report set, with the
    snapshot it came from as `staged`: already written (temporary, final) pairs). Every file is
    written first, then all are renamed in one go, so a kill while writing leaves the whole old
    set. Only the renames themselves (microseconds) are not one step. Temporary files a killed
    run left behind are removed first."""
    for path in paths:
        for stale in path.parent.glob(_temporary(path, "*")):
            stale.unlink(missing_ok=True)
    tmps = [p.with_name(_temporary(p, str(os.getpid()))) for p in paths]
    try:
        yield tmps
        for tmp, path in [*staged, *zip(tmps, paths, strict=True)]:
            os.replace(tmp, path)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


# Crash tests (tests/test_crash.py) name a point here; the process then dies at once, as under
# kill -9, to show that every file is left old or new. Unset in normal use: one dict lookup.
CRASH_ENV = "M365APK_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), 9)
