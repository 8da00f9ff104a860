"""Collect what the selected checks need into a snapshot. One tenant, one client, no sharing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime

from m365apk import __version__
from m365apk.errors import AuthError
from m365apk.scanner.audit_probe import probe_unified_audit_log
from m365apk.scanner.datasets import BASE_DATASETS, DATASETS, DatasetSpec, at_time
from m365apk.scanner.dns import collect_mail_dns
from m365apk.scanner.graph import GraphClient, endpoint
from m365apk.snapshot import Dataset, DatasetStatus, LicenceSummary, Snapshot, TenantInfo, ToolInfo
from m365apk.snapshot.licences import summarise
from m365apk.snapshot.model import OPT_IN_NOT_ASKED
from m365apk.snapshot.settings import TenantSettings

Progress = Callable[[str, Dataset], None]


def needed_datasets(names: Iterable[str]) -> list[str]:
    """The named datasets, the base ones, and everything they depend on."""
    wanted = set(BASE_DATASETS) | set(names)
    pending = list(wanted)
    while pending:
        spec = DATASETS[pending.pop()]
        for dep in (*spec.depends_on, *spec.soft_depends_on):
            if dep not in wanted:
                wanted.add(dep)
                pending.append(dep)
    return sorted(wanted)


# Read first: the licences (gated endpoints wait for them), the conditional-access bucket
# (1 request per second per tenant: its second read waits a second after the first), the
# per-user lists that run to many pages, and what fan-outs take their keys from.
_FIRST = (
    "subscribedSkus",
    "conditionalAccessPolicies",
    "users",
    "userRegistrationDetails",
    "userSignInActivity",
    "roleAssignments",
    "resourceServicePrincipals",
    "groups",
    "organization",
)


def _priority(name: str) -> tuple[int, str]:
    return (_FIRST.index(name), "") if name in _FIRST else (len(_FIRST), name)


def _skipped(spec: DatasetSpec, why: str) -> Dataset:
    return Dataset(
        status=DatasetStatus.NOT_COLLECTED,
        endpoint=endpoint(spec),
        permission=spec.permission,
        error_message=why,
    )


def _not_asked(spec: DatasetSpec) -> Dataset:
    """An opt-in read (DatasetSpec.opt_in) the scan was not asked for: not collected, saying
    which option asks for it (checks.base.not_asked says it in the report's language)."""
    return Dataset(
        status=DatasetStatus.NOT_COLLECTED,
        endpoint=endpoint(spec),
        permission=spec.permission,
        error_code=OPT_IN_NOT_ASKED,
        error_message=f"niet gevraagd: de scan liep zonder --{spec.opt_in}",
    )


_GATES = {
    "p1": ("Microsoft Entra ID P1", lambda lic: lic.entra_plan in ("p1", "p2")),
    "p2": ("Microsoft Entra ID P2", lambda lic: lic.entra_plan == "p2"),
    "intune": ("Microsoft Intune", lambda lic: lic.intune),
}


def _missing_licence(spec: DatasetSpec, licences: LicenceSummary) -> str | None:
    """The licence the tenant visibly lacks for this endpoint; None when unknown or present."""
    if not spec.gate or not licences.known:
        return None  # unknown licences: ask Graph and let its answer decide
    name, present = _GATES[spec.gate]
    return None if present(licences) else name


def _unlicensed(spec: DatasetSpec, licence: str) -> Dataset:
    return Dataset(
        status=DatasetStatus.NOT_LICENSED,
        endpoint=endpoint(spec),
        permission=spec.permission,
        error_code="licence_not_in_subscribedSkus",
        error_message=f"niet opgevraagd: geen {licence} in de licenties van de tenant",
        missing_licence=licence,
    )


class _Deadline:
    """The tenant's deadline: `limit` seconds from the start plus the time its requests stood
    in line behind other tenants of the app (`in_line`), rechecked every few seconds."""

    RECHECK_SECONDS = 5.0

    def __init__(self, limit: float | None, in_line: Callable[[], float]) -> None:
        self.limit, self.in_line = limit, in_line
        self.start = asyncio.get_running_loop().time()
        self.open: set[asyncio.Timeout] = set()

    def at(self) -> float | None:
        return None if self.limit is None else self.start + self.limit + self.in_line()

    @contextlib.asynccontextmanager
    async def timeout(self) -> AsyncIterator[None]:
        async with asyncio.timeout_at(self.at()) as scope:
            self.open.add(scope)
            try:
                yield
            finally:
                self.open.discard(scope)

    async def keep(self) -> None:
        """Move the open timeouts on by the time in line; returns when there is no limit."""
        if self.limit is None:
            return
        while True:
            await asyncio.sleep(self.RECHECK_SECONDS)
            when = self.at()
            for scope in list(self.open):
                if not scope.expired():
                    scope.reschedule(when)


def _timed_out(spec: DatasetSpec, seconds: float | None) -> Dataset:
    return Dataset(
        status=DatasetStatus.ERROR,
        endpoint=endpoint(spec),
        permission=spec.permission,
        error_code="deadline",
        error_message=f"time-out: de scan van deze tenant duurde langer dan {seconds:.0f} s",
    )


async def collect(
    client: GraphClient,
    dataset_names: Iterable[str],
    *,
    tenant_id: str,
    source: str,
    progress: Progress | None = None,
    settings: TenantSettings | None = None,
    app_id: str | None = None,
) -> Snapshot:
    started = time.monotonic()
    collected_at = datetime.now(UTC).replace(microsecond=0)
    names = needed_datasets(dataset_names)
    client.tenant_id = tenant_id  # the Exchange Admin API's URLs name the tenant
    done: dict[str, Dataset] = {}
    # One deadline for the whole tenant: what is still unread then is unknown ("time-out"),
    # and the report is written with what was read. Time spent in line behind the app's other
    # tenants (scan-all: Graph's limits per app for all tenants) does not count: it moves the
    # deadline on (`_Deadline`).
    limit = client.settings.deadline_seconds
    deadline = _Deadline(limit, client.time_in_line)

    async def read(name: str) -> None:
        spec = at_time(DATASETS[name], collected_at)
        try:
            async with deadline.timeout():
                if spec.source == "dns":
                    result = await collect_mail_dns(
                        done["domains"],
                        dns_server=client.settings.dns_server,
                        graph_base_url=client.settings.base_url,
                        accepted=done.get("exoAcceptedDomains"),
                    )
                elif spec.source == "exchange":
                    result = await client.exchange().dataset(spec)
                elif spec.source == "audit_probe":  # only needed, so only run, when chosen
                    result = await probe_unified_audit_log(client, collected_at)
                elif spec.fan_out:
                    assert spec.keys is not None
                    keys = spec.keys(done)
                    result = (
                        _skipped(spec, keys)
                        if isinstance(keys, str)
                        else await client.fan_out(spec, keys)
                    )
                else:
                    result = await client.dataset(spec)
        except TimeoutError:
            result = _timed_out(spec, limit)
        if name == "users" and result.ok:
            # The tenant's size sets its directory limit (S/M/L): known now, before the
            # fan-outs that need the pace.
            client.set_user_count(len(result.data or ()))
        done[name] = result
        if progress:
            progress(name, result)

    # Every dataset starts as soon as what it needs is in: the licences for a gated endpoint
    # (they decide whether it is worth asking), the datasets a fan-out reads its keys from.
    # Tasks reach the client's concurrency slots in the order they are created, so the ones
    # that set the scan's length go first (`_priority`).
    finished = {name: asyncio.Event() for name in names}
    licences = LicenceSummary()

    async def start(name: str) -> None:
        nonlocal licences
        spec = DATASETS[name]
        if spec.opt_in and spec.opt_in not in client.settings.opt_in:
            done[name] = _not_asked(at_time(spec, collected_at))
            if progress:
                progress(name, done[name])
            finished[name].set()
            return
        for dep in (*spec.depends_on, *spec.soft_depends_on):
            await finished[dep].wait()
        if spec.gate:
            await finished["subscribedSkus"].wait()
            missing = _missing_licence(spec, licences)
            if missing:
                done[name] = _unlicensed(at_time(spec, collected_at), missing)
                if progress:
                    progress(name, done[name])
                finished[name].set()
                return
        await read(name)  # raises only when sign-in fails: then nothing waits on this any more
        if name == "subscribedSkus":
            skus = done["subscribedSkus"]
            licences = summarise(skus.data if skus.ok else None)
        finished[name].set()

    # A task group, not gather: when sign-in fails (AuthError) every other read is cancelled
    # and awaited before the client closes, instead of running on against a closed client.
    watch = asyncio.create_task(deadline.keep())
    try:
        async with asyncio.TaskGroup() as group:
            for name in sorted(names, key=_priority):
                group.create_task(start(name))
    except* AuthError as failed:
        raise failed.exceptions[0] from None
    finally:
        watch.cancel()
    client.stats.duration_seconds = round(time.monotonic() - started, 3)
    client.stats.in_line_seconds = round(client.time_in_line(), 3)
    return Snapshot(
        tool=ToolInfo(version=__version__, app_id=app_id),
        tenant=_tenant(tenant_id, done.get("organization")),
        collected_at=collected_at,
        source=source,
        graph_base_url=client.settings.base_url,
        datasets=done,
        licences=licences,
        stats=client.stats,
        settings=settings or TenantSettings(),
    )


def _tenant(tenant_id: str, org: Dataset | None) -> TenantInfo:
    if org is None or not org.ok or not org.data:
        return TenantInfo(tenant_id=tenant_id)
    first = org.data[0]
    domains = first.get("verifiedDomains") or []
    default = next((d["name"] for d in domains if d.get("isDefault")), None)
    return TenantInfo(
        tenant_id=tenant_id,  # the tenant we were asked to scan, not what a response claims
        display_name=first.get("displayName"),
        default_domain=default,
    )
