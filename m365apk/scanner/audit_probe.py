"""Is the Microsoft 365 unified audit log recording? Opt-in (`--audit-probe`).

Graph cannot show the audit log's switch, but its audit log query API can show that records exist
for a recent window: create a query (POST /security/auditLog/queries, AuditLogsQuery.Read.All),
wait until it has run, and read at most one record. The query is an object that stays in the
tenant's Purview audit search history, which is why the school or its provider must ask for it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.security.audit_log_query import AuditLogQuery
from msgraph.generated.models.security.audit_log_query_status import AuditLogQueryStatus
from msgraph.generated.security.audit_log.queries.item.records.records_request_builder import (
    RecordsRequestBuilder,
)

from m365apk.scanner.graph import GraphClient, classify
from m365apk.snapshot import Dataset, DatasetStatus

WINDOW = timedelta(days=7)
ENDPOINT = "POST /v1.0/security/auditLog/queries, daarna GET .../queries/{id} en .../records"
PERMISSION = "AuditLogsQuery.Read.All"
DONE = {AuditLogQueryStatus.Succeeded}
STOPPED = {AuditLogQueryStatus.Failed, AuditLogQueryStatus.Cancelled}


def _dataset(status: DatasetStatus, data: Any = None, **error: Any) -> Dataset:
    return Dataset(status=status, endpoint=ENDPOINT, permission=PERMISSION, data=data, **error)


async def probe_unified_audit_log(client: GraphClient, now: datetime) -> Dataset:
    settings = client.settings
    start, end = now - WINDOW, now
    queries = client.sdk.security.audit_log.queries
    try:
        created = await queries.post(
            AuditLogQuery(
                display_name=f"m365apk APK-controle {now:%Y-%m-%d}",
                filter_start_date_time=start,
                filter_end_date_time=end,
                record_count_limit=1,  # one record proves the log records; keep the query cheap
            )
        )
        if created is None or not created.id:
            return _dataset(DatasetStatus.ERROR, error_message="Graph gaf geen zoekopdracht terug")
        item = queries.by_audit_log_query_id(created.id)
        status = created.status
        waited = 0.0
        while status not in DONE:
            if status in STOPPED:
                return _dataset(
                    DatasetStatus.ERROR,
                    error_code=str(status.value if status else "unknown"),
                    error_message="de zoekopdracht in het auditlog is afgebroken",
                )
            if waited >= settings.audit_probe_wait_seconds:
                return _dataset(
                    DatasetStatus.ERROR,
                    error_code="time-out",
                    error_message=f"de zoekopdracht in het auditlog liep na {waited:.0f} s nog",
                )
            await asyncio.sleep(settings.audit_probe_poll_seconds)
            waited += settings.audit_probe_poll_seconds
            current = await item.get()
            status = current.status if current else None
        config: RequestConfiguration = RequestConfiguration()
        config.query_parameters = RecordsRequestBuilder.RecordsRequestBuilderGetQueryParameters(
            top=1
        )
        records = await item.records.get(config)
    except Exception as exc:  # every Graph answer becomes a dataset status, never a crash
        outcome = classify(exc)
        return _dataset(
            outcome.status,
            http_status=outcome.http_status,
            error_code=outcome.error_code,
            error_message=outcome.error_message,
        )
    found = len((records.value if records else None) or [])
    return _dataset(
        DatasetStatus.OK,
        data={
            "queryId": created.id,
            "windowStart": start.isoformat(),
            "windowEnd": end.isoformat(),
            "recordsFound": found,
        },
    )
