"""The snapshot: everything one scan collected, as evidence that can be re-evaluated offline.

Graph data keeps Graph's own (camelCase) field names so that fixtures and snapshots can be held
against the Graph documentation. Our own metadata uses snake_case.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import to_json

from m365apk.errors import ConfigError
from m365apk.snapshot.files import atomic, crash_point
from m365apk.snapshot.settings import TenantSettings

SNAPSHOT_SCHEMA_VERSION = 1


class DatasetStatus(StrEnum):
    OK = "ok"
    FORBIDDEN = "forbidden"  # permission not consented (403 Authorization_RequestDenied)
    NOT_LICENSED = "not_licensed"  # tenant lacks the licence the endpoint needs
    NOT_FOUND = "not_found"
    THROTTLED = "throttled"  # still 429 after every retry
    ERROR = "error"  # anything else: 5xx, timeout, connection, redirect, time-out of the scan
    # HTTP 200, but the answer breaks the response contract: not JSON, not the shape Graph
    # documents, a property Graph always returns missing or mistyped, too large.
    MALFORMED = "malformed"
    # A fan-out (per group, per user) of which some keys could not be read: `unread_keys`; or a
    # collection of which some objects broke their contract and were dropped: `rejected`.
    INCOMPLETE = "incomplete"
    NOT_COLLECTED = "not_collected"  # no selected check asked for it
    # The source is not there for this organisation: the Exchange Online Admin API while in
    # preview ("not available in all organizations"). Checks are unknown with that reason.
    NOT_AVAILABLE = "not_available"


# error_code of a dataset not collected because the scan was not asked to read it (an opt-in
# read such as --mail-rules); its error_message names the option in the collector's words.
OPT_IN_NOT_ASKED = "opt_in_not_asked"

UNREADABLE = {
    DatasetStatus.FORBIDDEN,
    DatasetStatus.NOT_FOUND,
    DatasetStatus.THROTTLED,
    DatasetStatus.ERROR,
    DatasetStatus.MALFORMED,
    DatasetStatus.INCOMPLETE,
    DatasetStatus.NOT_AVAILABLE,
}


class Dataset(BaseModel):
    """One endpoint's outcome. `data` is a list for collections, a dict for single objects."""

    model_config = ConfigDict(extra="forbid")

    status: DatasetStatus
    endpoint: str = Field(description="method and path as sent, e.g. GET /v1.0/users")
    permission: str = Field(description="least-privileged application permission it needs")
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Status not_licensed without asking Graph: the licence the tenant lacks (`error_message`
    # says the same in the collector's words; reports say it from their catalogue).
    missing_licence: str | None = None
    pages: int = 0
    # Size of `data` when written (items, fan-out keys or object fields): an edit of the data
    # that does not also change this count shows up as an inconsistency on evaluate.
    items: int | None = None
    # Fan-outs: keys (group or user ids) whose read failed, 404 included. Non-empty only with
    # status incomplete; `data` then holds the keys that were read, as evidence, but no check
    # evaluates an incomplete dataset.
    unread_keys: list[str] = Field(default_factory=list)
    # Objects Graph answered more than once in a collection (the same id on two pages, or
    # twice on one): the first is in `data`, the repeats are dropped and counted here (fan-outs:
    # over all keys). The data itself then has no duplicate ids; 0 on older snapshots.
    duplicates_dropped: int = 0
    # Objects that each broke their own contract (a wrong type, a 300 kB name, a required
    # property missing): dropped, the others kept, and the dataset incomplete (fan-outs: the
    # key they were under is unread). `rejected_objects` counts them all; `rejected` names the
    # first 50 as "id: reason" ("key/id: reason" in a fan-out; "#n", the n-th object of the
    # collection, when it has no usable id). Empty on older snapshots.
    rejected: list[str] = Field(default_factory=list, max_length=50)
    rejected_objects: int = 0
    data: Any = None

    @property
    def ok(self) -> bool:
        return self.status is DatasetStatus.OK


class TenantInfo(BaseModel):
    tenant_id: str
    display_name: str | None = None
    default_domain: str | None = None


class LicenceSummary(BaseModel):
    """What the tenant is licensed for, derived from subscribedSkus service plans."""

    known: bool = False  # False when subscribedSkus could not be read
    entra_plan: str = "unknown"  # free | p1 | p2 | unknown
    intune: bool = False
    skus: list[str] = Field(default_factory=list)  # skuPartNumber of enabled SKUs, sorted


class CollectionStats(BaseModel):
    http_requests: int = 0  # HTTP exchanges with Graph ($batch envelopes count once)
    # Requests sent inside JSON batches: each is judged, paced and counted by Graph on its own.
    batched_requests: int = 0
    retries: int = 0
    throttled_responses: int = 0
    duration_seconds: float = 0.0
    # Of the duration: the wall time a request of this tenant was held only by Graph's limits
    # per app for all tenants (scan-all: the app's other schools read first), not by its own.
    # It explains a long scan (signInActivity: 10 pages a minute for the whole portfolio).
    in_line_seconds: float = 0.0


class ToolInfo(BaseModel):
    name: str = "m365apk"
    version: str
    # The scanning app's client id: its own service principal is then recognised, not
    # reported as an unknown third party (None on snapshots from before it was recorded).
    app_id: str | None = None


class Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    tool: ToolInfo
    tenant: TenantInfo
    collected_at: datetime = Field(description="UTC; the only clock checks may use")
    source: str = Field(description="'graph' for a real tenant, 'demo:<profile>' for the simulator")
    graph_base_url: str
    datasets: dict[str, Dataset]
    licences: LicenceSummary = Field(default_factory=LicenceSummary)
    stats: CollectionStats = Field(default_factory=CollectionStats)
    settings: TenantSettings = Field(default_factory=TenantSettings)

    def dataset(self, name: str) -> Dataset:
        found = self.datasets.get(name)
        if found is None:
            return Dataset(status=DatasetStatus.NOT_COLLECTED, endpoint="", permission="")
        return found

    @property
    def partial(self) -> bool:
        """True when a dataset the scan asked for could not be read (permission, throttling,
        error): the report must say so up front. A licence the tenant lacks is a fact about
        the tenant, not a gap in the scan; reports list it separately."""
        return any(d.status in UNREADABLE for d in self.datasets.values())

    def write(self, path: Path) -> None:
        """Stream to disk, one Graph object per line: a 100,000-user snapshot never exists as
        one big string in memory, and the file stays readable and diffable."""
        head = self.model_dump(mode="json", exclude={"datasets"})
        with atomic(path) as tmp, tmp.open("wb") as out:
            out.write(b"{\n")
            for key, value in head.items():
                out.write(_json(key) + b": " + _json(value) + b",\n")
            out.write(b'"datasets": {')
            crash_point("snapshot.half")
            for i, (name, dataset) in enumerate(sorted(self.datasets.items())):
                out.write(b"," if i else b"")
                out.write(b"\n" + _json(name) + b": {")
                fields = dataset.model_dump(mode="json", exclude={"data"})
                fields["items"] = _count(dataset.data)
                for key, value in fields.items():
                    out.write(_json(key) + b": " + _json(value) + b", ")
                out.write(b'"data": ')
                if isinstance(dataset.data, list):
                    out.write(b"[")
                    for j in range(0, len(dataset.data), 1000):
                        chunk = dataset.data[j : j + 1000]
                        out.write(b"," if j else b"")
                        out.write(b"\n" + b",\n".join(_json(item) for item in chunk))
                    out.write(b"]")
                else:
                    out.write(_json(dataset.data))
                out.write(b"}")
            out.write(b"\n}\n}\n")

    @classmethod
    def read(cls, path: Path) -> Snapshot:
        return cls.model_validate_json(path.read_bytes())

    def unread_as_ok(self) -> list[str]:
        """Datasets marked ok that no read produced: no data, no page, or an error code.
        Evaluating them would turn "could not read" into "nothing wrong"."""
        out = []
        for name, d in sorted(self.datasets.items()):
            if not d.ok:
                continue
            if d.data is None:
                out.append(f"datasets.{name}: status ok maar data is leeg (null)")
            elif d.pages < 1 and d.data != {}:  # only a fan-out over no keys reads no page
                out.append(f"datasets.{name}: status ok maar er is geen pagina opgehaald")
            elif d.error_code or d.http_status:
                out.append(f"datasets.{name}: status ok maar met foutcode {d.error_code}")
        return out

    def inconsistencies(self) -> list[str]:
        """Where the datasets disagree with what the collection recorded about them: a sign
        the file was edited after the scan."""
        out = []
        for name, d in sorted(self.datasets.items()):
            if d.items is not None and d.items != _count(d.data):
                out.append(
                    f"datasets.{name}: {_count(d.data)} items, bij het verzamelen waren het "
                    f"er {d.items}"
                )
        pages = sum(d.pages for d in self.datasets.values())
        requests = self.stats.http_requests + self.stats.batched_requests
        if self.stats.http_requests and pages > requests:
            out.append(
                f"stats.http_requests: {requests} verzoeken, maar de datasets "
                f"tellen samen {pages} pagina's"
            )
        return out


def load_snapshot(path: Path) -> Snapshot:
    """A snapshot file, or a ConfigError that names the field (and where in the file)."""
    if path.is_dir():
        raise ConfigError(f"{path}: is een map, verwacht een snapshot.json")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"snapshot niet gevonden: {path}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: niet te lezen ({exc.strerror or exc})") from None
    # The version first: a newer format must be refused as such, not as a pile of field errors.
    version = _schema_version(raw)
    if isinstance(version, int) and version > SNAPSHOT_SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: snapshot heeft schema_version {version}, deze m365apk kent t/m "
            f"{SNAPSHOT_SCHEMA_VERSION}; werk m365apk bij om hem te evalueren"
        )
    try:
        return Snapshot.model_validate_json(raw)
    except RecursionError:
        raise ConfigError(f"{path} is geen geldige m365apk-snapshot: te diep genest") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "bestand"
        count = exc.error_count()
        more = f" (en nog {count - 1} fout{'en' if count > 2 else ''})" if count > 1 else ""
        raise ConfigError(
            f"{path} is geen geldige m365apk-snapshot: {field}: {first['msg']}{more}"
        ) from None


def _schema_version(raw: bytes) -> Any:
    try:
        head = json.loads(raw)
    except ValueError:
        return None  # the full validation says where the JSON breaks
    except RecursionError:  # nested deeper than any Graph answer: not a snapshot
        return None
    return head.get("schema_version") if isinstance(head, dict) else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _count(data: Any) -> int:
    """Items of a collection, keys of a fan-out or fields of a single object."""
    if isinstance(data, (list, dict)):
        return len(data)
    return 0 if data is None else 1


def _json(value: Any) -> bytes:
    return to_json(value)
