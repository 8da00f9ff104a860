"""The container as it would run: the Dockerfile's own entrypoint and command line, a
non-root user, the /config and /data volumes (here: folders), the simulated Graph over
loopback, Chromium printing bestuursrapport.pdf and bijlage.pdf as the image's own does. And
the Kubernetes manifests as Kubernetes objects."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import load_profile

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


def instruction(name: str) -> str:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    found = re.findall(rf"^{name}\s+(.+)$", text, flags=re.MULTILINE)
    assert found, name
    return found[-1].strip()


def test_dockerfile_runs_as_non_root_without_baked_secrets() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert instruction("USER") not in ("root", "0")
    assert "/data" in instruction("VOLUME")
    assert not re.search(r"(?i)^(ENV|ARG).*(SECRET|PASSWORD|TOKEN)", text, flags=re.MULTILINE)
    assert "slim" in instruction("FROM")


def as_container_user() -> list[str]:
    """Run as an unprivileged uid when this interpreter is reachable for it (as in the image),
    else as the current user, which in CI is already the unprivileged one or root."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return []
    probe = subprocess.run(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            sys.executable,
            "-c",
            "import m365apk.cli",
        ],
        capture_output=True,
    )
    if probe.returncode != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def volumes() -> Iterator[Path]:
    """Folders the container user can reach (pytest's own tmp folders are private to us)."""
    folder = Path(tempfile.mkdtemp(prefix="m365apk-volumes-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_entrypoint_command_line_with_volumes(volumes: Path) -> None:
    tmp_path = volumes
    config, data = tmp_path / "config", tmp_path / "data"
    config.mkdir(mode=0o755)
    data.mkdir()
    data.chmod(0o777)
    tenant = load_profile("weak")
    argv = json.loads(instruction("ENTRYPOINT")) + json.loads(instruction("CMD"))
    argv = [a.replace("/config", str(config)).replace("/data", str(data)) for a in argv]
    assert argv[0] == "m365apk" and "--pdf" in argv  # the archive copy, made in the image
    with SimulatedGraph(tenant) as sim:
        (config / "tenants.yaml").write_text(
            f"graph_url: {sim.base_url}\nlogin_url: {sim.base_url}\n"
            "tenants:\n"
            f"  - name: {tenant.display_name}\n    tenant_id: {tenant.tenant_id}\n"
            f"    client_id: {tenant.client_id}\n"
            "    credential: {client_secret_env: APK_SECRET}\n",
            encoding="utf-8",
        )
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "APK_SECRET": tenant.client_secret,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if os.environ.get("M365APK_CHROMIUM"):  # a browser scripts/test.sh found off PATH
            env["M365APK_CHROMIUM"] = os.environ["M365APK_CHROMIUM"]
        command = [*as_container_user(), sys.executable, "-m", "m365apk.cli", *argv[1:]]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (data / "history.sqlite").is_file() and (data / "overzicht.html").is_file()
    reports = list(data.glob(f"*-{tenant.tenant_id[:8]}/*/report.html"))
    assert len(reports) == 1
    # Printed by Chromium as the image does: the board document and the appendix.
    board = PdfReader(reports[0].parent / "bestuursrapport.pdf")
    text = " ".join(page.extract_text() for page in board.pages)
    assert 1 <= len(board.pages) <= 4 and tenant.display_name in text and "Pagina 1 van" in text
    appendix = PdfReader(reports[0].parent / "bijlage.pdf")
    assert len(appendix.pages) > 3 and "Technische bijlage" in appendix.pages[0].extract_text()
    with sqlite3.connect(data / "history.sqlite") as con:
        assert con.execute("SELECT outcome FROM scans").fetchall() == [("ok",)]
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines and all(line["tenant_id"] == tenant.tenant_id for line in lines)
    assert tenant.client_secret not in result.stderr + result.stdout
    assert list(config.iterdir()) == [config / "tenants.yaml"]  # nothing written to /config


def manifests() -> list[dict]:
    docs = []
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def pod_spec(doc: dict) -> dict:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: d["metadata"]["name"])
def test_kubernetes_manifests_are_valid_objects(doc: dict) -> None:
    assert doc["apiVersion"] == "batch/v1" and doc["kind"] in ("CronJob", "Job")
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
    if doc["kind"] == "CronJob":
        from croniter import croniter

        assert croniter.is_valid(doc["spec"]["schedule"])
    pod = pod_spec(doc)
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert pod["securityContext"]["runAsNonRoot"] is True
    volumes = {v["name"] for v in pod["volumes"]}
    for container in pod["containers"]:
        assert container["image"] and all(isinstance(a, str) for a in container["args"])
        assert {m["name"] for m in container["volumeMounts"]} <= volumes
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        from m365apk.cli import build_parser

        args = [a.replace("$(JOB_COMPLETION_INDEX)", "0") for a in container["args"]]
        build_parser().parse_args(args)  # the arguments are ones m365apk accepts
    if doc["spec"].get("completionMode") == "Indexed":
        args = pod["containers"][0]["args"]
        shards = int(args[args.index("--shard-count") + 1])
        assert doc["spec"]["completions"] == shards
        assert "$(JOB_COMPLETION_INDEX)" in args
