"""The check contract: metadata, results, and the guard that turns missing data into `unknown`.

A check is a pure function of the snapshot. It never does I/O and never reads the clock
(time comes from `snapshot.collected_at`), so the same snapshot always gives the same result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from m365apk.messages import SOURCE, Msg, check_texts, decoded, encode, has_msg, plain
from m365apk.snapshot import DatasetStatus, Snapshot
from m365apk.snapshot.model import OPT_IN_NOT_ASKED


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    PARTIAL = "partial"
    NOT_APPLICABLE = "not_applicable"
    NOT_LICENSED = "not_licensed"
    UNKNOWN = "unknown"
    ACCEPTED = "accepted"  # a fail or partial the school accepted as a risk (exceptions file)


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Area(StrEnum):
    MFA = "mfa"
    ADMIN_ROLES = "admin_roles"
    PASSWORD = "password"
    AUDIT_LOGGING = "audit_logging"
    BACKUP = "backup"
    APPLICATIONS = "applications"
    ATTACK_SURFACE = "attack_surface"
    DEVICES = "devices"


def _keep_parts(data: Any, field: str) -> Any:
    """A `Msg` given for `field` is stored as its Dutch text plus `<field>_parts`, the catalogue
    keys the report renders in another language (m365apk.messages)."""
    if isinstance(data, dict) and isinstance(data.get(field), Msg):
        msg = data[field]
        data = {**data, field: str(msg), f"{field}_parts": msg.to_json()}
    return data


class AffectedObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    display_name: str | None = None  # tenant data: never translated
    detail: str | None = None  # Dutch; detail_parts says it in other languages
    detail_parts: list[dict[str, Any]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _parts(cls, data: Any) -> Any:
        return _keep_parts(data, "detail")

    def detail_in(self, lang: str) -> str | None:
        if self.detail_parts and lang != SOURCE:
            return Msg.from_json(self.detail_parts).render(lang)
        return self.detail


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    counts: dict[str, int] = Field(default_factory=dict)
    affected: list[AffectedObject] = Field(default_factory=list)
    affected_total: int = 0  # affected may be truncated; this is the full number
    datasets: list[str] = Field(default_factory=list)


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check_id: str
    status: Status
    reason: str | None = None  # required unless pass or fail: says why, in Dutch
    # The reason's catalogue keys and parameters, to say it in another language (a plugin's
    # plain-string reason has none and stays as written).
    reason_parts: list[dict[str, Any]] | None = None
    measured: Any = None
    threshold: str | None = None
    evidence: Evidence = Field(default_factory=Evidence)

    # `measured` with catalogue texts inside (a Msg, or a dict holding some): the same value
    # with each message as {"msg": parts}, to show it in another language.
    measured_parts: Any = None

    @model_validator(mode="before")
    @classmethod
    def _parts(cls, data: Any) -> Any:
        data = _keep_parts(data, "reason")
        if isinstance(data, dict) and has_msg(data.get("measured")):
            measured = data["measured"]
            data = {**data, "measured": plain(measured), "measured_parts": encode(measured)}
        return data

    def measured_in(self, lang: str) -> Any:
        if self.measured_parts is not None and lang != SOURCE:
            return decoded(self.measured_parts, lang)
        return self.measured

    def reason_in(self, lang: str) -> str | None:
        if self.reason_parts and lang != SOURCE:
            return Msg.from_json(self.reason_parts).render(lang)
        return self.reason

    def model_post_init(self, _: Any) -> None:
        if self.status not in (Status.PASS, Status.FAIL) and not self.reason:
            raise ValueError(f"{self.check_id}: status {self.status} needs a reason")


@dataclass(frozen=True)
class Source:
    """Where a threshold comes from (CIS, CISA SCuBA, Microsoft guidance). `name` cites the
    document by its own title, in its own language (English for Microsoft, CIS and CISA)."""

    name: str
    url: str


# The people a check judges, each from the one people model (checks/people.py).
POPULATIONS = frozenset(
    {
        "users",  # every enabled account
        "staff",
        "students",
        "guests",
        "admins",  # holders of a privileged role, active or eligible, direct or through a group
        "highly_privileged",
        "break_glass",
    }
)
# Tenant settings a check may trust (snapshot/settings.py), each only within bounds.
SETTINGS = frozenset({"approved_exclusions", "break_glass", "populations"})
# What a check judges beyond people; each names a family of transformations the generic trust
# suite (tests/test_trust_suite.py) applies to it.
JUDGES = frozenset(
    {
        "conditional_access",  # its verdict rests on CA policies reaching its population
        "credentials",  # credentials of applications and service principals
        "app_permissions",  # permissions granted to applications
        "methods_policy",  # the authentication methods policy
    }
)


@dataclass(frozen=True)
class Reads:
    """What a check reads besides its datasets, declared so that generic suites can derive, for
    every registered check, transformations that must never improve its verdict.

    `properties`: per dataset, the Graph properties the verdict rests on ("a.b" for nested),
    as pairs so the declaration stays hashable; give a dict to `reads()`."""

    population: str | None = None
    settings: tuple[str, ...] = ()
    properties: tuple[tuple[str, tuple[str, ...]], ...] = ()
    judges: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.population is not None and self.population not in POPULATIONS:
            raise ValueError(f"unknown population {self.population!r}")
        if set(self.settings) - SETTINGS:
            raise ValueError(f"unknown settings {sorted(set(self.settings) - SETTINGS)}")
        if set(self.judges) - JUDGES:
            raise ValueError(f"unknown judges {sorted(set(self.judges) - JUDGES)}")

    def property_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.properties)

    def to_json(self) -> dict[str, Any]:
        return {
            "population": self.population,
            "settings": list(self.settings),
            "properties": {k: list(v) for k, v in self.properties},
            "judges": list(self.judges),
        }


def reads(
    population: str | None = None,
    settings: tuple[str, ...] = (),
    properties: dict[str, tuple[str, ...]] | None = None,
    judges: tuple[str, ...] = (),
) -> Reads:
    """A check's declaration of what it reads (see Reads)."""
    return Reads(
        population=population,
        settings=tuple(settings),
        properties=tuple((k, tuple(v)) for k, v in (properties or {}).items()),
        judges=tuple(judges),
    )


@dataclass(frozen=True)
class Check:
    id: str  # stable forever: history and diffs key on it
    area: Area
    severity: Severity
    datasets: tuple[str, ...]
    basismaatregelen: tuple[int, ...]
    norms: tuple[str, ...]
    sources: tuple[Source, ...]
    evaluate: Callable[[Snapshot], CheckResult]
    # The texts a person reads come from the catalogue (m365apk/messages/<lang>/checks/), keyed
    # by the check id; a plugin without catalogue entries gives its Dutch texts here.
    title: str = ""
    threshold: str = ""  # human readable
    why: str = ""  # "waarom is dit belangrijk", for a school leader
    fix: str = ""  # steps for the IT provider
    licence: str | None = None  # e.g. "Microsoft Entra ID P1"; None = every tenant
    # Interchangeable sources: at least one must have been read (e.g. the registration report,
    # or per-user methods on tenants without Entra ID P1).
    alternatives: tuple[str, ...] = ()
    # Read when the scan has them; the check itself says what their absence means (e.g. the
    # conditional-access engine: security defaults decide before CA policies are needed).
    optional: tuple[str, ...] = ()
    # Rough effort to fix, for ranking "Eerst doen": klein (one setting), middel, groot (a
    # project: devices, licences, working habits).
    effort: str = "middel"
    # Advice for tenants without Entra ID P1 (A1 schools), where `fix` needs a licence they
    # lack: e.g. security defaults instead of conditional access.
    fix_free: str | None = None
    # A check that changes something in the tenant to measure (e.g. creates an audit log query)
    # runs only when the user asks for it by this name (`--audit-probe`); otherwise it is left
    # out of the scan altogether.
    opt_in: str | None = None
    # What it reads besides its datasets: the population it judges, the tenant settings it
    # trusts, the properties its verdict rests on, and what else it judges (Reads).
    reads: Reads = field(default_factory=Reads)

    @property
    def all_datasets(self) -> tuple[str, ...]:
        return self.datasets + self.alternatives + self.optional

    def __post_init__(self) -> None:
        # Dataset names are checked against the collector's catalogue where checks meet the
        # scanner (m365apk.scanner.datasets.check_dataset_names): checks do not import it.
        if not self.basismaatregelen:
            raise ValueError(f"check {self.id}: maps to no basismaatregel")
        texts = check_texts(self.id, SOURCE)
        for name in ("title", "threshold", "why", "fix", "fix_free"):
            if not getattr(self, name) and texts.get(name):
                object.__setattr__(self, name, texts[name])
        missing = [n for n in ("title", "threshold", "why", "fix") if not getattr(self, n)]
        if missing:
            raise ValueError(f"check {self.id}: no {', '.join(missing)} in the catalogue")

    def run(self, snapshot: Snapshot) -> CheckResult:
        """Evaluate, but first make sure every dataset the check relies on was read."""
        missing = missing_data(self, snapshot) or missing_properties(self, snapshot)
        if missing is not None:
            return missing
        result = self.evaluate(snapshot)
        result.evidence.datasets = [d for d in self.all_datasets if snapshot.dataset(d).ok]
        return result


def _problem(snapshot: Snapshot, name: str) -> Msg:
    ds = snapshot.dataset(name)
    detail = Msg(f"data.status.{ds.status.value}")
    if ds.status is DatasetStatus.FORBIDDEN:
        permission = ds.permission or Msg("data.read_right_for", name=name)
        detail = Msg("data.needs", detail=detail, permission=permission)
    unread: str = ""
    keys = ", ".join(ds.unread_keys[:5])
    more_keys = Msg("data.more", n=len(ds.unread_keys) - 5) if len(ds.unread_keys) > 5 else ""
    if ds.unread_keys:
        unread = Msg("data.unread", keys=keys, more=more_keys)
    rejected = ds.rejected
    if rejected:
        # Objects dropped for breaking their contract, each "id: reason" (the reason is the
        # contract's own, technical); the collector's message for them ("objects_rejected")
        # would only say the first again.
        n = max(ds.rejected_objects, len(rejected))
        objects = "; ".join(rejected[:3])
        more = Msg("data.more", n=n - 3) if n > 3 else ""
        if ds.unread_keys:
            unread = Msg(
                "data.unread_rejected",
                keys=keys,
                more=more_keys,
                objects=objects,
                more_objects=more,
            )
        else:
            unread = Msg("data.rejected", objects=objects, more=more)
    return Msg(
        "data.problem",
        source=ds.endpoint or name,
        detail=detail,
        # Graph's own code and message: technical, shown as Graph gave them
        code=f" [{ds.http_status} {ds.error_code}]" if ds.http_status else "",
        message="" if ds.error_code == "objects_rejected" else _message(ds),
        unread=unread,
    )


# Snapshots written before `Dataset.missing_licence` existed say the licence only in the
# collector's words (scanner/collector.py `_unlicensed`).
_NOT_ASKED = re.compile(r"^niet opgevraagd: geen (?P<licence>.+) in de licenties van de tenant$")


_OPT_IN = re.compile(r"^niet gevraagd: de scan liep zonder (?P<option>--[a-z0-9-]+)$")


def asked(check: Check, snapshot: Any, opt_in: Collection[str] = ()) -> bool:
    """False when the check needs an opt-in read the scan was not asked for (`--mail-rules`):
    such a check is left out of the report, as the audit probe is without `--audit-probe`,
    rather than weighing as undetermined against a school whose provider chose not to read
    every mailbox. Re-evaluating a snapshot that has the read brings it back.
    `opt_in`: the names of the opt-in datasets (the collector's catalogue says which); one
    the snapshot lacks altogether (made before the read existed) was not asked for either."""
    for name in check.datasets:
        ds = snapshot.datasets.get(name)
        if ds is None and name in opt_in:
            return False
        if ds is not None and ds.error_code == OPT_IN_NOT_ASKED:
            return False
    return True


def not_asked(ds: Any) -> Msg | None:
    """The collector's note that it did not ask Graph (no licence; or an opt-in read the scan
    was not asked for, e.g. --mail-rules), in the catalogue's words.
    `ds`: a snapshot Dataset or a report's DatasetProblem."""
    if ds.error_code == OPT_IN_NOT_ASKED:
        found = _OPT_IN.match(ds.error_message or "")
        if found:
            return Msg("data.opt_in_not_asked", option=found["option"])
    licence = getattr(ds, "missing_licence", None)
    if not licence and ds.error_code == "licence_not_in_subscribedSkus":
        found = _NOT_ASKED.match(ds.error_message or "")
        licence = found["licence"] if found else None
    return Msg("data.not_asked", licence=licence) if licence else None


def _message(ds: Any) -> str:
    if not ds.error_message:
        return ""
    said = not_asked(ds)
    # otherwise Graph's own message: technical, as Graph gave it, without its full stop (the
    # sentence ends after it: "…to complete the operation.." read twice)
    return Msg("data.with_message", message=said or ds.error_message.rstrip(". "))


def missing_data(check: Check, snapshot: Snapshot) -> CheckResult | None:
    """Unknown (or not_licensed) when data the check needs is not ok. Never a pass."""
    missing = [n for n in check.datasets if not snapshot.dataset(n).ok]
    if check.alternatives and not any(snapshot.dataset(n).ok for n in check.alternatives):
        missing += list(check.alternatives)
    if not missing:
        return None
    problems = [_problem(snapshot, n) for n in missing]
    # A fallback that was deliberately skipped does not hide that the licence is the cause.
    statuses = {snapshot.dataset(n).status for n in missing}
    licence_only = DatasetStatus.NOT_LICENSED in statuses and statuses <= {
        DatasetStatus.NOT_LICENSED,
        DatasetStatus.NOT_COLLECTED,
    }
    if licence_only:
        licence = check.licence or Msg("data.some_licence")
        return CheckResult(
            check_id=check.id,
            status=Status.NOT_LICENSED,
            reason=Msg.join([Msg("data.requires_licence", licence=licence), *problems]),
        )
    return CheckResult(
        check_id=check.id,
        status=Status.UNKNOWN,
        reason=Msg.join([Msg("data.unreadable"), *problems]),
    )


ABSENT = object()


def property_value(data: Any, path: str) -> Any:
    """The value at a declared property ("a.b" for nested) of a single object, or ABSENT when
    Graph's answer did not carry it (a null on the way counts as absent below it). A path
    through a collection ("authenticationMethodConfigurations.state") is followed up to the
    collection: its items are polymorphic (a property of one kind is absent from the others),
    so what each item holds is the check's own to judge."""
    value = data
    for key in path.split("."):
        if isinstance(value, list):
            return value
        if not isinstance(value, dict) or key not in value:
            return ABSENT
        value = value[key]
    return value


def read_setting(
    snapshot: Snapshot, name: str, path: str, known: Iterable[Any] | None = None
) -> tuple[Any, Msg | None]:
    """A setting of a single-object dataset, or why it cannot be judged: absent, null (Graph
    leaves nullable settings empty; what that means is not a value we may assume), or an enum
    value outside `known` (Graph's enums evolve: `unknownFutureValue`, or a member added after
    this version). The problem names the property, the value and what would settle it."""
    ds = snapshot.dataset(name)
    value = property_value(ds.data, path)
    source = ds.endpoint or name
    if value is ABSENT:
        return None, Msg.join(
            [Msg("data.property_absent", property=path, source=source), Msg("data.property_settle")]
        )
    if value is None:
        return None, Msg("data.property_null", property=path, source=source)
    if known is not None and value not in set(known):
        shown = value if isinstance(value, str) else repr(value)
        return None, Msg(
            "data.property_unknown_value", property=path, source=source, value=repr(shown)
        )
    return value, None


def single_object(ds: Any) -> bool:
    """A single-object dataset (a policy, a settings object) read by one Graph GET: dict data
    that is not a map per key. A fan-out holds a list per key read (`{}` without a page when it
    had no keys) and names `{id}` in its endpoint; the mail DNS records hold an object per
    domain and are not read from Graph."""
    data = ds.data
    endpoint = ds.endpoint or ""
    if not isinstance(data, dict) or not endpoint.startswith("GET ") or "{id}" in endpoint:
        return False
    if not data:
        return ds.pages > 0
    values = data.values()
    return not all(isinstance(v, list) for v in values) and not all(
        isinstance(v, dict) for v in values
    )


def missing_properties(check: Check, snapshot: Snapshot) -> CheckResult | None:
    """Unknown when a single object the check reads lacks a property its verdict rests on
    (`reads.properties`): the other checks of that dataset are still judged, and the reason
    names what was missing and what would settle it. A null is the check's own to judge
    (Graph documents what null means per property); absent is never a value."""
    absent: list[Msg] = []
    for name, paths in check.reads.properties:
        ds = snapshot.dataset(name)
        if not ds.ok or not single_object(ds):
            continue
        for path in paths:
            if property_value(ds.data, path) is ABSENT:
                absent.append(
                    Msg("data.property_absent", property=path, source=ds.endpoint or name)
                )
    if not absent:
        return None
    return CheckResult(
        check_id=check.id,
        status=Status.UNKNOWN,
        reason=Msg.join([Msg("data.properties_absent"), *absent, Msg("data.property_settle")]),
    )


def check_family(**defaults: Any) -> Callable[..., Check]:
    """The one way a check module declares its checks: what the module's checks share (area,
    basismaatregelen as `bm`, norms, sources, licence) once, each check's own fields per call.
    A field given in the call wins over the module's default."""

    def declare(**fields: Any) -> Check:
        merged = {**defaults, **fields}
        if "bm" in merged:
            merged["basismaatregelen"] = merged.pop("bm")
        return Check(**merged)

    return declare


def affected(objects: list[AffectedObject], limit: int = 200) -> tuple[list[AffectedObject], int]:
    """Sorted, truncated evidence list, and the full count (reports stay readable at scale)."""
    ordered = sorted(objects, key=lambda o: ((o.display_name or "").lower(), o.id))
    return ordered[:limit], len(ordered)
