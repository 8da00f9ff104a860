"""Collect what the selected checks need into a snapshot. One tenant, one client, no sharing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from m365apk import __version__

from .datasets import BASE_DATASETS, DATASETS, DatasetSpec
from .graph import GraphClient, endpoint
from .licences import summarise
from .snapshot import Dataset, DatasetStatus, Snapshot, TenantInfo, ToolInfo

Progress = Callable[[str, Dataset], None]


def needed_datasets(names: Iterable[str]) -> list[str]:
    """The named datasets, the base ones, and everything they depend on."""
    wanted = set(BASE_DATASETS) | set(names)
    pending = list(wanted)
    while pending:
        for dep in DATASETS[pending.pop()].depends_on:
            if dep not in wanted:
                wanted.add(dep)
                pending.append(dep)
    return sorted(wanted)


def _skipped(spec: DatasetSpec, why: str) -> Dataset:
    return Dataset(
        status=DatasetStatus.NOT_COLLECTED,
        endpoint=endpoint(spec),
        permission=spec.permission,
        error_message=why,
    )


async def collect(
    client: GraphClient,
    dataset_names: Iterable[str],
    *,
    tenant_id: str,
    source: str,
    progress: Progress | None = None,
) -> Snapshot:
    started = time.monotonic()
    collected_at = datetime.now(UTC).replace(microsecond=0)
    names = needed_datasets(dataset_names)
    done: dict[str, Dataset] = {}

    async def read(name: str) -> None:
        spec = DATASETS[name]
        if spec.fan_out:
            assert spec.keys is not None
            keys = spec.keys(done)
            result = (
                _skipped(spec, keys) if isinstance(keys, str) else await client.fan_out(spec, keys)
            )
        else:
            result = await client.dataset(spec)
        done[name] = result
        if progress:
            progress(name, result)

    # Plain endpoints all at once (the client bounds concurrency), then fan-outs in waves
    # once what they depend on is in.
    await asyncio.gather(*(read(n) for n in names if not DATASETS[n].fan_out))
    remaining = [n for n in names if DATASETS[n].fan_out]
    while remaining:
        ready = [n for n in remaining if all(d in done for d in DATASETS[n].depends_on)]
        await asyncio.gather(*(read(n) for n in ready))
        remaining = [n for n in remaining if n not in ready]

    client.stats.duration_seconds = round(time.monotonic() - started, 3)
    return Snapshot(
        tool=ToolInfo(version=__version__),
        tenant=_tenant(tenant_id, done.get("organization")),
        collected_at=collected_at,
        source=source,
        graph_base_url=client.settings.base_url,
        datasets=done,
        licences=summarise(done["subscribedSkus"].data if done["subscribedSkus"].ok else None),
        stats=client.stats,
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
