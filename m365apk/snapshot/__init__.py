"""The snapshot: the contract between collection (scanner) and the checks.

Imports only the standard library, pydantic and `m365apk.errors`; every layer above may import it.
"""

from .model import (
    SNAPSHOT_SCHEMA_VERSION,
    UNREADABLE,
    CollectionStats,
    Dataset,
    DatasetStatus,
    LicenceSummary,
    Snapshot,
    TenantInfo,
    ToolInfo,
)
from .settings import TenantSettings

__all__ = [
    "SNAPSHOT_SCHEMA_VERSION",
    "UNREADABLE",
    "CollectionStats",
    "Dataset",
    "DatasetStatus",
    "LicenceSummary",
    "Snapshot",
    "TenantInfo",
    "TenantSettings",
    "ToolInfo",
]
