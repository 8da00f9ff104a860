"""The scored result of one scan: what report.json holds and every renderer reads.

Built from the snapshot, the checks and their results; nothing here reads the clock or the
network, and every list is sorted, so the same snapshot always gives byte-identical JSON.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date as date_type
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from m365apk import __version__
from m365apk.checks.base import Check, CheckResult, Status
from m365apk.checks.exceptions import RiskException, apply_exceptions
from m365apk.checks.manual import Attestation, manual_items
from m365apk.checks.reference_data import stale_reference_data
from m365apk.mappings.loader import Mappings, load_mappings
from m365apk.messages import Msg
from m365apk.reports.scoring import Score, judge, score_items
from m365apk.scanner.datasets import permissions_for
from m365apk.snapshot import (
    UNREADABLE,
    CollectionStats,
    DatasetStatus,
    LicenceSummary,
    Snapshot,
    TenantInfo,
)

REPORT_SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolRef(_Model):
    name: str
    version: str  # the version that evaluated and wrote this report
    snapshot_version: str  # the version that collected the snapshot
    mappings_version: str


class DatasetProblem(_Model):
    dataset: str
    endpoint: str
    status: str
    permission: str
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    missing_licence: str | None = None  # not asked: the tenant lacks this licence


class SourceRef(_Model):
    name: str
    url: str


class NormRef(_Model):
    id: str
    title: str | None
    status: str
    source: str | None
    indicatief: bool = Field(description="link or norm not confirmed by Kennisnet: indicative")


class ControlRef(_Model):
    framework: str
    id: str
    title: str | None
    source: str | None


class CheckEntry(_Model):
    id: str
    title: str
    area: str
    severity: str
    licence: str | None
    licence_parts: list[dict[str, Any]] | None = None  # to say the licence in another language
    permissions: list[str]
    datasets: list[str]
    basismaatregelen: list[int]
    norms: list[NormRef]
    controls: list[ControlRef]
    threshold: str
    sources: list[SourceRef]
    why: str
    fix: str
    effort: str
    result: CheckResult


class BasismaatregelEntry(_Model):
    id: int
    title: str
    description: str
    sources: list[str]
    score: Score
    checks: list[str]
    manual: list[str]
    norms: list[NormRef]


class ManualEntry(_Model):
    """A handmatig controlepunt and its recorded answer; never part of the score."""

    id: str
    basismaatregelen: list[int]
    norms: list[str]
    question: str
    evidence_expected: str
    status: Literal["open", "beantwoord"]
    answer: str | None = None
    by: str | None = None
    date: date_type | None = None
    evidence: str | None = None
    note: str | None = None


class NormCheck(_Model):
    id: str
    title: str
    status: str


class NormEvidence(_Model):
    id: str
    title: str | None
    domain: int
    domain_name: str
    status: str
    source: str | None
    indicatief: bool
    checks: list[NormCheck]


class Previous(BaseModel):
    """The school's previous APK, from the history (input to a report, not part of it)."""

    run_id: str
    finished_at: str
    score: int | None
    verdict: str | None
    measures: dict[int, int | None]
    checks: dict[str, str]  # check id -> status
    trend: list[tuple[str, int | None]] = []  # (date, score) of earlier APKs, oldest first


class Peers(BaseModel):
    median: float
    count: int


class ChangedCheck(_Model):
    id: str
    title: str
    was: str
    now: str


class Comparison(_Model):
    previous_run: str
    previous_date: str
    previous_score: int | None
    previous_verdict: str | None
    score_delta: int | None
    measure_deltas: dict[int, int | None]
    new_findings: list[ChangedCheck]
    resolved: list[ChangedCheck]
    trend: list[tuple[str, int | None]] = []  # earlier APKs and this one: (date, score)
    peers_median: float | None = None
    peers_count: int | None = None


class PlanItem(_Model):
    """One row of last year's actieplan as the school filled it in (reports/actionplan.py)."""

    id: str  # check id or handmatig controlepunt id
    title: str = ""
    owner: str | None = None
    due: str | None = None
    status: str = "open"  # as the school wrote it: open, gepland, bezig, gedaan


class PlanReview(_Model):
    """What was planned last year, next to what the scan finds now."""

    id: str
    title: str
    owner: str | None
    due: str | None
    planned_status: str
    now: Literal["opgelost", "open", "niet_vastgesteld", "onbekend"]


class SettingsSummary(_Model):
    """What the school recorded in its tenant settings (counts only; the names are in the
    snapshot)."""

    break_glass: int
    approved_exclusions: int
    populations: int


class Report(_Model):
    schema_version: int = REPORT_SCHEMA_VERSION
    tool: ToolRef
    tenant: TenantInfo
    collected_at: datetime
    source: str
    snapshot_sha256: str | None = Field(
        default=None,
        description="SHA-256 (hex) of the snapshot.json file this report was evaluated from",
    )
    partial: bool = Field(description="some data the checks needed could not be read")
    unreadable: list[DatasetProblem]
    not_licensed: list[DatasetProblem]
    licences: LicenceSummary
    stats: CollectionStats
    tenant_settings: SettingsSummary | None = None
    overall: Score
    basismaatregelen: list[BasismaatregelEntry]
    norms: list[NormEvidence]
    checks: list[CheckEntry]
    manual: list[ManualEntry]
    comparison: Comparison | None = None
    # Reference data that ages (privileged roles, supported OS versions) older than its own
    # stated maximum at collection time: the verdicts that use it may be out of date.
    reference_data_warnings: list[str] = Field(default_factory=list)
    reference_data_warning_parts: list[list[dict[str, Any]]] = Field(default_factory=list)
    plan_review: list[PlanReview] = []

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def _problems(snapshot: Snapshot, statuses: set[DatasetStatus]) -> list[DatasetProblem]:
    return [
        DatasetProblem(
            dataset=name,
            endpoint=ds.endpoint,
            status=ds.status.value,
            permission=ds.permission,
            http_status=ds.http_status,
            error_code=ds.error_code,
            error_message=ds.error_message,
            missing_licence=ds.missing_licence,
        )
        for name, ds in sorted(snapshot.datasets.items())
        if ds.status in statuses
    ]


def _norm_ref(norm: Any, basis: str) -> NormRef:
    return NormRef(
        id=norm.id,
        title=norm.title,
        status=norm.status,
        source=norm.source,
        indicatief=basis != "kennisnet" or not norm.official,
    )


def build_report(
    snapshot: Snapshot,
    checks: list[Check],
    results: list[CheckResult],
    *,
    mappings: Mappings | None = None,
    exceptions: list[RiskException] | None = None,
    attestations: list[Attestation] | None = None,
    pseudonymise: bool = False,
    previous: Previous | None = None,
    peers: Peers | None = None,
    plan: list[PlanItem] | None = None,
) -> Report:
    mappings = mappings or load_mappings()
    mappings.validate_checks(checks)
    if exceptions:
        results = apply_exceptions(results, exceptions, snapshot.collected_at.date())
    if pseudonymise:
        results = [_pseudonymised(r, snapshot) for r in results]
    by_id = {r.check_id: r for r in results}
    ordered = sorted(checks, key=lambda c: c.id)
    entries = [
        CheckEntry(
            id=c.id,
            title=c.title,
            area=c.area.value,
            severity=c.severity.value,
            licence=str(c.licence) if c.licence else None,
            licence_parts=c.licence.to_json() if isinstance(c.licence, Msg) else None,
            permissions=permissions_for(c.all_datasets),
            datasets=sorted(c.all_datasets),
            basismaatregelen=mappings.basismaatregelen_for(c),
            norms=[_norm_ref(n, b) for n, b in mappings.norms_for(c)],
            controls=[
                ControlRef(framework=x.framework, id=x.id, title=x.title, source=x.source)
                for x in sorted(mappings.controls.get(c.id, []), key=lambda x: (x.framework, x.id))
            ],
            threshold=c.threshold,
            sources=[SourceRef(name=s.name, url=s.url) for s in c.sources],
            why=c.why,
            fix=c.fix_free if c.fix_free and snapshot.licences.entra_plan == "free" else c.fix,
            effort=c.effort,
            result=by_id[c.id],
        )
        for c in ordered
    ]

    def score(items: list[CheckEntry]) -> Score:
        return score_items((e.severity, e.result.status.value) for e in items)

    manual = _manual(attestations or [])

    def answers(items: list[ManualEntry]) -> list[str | None]:
        return [m.answer if m.status == "beantwoord" else None for m in items]

    overall = judge(score(entries), answers(manual), partial_scan=snapshot.partial)
    measures = []
    for bm in mappings.basismaatregelen.values():
        members = [e for e in entries if bm.id in e.basismaatregelen]
        own_manual = [m for m in manual if bm.id in m.basismaatregelen]
        norms = {n.id: n for e in members for n in e.norms}
        measures.append(
            BasismaatregelEntry(
                id=bm.id,
                title=bm.title,
                description=bm.description,
                sources=bm.sources,
                score=judge(score(members), answers(own_manual)),
                checks=[e.id for e in members],
                manual=[m.id for m in own_manual],
                norms=[norms[k] for k in sorted(norms)],
            )
        )
    norm_view = []
    for norm_id in sorted({n.id for e in entries for n in e.norms}):
        touching = [e for e in entries if any(n.id == norm_id for n in e.norms)]
        ref = next(n for e in touching for n in e.norms if n.id == norm_id)
        norm = mappings.norms[norm_id]
        norm_view.append(
            NormEvidence(
                id=norm.id,
                title=norm.title,
                domain=norm.domain,
                domain_name=norm.domain_name,
                status=norm.status,
                source=norm.source,
                indicatief=ref.indicatief,
                checks=[
                    NormCheck(id=e.id, title=e.title, status=e.result.status.value)
                    for e in touching
                ],
            )
        )
    stale = stale_reference_data(snapshot.collected_at)
    return Report(
        tool=ToolRef(
            name=snapshot.tool.name,
            version=__version__,
            snapshot_version=snapshot.tool.version,
            mappings_version=mappings.version,
        ),
        tenant=snapshot.tenant,
        collected_at=snapshot.collected_at,
        source=snapshot.source,
        partial=snapshot.partial,
        unreadable=_problems(snapshot, UNREADABLE),
        not_licensed=_problems(snapshot, {DatasetStatus.NOT_LICENSED}),
        licences=snapshot.licences,
        stats=snapshot.stats,
        tenant_settings=SettingsSummary(
            break_glass=len(snapshot.settings.break_glass),
            approved_exclusions=len(snapshot.settings.approved_exclusions),
            populations=len(snapshot.settings.populations),
        ),
        overall=overall,
        basismaatregelen=measures,
        norms=norm_view,
        checks=entries,
        manual=manual,
        comparison=_compare(
            entries,
            measures,
            previous,
            peers,
            overall,
            snapshot.collected_at.date().isoformat(),
        )
        if previous or peers
        else None,
        reference_data_warnings=[str(s.message) for s in stale],
        reference_data_warning_parts=[s.message.to_json() for s in stale],
        plan_review=_review(plan or [], entries, manual),
    )


def _review(
    plan: list[PlanItem], entries: list[CheckEntry], manual: list[ManualEntry]
) -> list[PlanReview]:
    checks = {e.id: e for e in entries}
    items = {m.id: m for m in manual}
    out = []
    for row in sorted(plan, key=lambda r: r.id):
        now: Literal["opgelost", "open", "niet_vastgesteld", "onbekend"] = "onbekend"
        title = row.title
        if row.id in checks:
            status = checks[row.id].result.status.value
            title = checks[row.id].title
            if status in FINDING:
                now = "open"
            elif status in ("pass", "accepted", "not_applicable"):
                now = "opgelost"
            else:
                now = "niet_vastgesteld"
        elif row.id in items:
            item = items[row.id]
            title = item.question
            now = "opgelost" if item.answer in ("ja", "nvt") else "open"
        out.append(
            PlanReview(
                id=row.id,
                title=title,
                owner=row.owner,
                due=row.due,
                planned_status=row.status,
                now=now,
            )
        )
    return out


FINDING = {"fail", "partial"}


def _compare(
    entries: list[CheckEntry],
    measures: list[BasismaatregelEntry],
    previous: Previous | None,
    peers: Peers | None,
    overall: Score,
    this_date: str = "",
) -> Comparison:
    if previous is None:
        return Comparison(
            previous_run="",
            previous_date="",
            previous_score=None,
            previous_verdict=None,
            score_delta=None,
            measure_deltas={},
            new_findings=[],
            resolved=[],
            peers_median=peers.median if peers else None,
            peers_count=peers.count if peers else None,
        )
    new, resolved = [], []
    for e in entries:
        was, now = previous.checks.get(e.id, "–"), e.result.status.value
        if now in FINDING and was not in FINDING:
            new.append(ChangedCheck(id=e.id, title=e.title, was=was, now=now))
        elif was in FINDING and now not in FINDING:
            resolved.append(ChangedCheck(id=e.id, title=e.title, was=was, now=now))

    def delta(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else a - b

    return Comparison(
        previous_run=previous.run_id,
        previous_date=previous.finished_at[:10],
        previous_score=previous.score,
        previous_verdict=previous.verdict,
        score_delta=delta(overall.score, previous.score),
        measure_deltas={m.id: delta(m.score.score, previous.measures.get(m.id)) for m in measures},
        new_findings=new,
        resolved=resolved,
        trend=[*previous.trend, (this_date, overall.score)],
        peers_median=peers.median if peers else None,
        peers_count=peers.count if peers else None,
    )


_EMAIL = re.compile(r"[^\s@(),;:]+@[^\s@(),;:]+")


def _pseudonym(user_id: str) -> str:
    # Stable within and across reports of the same tenant, so a provider can still follow up.
    return "persoon-" + hashlib.sha256(user_id.encode()).hexdigest()[:8]


def _pseudonymised(result: CheckResult, snapshot: Snapshot) -> CheckResult:
    """Replace names and addresses of people (not of apps or policies) by pseudonyms."""
    people = {u["id"] for u in snapshot.dataset("users").data or []}
    # Mailboxes are people's too (or a school's shared address): by their Exchange Guid and
    # their Entra account, in case a mailbox has no account among the users read.
    for box in snapshot.dataset("exoMailboxes").data or []:
        if isinstance(box, dict):
            people.update(str(box[k]) for k in ("Guid", "ExternalDirectoryObjectId") if box.get(k))
    affected = [
        o.model_copy(
            update={
                "display_name": (
                    _pseudonym(o.id)
                    if o.id in people
                    else _EMAIL.sub("***", o.display_name)
                    if o.display_name
                    else o.display_name
                ),
                "detail": _EMAIL.sub("***", o.detail) if o.detail else o.detail,
                "detail_parts": _scrubbed(o.detail_parts),
            }
        )
        for o in result.evidence.affected
    ]
    evidence = result.evidence.model_copy(update={"affected": affected})
    reason = _EMAIL.sub("***", result.reason) if result.reason else result.reason
    parts = _scrubbed(result.reason_parts)  # the English rendering must not bring them back
    return result.model_copy(update={"evidence": evidence, "reason": reason, "reason_parts": parts})


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return _EMAIL.sub("***", value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    return value


def _manual(attestations: list[Attestation]) -> list[ManualEntry]:
    answers = {a.id: a for a in attestations}  # the last answer for an item counts
    out = []
    for item in manual_items():
        answer = answers.get(item.id)
        out.append(
            ManualEntry(
                id=item.id,
                basismaatregelen=item.basismaatregelen,
                norms=item.norms,
                question=item.question,
                evidence_expected=item.evidence,
                status="beantwoord" if answer else "open",
                answer=answer.answer if answer else None,
                by=answer.by if answer else None,
                date=answer.date if answer else None,
                evidence=answer.evidence if answer else None,
                note=answer.note if answer else None,
            )
        )
    return out


STATUS_ORDER = [
    Status.FAIL,
    Status.PARTIAL,
    Status.UNKNOWN,
    Status.NOT_LICENSED,
    Status.ACCEPTED,
    Status.NOT_APPLICABLE,
    Status.PASS,
]
