"""Names that become paths, checked in one place.

A run id (`scan-all --run-id`) and a tenant's folder name become folders under the output
folder, and a run's folder is removed and replaced when the run is resumed. So a name must be
one plain path segment: never "." or "..", no separator, no NUL or control character, not
absolute, and nothing may be removed outside the run's own folder (issue 26 finding 1: `--run-id
..` once deleted the whole output folder, history.sqlite included).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from m365apk.errors import ConfigError

# One segment: starts with a letter or digit, then letters, digits, dot, dash, underscore.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Suffixes the tool itself gives to folders it is still writing.
RESERVED_SUFFIXES = (".onvolledig", ".nieuw", ".oud")


def path_segment(value: str, what: str) -> str:
    """`value` as one safe folder or file name, or a ConfigError saying what is wrong with it."""
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value) or value.endswith("."):
        shown = repr(value)[:60]
        raise ConfigError(
            f"{what} {shown} is geen geldige naam: gebruik letters, cijfers, punt, streepje of "
            "liggend streepje (hoogstens 100 tekens, geen '..', '/' of spaties)"
        )
    if value.endswith(RESERVED_SUFFIXES):
        raise ConfigError(f"{what} {value!r} eindigt op een naam die m365apk zelf gebruikt")
    return value


def within(base: Path, path: Path) -> Path:
    """`path`, after making sure it lies inside `base` (both resolved): a guard before anything
    is removed or replaced."""
    root = base.resolve()
    target = path.resolve()
    if target == root or root not in target.parents:
        raise ConfigError(f"{path} ligt niet binnen {base}; m365apk verwijdert daar niets")
    return path


def out_folder(path: Path, what: str = "--out") -> Path:
    """The folder a command writes to, made if needed, checked before any work starts (a scan
    of an hour must not fail at its last step because --out names a file)."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is een bestand; geef een map")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: map niet te maken ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: geen schrijfrechten in deze map")
    return path
