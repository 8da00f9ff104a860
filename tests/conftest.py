from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from m365apk.scanner.graph import GraphClient, GraphSettings


class StaticCredential:
    """A credential that hands out a fixed token: unit tests exercise the pipeline, not Entra."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.calls += 1
        return AccessToken("test-token", int(time.time()) + 3600)


@pytest.fixture(autouse=True)
def fresh_app_buckets() -> None:
    """Each test starts as a fresh process does: the app-wide buckets (Graph's limits per app
    for all tenants, shared by every tenant this process reads) full. Without this, the tests
    of one module, all reading their module's simulator, would wait on one another's
    signInActivity pages."""
    from m365apk.scanner import pacing

    pacing.forget_app_buckets()
    pacing.set_app_share(1.0)  # a sharded scan-all in an earlier test set a part


FAST = dict(
    backoff_seconds=0.01,
    backoff_max_seconds=0.05,
    jitter_seconds=0.0,
    audit_probe_poll_seconds=0.01,
)


@pytest.fixture
def graph_client() -> GraphClient:
    return GraphClient(StaticCredential(), GraphSettings(**FAST))


@pytest.fixture(scope="session")
def demo_reports(tmp_path_factory) -> dict[str, Any]:
    """report.json of `m365apk demo` for the weak, good and board schools, run once for every
    test that reads the demo's words (test_messages, test_report_text)."""
    from m365apk.cli import main
    from m365apk.reports.model import Report

    out = {}
    for profile in ("weak", "good", "board"):
        folder = tmp_path_factory.mktemp(f"demo-{profile}")
        assert main(["demo", "--profile", profile, "--out", str(folder), "--quiet"]) == 0
        out[profile] = Report.model_validate_json((folder / "report.json").read_text("utf-8"))
    return out


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The trust suite's matrix (tests/test_trust_suite.py), when it ran in this session."""
    import sys

    suite = sys.modules.get("tests.trust.suite")
    report = getattr(suite, "REPORT", None)
    if not report:  # run in a pytest-xdist worker: its summary file in the run's base folder
        factory = getattr(terminalreporter.config, "_tmp_path_factory", None)
        summary = factory.getbasetemp() / "trust-suite-summary.txt" if factory else None
        if summary is not None and summary.is_file():
            report = [summary.read_text("utf-8").rstrip("\n")]
    if report:
        terminalreporter.write_sep("=", "trust suite: checks x transformations (run/violations)")
        for block in report:
            terminalreporter.write_line(block)


@pytest.fixture(scope="session")
def portfolio_demo(tmp_path_factory) -> tuple[Any, str]:
    """`m365apk demo --portfolio`, run once for every test that reads the provider's flow or its
    overview (test_layout, test_overview, test_archive_access): (folder, what it printed)."""
    import contextlib
    import io

    from m365apk.cli import main

    out = tmp_path_factory.mktemp("portfolio")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["demo", "--portfolio", "--out", str(out)]) == 0
    return out, buffer.getvalue()
