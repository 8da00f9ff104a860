"""`m365apk setup` prints Microsoft Graph's real app-role ids (mappings/graph_app_roles.yaml),
not placeholders: one per permission the scanner can ask for, each a GUID, none shared."""

from __future__ import annotations

import re

import pytest

from m365apk.cli import main
from m365apk.runs.setup import graph_app_role_ids
from m365apk.scanner.datasets import DATASETS, PERMISSION_PURPOSE, permissions_for
from tests.test_cli_words import tenants_file

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def needed() -> set[str]:
    """Everything setup can be asked to print: every dataset's permissions, and the purposes."""
    return set(permissions_for(list(DATASETS))) | set(PERMISSION_PURPOSE)


def test_every_permission_the_scanner_needs_has_an_id() -> None:
    assert needed() <= set(graph_app_role_ids()), sorted(needed() - set(graph_app_role_ids()))


def test_every_id_is_a_guid_and_none_is_shared() -> None:
    ids = graph_app_role_ids()
    assert all(GUID.match(i) for i in ids.values()), ids
    assert len(set(ids.values())) == len(ids)


def test_setup_prints_real_ids_and_no_placeholder(tmp_path, capsys) -> None:
    assert main(["setup", str(tenants_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "<id van" not in out
    ids = graph_app_role_ids()
    for permission in permissions_for(list(DATASETS)):
        assert f'"id": "{ids[permission]}"' in out  # the manifest
        assert f"{ids[permission]}=Role  # {permission}" in out  # the az line


@pytest.mark.parametrize(
    "permission, role_id",
    [
        ("User.Read.All", "df021288-bdef-4463-88db-98f22de89214"),
        ("Directory.Read.All", "7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
        ("Policy.Read.All", "246dd0d5-5bd0-4def-940b-0421030a5b68"),
    ],
)
def test_well_known_ids_match_microsofts_reference(permission, role_id) -> None:
    """Literal application (not delegated) ids from Microsoft's permissions reference,
    https://learn.microsoft.com/graph/permissions-reference (its generated id table,
    microsoftgraph/microsoft-graph-docs-contrib concepts/includes/permissions-ids.md, rows
    "User.Read.All | Application | df021288-...", "Directory.Read.All | Application | 7ab1d382-...",
    "Policy.Read.All | Application | 246dd0d5-..."), checked 2026-11-27."""
    assert graph_app_role_ids()[permission] == role_id
