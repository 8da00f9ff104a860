"""Load the mapping data: basismaatregelen, Normenkader norms, and provider overlays.

The data lives in YAML next to this module. Validation happens at load, so a typo in a norm
id fails loudly with the file and entry named, instead of silently dropping evidence.

Overlays let a provider add another framework (BIO, CIS, its own) or override which
basismaatregelen and norms a check counts for. An overlay file looks like:

    framework: {id: BIO, name: "Baseline Informatiebeveiliging Overheid", source: "https://..."}
    controls:
      - {id: "5.17.01", title: "MFA voor beheerders", source: "https://..."}
    checks:
      mfa.registration_coverage: ["5.17.01"]
    overrides:               # optional: replace a check's own links
      admin.global_admin_count: {basismaatregelen: [4], norms: [ID.01]}

Overlays come from explicit paths (`--mappings FILE`) and from installed packages through the
entry-point group `m365apk.mappings`, whose entry points resolve to a callable returning the
path of such a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from importlib.metadata import entry_points as installed_entry_points
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENTRY_POINT_GROUP = "m365apk.mappings"
DATA_FILES = ("basismaatregelen.yaml", "normenkader.yaml", "scoring.yaml")


class MappingError(ValueError):
    """A mapping file is wrong; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NormLink(_Strict):
    id: str
    basis: Literal["kennisnet", "inferred"]


class Norm(_Strict):
    id: str
    title: str | None
    domain: int
    domain_name: str = ""
    status: Literal[
        "verified-primary",
        "verified-secondary",
        "verified-2023-secondary",
        "exists-title-unknown",
        "inferred",
    ]
    source: str | None = None
    source_note: str | None = None
    scannable: str = "unknown"
    maturity_levels: dict[int, str] = Field(default_factory=dict)

    @property
    def official(self) -> bool:
        """Id and title were read from Kennisnet or a source citing it: show as such."""
        return self.status.startswith("verified")


class Basismaatregel(_Strict):
    id: int
    title: str
    description: str
    sources: list[str]
    norms: list[NormLink]


class Control(_Strict):
    framework: str
    id: str
    title: str | None = None
    source: str | None = None


class Mappings(BaseModel):
    version: str
    basismaatregelen: dict[int, Basismaatregel]
    norms: dict[str, Norm]
    frameworks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    controls: dict[str, list[Control]] = Field(default_factory=dict)  # check id -> controls
    overrides: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    maturity_levels: dict[int, str] = Field(default_factory=dict)

    def basismaatregelen_for(self, check: Any) -> list[int]:
        links = self.overrides.get(check.id, {}).get("basismaatregelen")
        return sorted(links if links is not None else check.basismaatregelen)

    def norms_for(self, check: Any) -> list[tuple[Norm, str]]:
        """The check's norms with the basis of the link: `kennisnet` only when Kennisnet's own
        list for one of its basismaatregelen names the norm, else `inferred` (ours)."""
        ids = self.overrides.get(check.id, {}).get("norms")
        ids = ids if ids is not None else check.norms
        official = {
            link.id
            for bm in self.basismaatregelen_for(check)
            for link in self.basismaatregelen[bm].norms
            if link.basis == "kennisnet"
        }
        return [
            (self.norms[n], "kennisnet" if n in official else "inferred") for n in sorted(set(ids))
        ]

    def validate_manual(self, items: Iterable[Any]) -> None:
        for item in items:
            for bm in item.basismaatregelen:
                if bm not in self.basismaatregelen:
                    raise MappingError(f"manual.yaml: {item.id}: onbekende basismaatregel {bm}")
            for norm in item.norms:
                if norm not in self.norms:
                    raise MappingError(f"manual.yaml: {item.id}: onbekende norm {norm!r}")

    def validate_checks(self, checks: Iterable[Any]) -> None:
        for check in checks:
            where = f"check {check.id}"
            bms = self.basismaatregelen_for(check)
            if not bms:
                raise MappingError(f"{where}: hoort bij geen enkele basismaatregel")
            for bm in bms:
                if bm not in self.basismaatregelen:
                    raise MappingError(f"{where}: onbekende basismaatregel {bm}")
            ids = self.overrides.get(check.id, {}).get("norms", check.norms)
            for norm in ids:
                if norm not in self.norms:
                    raise MappingError(f"{where}: onbekende norm {norm!r}")


def _read(path: Path | Any, name: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"{name}: geen geldige YAML ({exc})") from None


def _entries(items: list[Any], model: type[BaseModel], file: str, key: str) -> list[Any]:
    out, seen = [], set()
    for i, raw in enumerate(items or []):
        label = raw.get("id", f"#{i + 1}") if isinstance(raw, dict) else f"#{i + 1}"
        try:
            entry = model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise MappingError(f"{file}: {key} {label}: {loc}: {first['msg']}") from None
        if entry.id in seen:  # type: ignore[attr-defined]
            raise MappingError(f"{file}: {key} {label}: dubbel id")
        seen.add(entry.id)  # type: ignore[attr-defined]
        out.append(entry)
    return out


def _builtin() -> tuple[dict[int, Basismaatregel], dict[str, Norm], dict[int, str], str]:
    folder = resources.files("m365apk.mappings")
    digest = hashlib.sha256()
    for name in DATA_FILES:
        digest.update((folder / name).read_bytes())
    kader = _read(folder / "normenkader.yaml", "normenkader.yaml")
    domains = kader.get("domains") or {}
    levels = (kader.get("meta") or {}).get("maturity_levels") or {}
    raw_norms = [
        {**n, "domain_name": domains.get(n.get("domain"), ""), "maturity_levels": levels}
        for n in kader.get("norms") or []
    ]
    norms = {n.id: n for n in _entries(raw_norms, Norm, "normenkader.yaml", "norm")}
    measures = _read(folder / "basismaatregelen.yaml", "basismaatregelen.yaml")
    bms = _entries(measures.get("basismaatregelen"), Basismaatregel, "basismaatregelen.yaml", "bm")
    for bm in bms:
        for link in bm.norms:
            if link.id not in norms:
                raise MappingError(
                    f"basismaatregelen.yaml: basismaatregel {bm.id}: onbekende norm {link.id!r}"
                )
    if sorted(b.id for b in bms) != list(range(1, 12)):
        raise MappingError("basismaatregelen.yaml: verwacht precies de basismaatregelen 1 t/m 11")
    return {b.id: b for b in bms}, norms, levels, digest.hexdigest()[:12]


OVERLAY_KEYS = {"framework": dict, "controls": list, "checks": dict, "overrides": dict}


def _read_overlay(path: Path, name: str) -> dict:
    """A mapping file a person wrote: every way it can be wrong is one line naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{name}: geen UTF-8-tekst (ongeldige byte op positie {exc.start})"
        ) from None
    except OSError as exc:
        raise MappingError(f"{name}: niet te lezen ({exc.strerror or exc})") from None
    except RecursionError:
        raise MappingError(f"{name}: geen geldige YAML (te diep genest)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"regel {mark.line + 1}, kolom {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MappingError(f"{name}: geen geldige YAML ({where}{problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError(
            f"{name}: verwacht een koppelbestand met {', '.join(OVERLAY_KEYS)}, "
            f"geen {type(data).__name__}"
        )
    for key, value in data.items():
        if key not in OVERLAY_KEYS:
            raise MappingError(
                f"{name}: onbekende sleutel {key!r} (verwacht: {', '.join(OVERLAY_KEYS)})"
            )
        if value is not None and not isinstance(value, OVERLAY_KEYS[key]):
            kind = "lijst" if OVERLAY_KEYS[key] is list else "mapping"
            raise MappingError(f"{name}: {key} moet een {kind} zijn")
    for check_id, ids in (data.get("checks") or {}).items():
        if not isinstance(ids, list):
            raise MappingError(f"{name}: checks.{check_id} moet een lijst van control-id's zijn")
    for check_id, links in (data.get("overrides") or {}).items():
        if not isinstance(links, dict):
            raise MappingError(f"{name}: overrides.{check_id} moet een mapping zijn")
    return data


def _overlay(mappings: Mappings, path: Path, name: str) -> Mappings:
    data = _read_overlay(path, name)
    framework = data.get("framework") or {}
    fw_id = framework.get("id")
    if not fw_id and (data.get("controls") or data.get("checks")):
        raise MappingError(f"{name}: framework.id ontbreekt")
    controls = {
        c.id: c
        for c in _entries(
            [{**c, "framework": fw_id} for c in data.get("controls") or []],
            Control,
            name,
            "control",
        )
    }
    by_check = {k: list(v) for k, v in mappings.controls.items()}
    for check_id, ids in (data.get("checks") or {}).items():
        for cid in ids:
            if cid not in controls:
                raise MappingError(f"{name}: check {check_id}: onbekende control {cid!r}")
            by_check.setdefault(check_id, []).append(controls[cid])
    overrides = dict(mappings.overrides)
    for check_id, links in (data.get("overrides") or {}).items():
        for norm in links.get("norms", []):
            if norm not in mappings.norms:
                raise MappingError(f"{name}: override {check_id}: onbekende norm {norm!r}")
        for bm in links.get("basismaatregelen", []):
            if bm not in mappings.basismaatregelen:
                raise MappingError(f"{name}: override {check_id}: onbekende basismaatregel {bm}")
        overrides[check_id] = links
    digest = hashlib.sha256(mappings.version.encode() + path.read_bytes()).hexdigest()[:12]
    frameworks = dict(mappings.frameworks)
    if fw_id:
        frameworks[fw_id] = framework
    return mappings.model_copy(
        update={
            "controls": by_check,
            "overrides": overrides,
            "frameworks": frameworks,
            "version": digest,
        }
    )


def _plugin_paths() -> list[tuple[Path, str]]:
    paths = []
    for ep in sorted(installed_entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            paths.append((Path(ep.load()()), f"{ep.name} ({ep.value})"))
        except Exception as exc:  # a broken plugin must say which one
            raise MappingError(f"mapping-plugin {ep.name} ({ep.value}): {exc}") from None
    return paths


@cache
def _default() -> Mappings:
    return load_mappings(entry_points=True, _use_cache=False)


def load_mappings(
    overlays: Sequence[Path] = (), *, entry_points: bool = True, _use_cache: bool = True
) -> Mappings:
    if _use_cache and not overlays and entry_points:
        return _default()
    bms, norms, levels, version = _builtin()
    mappings = Mappings(version=version, basismaatregelen=bms, norms=norms, maturity_levels=levels)
    sources = (_plugin_paths() if entry_points else []) + [(Path(p), str(p)) for p in overlays]
    for path, name in sources:
        if not path.is_file():
            raise MappingError(f"{name}: bestand niet gevonden")
        mappings = _overlay(mappings, path, name)
    return mappings
