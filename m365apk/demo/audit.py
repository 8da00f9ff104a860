"""The simulated Purview audit log search (Graph's audit log query API), for `--audit-probe`.

Like Graph, a query is created by POST and runs asynchronously: it is `notStarted`, then
`running`, then `succeeded`, one step per status read, after which its records can be listed.
How many records a school's log holds per week comes from its profile (`unified_audit_log`);
0 is a tenant whose audit log is switched off.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

STEPS = ("notStarted", "running", "succeeded")


class AuditSearch:
    def __init__(self, records_per_week: int) -> None:
        self.records_per_week = records_per_week
        self._queries: dict[str, dict[str, Any]] = {}
        self._reads: dict[str, int] = {}
        self._lock = threading.Lock()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        query = {
            "@odata.type": "#microsoft.graph.security.auditLogQuery",
            "id": str(uuid.uuid4()),
            "displayName": body.get("displayName"),
            "filterStartDateTime": body.get("filterStartDateTime"),
            "filterEndDateTime": body.get("filterEndDateTime"),
            "recordTypeFilters": body.get("recordTypeFilters") or [],
            "keywordFilter": body.get("keywordFilter"),
            "serviceFilters": body.get("serviceFilters") or [],
            "operationFilters": body.get("operationFilters") or [],
            "userPrincipalNameFilters": body.get("userPrincipalNameFilters") or [],
            "ipAddressFilters": body.get("ipAddressFilters") or [],
            "objectIdFilters": body.get("objectIdFilters") or [],
            "administrativeUnitIdFilters": body.get("administrativeUnitIdFilters") or [],
            "status": STEPS[0],
        }
        with self._lock:
            self._queries[query["id"]] = query
            self._reads[query["id"]] = 0
        return query

    def get(self, query_id: str) -> dict[str, Any] | None:
        with self._lock:
            query = self._queries.get(query_id)
            if query is None:
                return None
            self._reads[query_id] += 1
            query["status"] = STEPS[min(self._reads[query_id], len(STEPS) - 1)]
            return dict(query)

    def records(self, query_id: str, top: int) -> list[dict[str, Any]] | None:
        with self._lock:
            query = self._queries.get(query_id)
        if query is None:
            return None
        count = min(top, self.records_per_week)
        return [
            {
                "id": str(uuid.UUID(int=i + 1)),
                "createdDateTime": query["filterEndDateTime"],
                "auditLogRecordType": "exchangeItem",
                "operation": "MailItemsAccessed",
                "organizationId": None,
                "userType": "regular",
                "userId": "leraar@school.example",
                "service": "Exchange",
                "objectId": None,
                "userPrincipalName": "leraar@school.example",
                "clientIp": "192.0.2.10",
                "administrativeUnits": [],
                "auditData": {
                    "@odata.type": "#microsoft.graph.security.exchangeMailboxAuditRecord"
                },
            }
            for i in range(count)
        ]
