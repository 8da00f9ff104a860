"""The README stays current: every check is in its table, every command it shows exists."""

from __future__ import annotations

import re
from pathlib import Path

from m365apk.checks.registry import all_checks
from m365apk.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_check_is_in_the_readme_table() -> None:
    listed = set(re.findall(r"^\| `([a-z0-9_.]+)` \|", README, flags=re.MULTILINE))
    assert {c.id for c in all_checks(opt_in=True)} <= listed


def test_every_command_in_the_readme_exists() -> None:
    used = set(re.findall(r"\bm365apk ([a-z][a-z-]+)", README))
    assert used <= set(COMMANDS) | {"scanner"}, used - set(COMMANDS)
    assert "pip install . && m365apk demo" in README
    assert "./scripts/test.sh" in README  # the test command, which CI runs exactly
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().endswith("\nexec ./scripts/test.sh")
