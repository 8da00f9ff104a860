"""Reading a file a person wrote (tenants file, tenant settings, exceptions, attestations):
every way it can be wrong becomes one line naming the file, never a traceback."""

from __future__ import annotations

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
