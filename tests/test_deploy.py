"""Every container example runs as written (issue 26 finding 11, acceptance 5): the Kubernetes
manifests, the Dockerfile and every `m365apk ...` command line in README.md and docs/ are
checked against the command line's own parser; the sharded run's merge waits for every shard
(structurally, and by running the manifests' own command lines); the yearly and the monthly
round can never run on the same volume at the same time."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from pathlib import Path

import pytest
import yaml

from m365apk.cli import COMMANDS, build_parser, main
from m365apk.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
INDEX = "$(JOB_COMPLETION_INDEX)"


# --- reading the manifests ------------------------------------------------------------------


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def all_documents() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in MANIFESTS for doc in documents(path)]


def job_spec(doc: dict) -> dict:
    return doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]


def pod(doc: dict) -> dict:
    return job_spec(doc)["template"]["spec"]


def containers(doc: dict) -> list[tuple[str, dict]]:
    spec = pod(doc)
    return [("init", c) for c in spec.get("initContainers", [])] + [
        ("main", c) for c in spec["containers"]
    ]


def claims(doc: dict) -> set[str]:
    return {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod(doc)["volumes"]
        if "persistentVolumeClaim" in v
    }


def argv(container: dict) -> list[str]:
    """What m365apk receives: the image's entrypoint is `m365apk`, so `args` are its arguments
    (a `command` would replace the entrypoint and is not used by our manifests)."""
    assert "command" not in container, "a command would bypass the image's entrypoint"
    return list(container["args"])


CONTAINERS = [
    pytest.param(doc, kind, c, id=f"{path.name}:{doc['metadata']['name']}:{c['name']}")
    for path, doc in all_documents()
    for kind, c in containers(doc)
]


def parse(args: list[str]):
    """The arguments as m365apk would take them; a missing required value or an unknown option
    is a ConfigError (cli._Parser), an unknown command too."""
    return build_parser().parse_args(args)


@pytest.mark.parametrize(("doc", "kind", "container"), CONTAINERS)
def test_every_manifest_container_runs_an_m365apk_command_line(doc, kind, container) -> None:
    args = argv(container)
    if INDEX in " ".join(args):  # Kubernetes sets it in Indexed Jobs only
        assert job_spec(doc).get("completionMode") == "Indexed"
    parsed = parse([a.replace(INDEX, "0") for a in args])
    assert parsed.command in COMMANDS
    # Every path it names under a volume is mounted in this container.
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    for value in args:
        if value.startswith("/") and not value.startswith("/tmp"):
            assert any(value == m or value.startswith(m + "/") for m in mounts), (value, mounts)
    # Where it writes is writable; the read-only root needs a writable /tmp (Chromium's profile).
    read_only = {m["mountPath"] for m in container["volumeMounts"] if m.get("readOnly")}
    for option in ("--output", "--history"):
        if option in args:
            target = args[args.index(option) + 1]
            assert not any(target.startswith(m) for m in read_only), (option, target)
    if container["securityContext"].get("readOnlyRootFilesystem"):
        assert "/tmp" in mounts


@pytest.mark.parametrize(("doc", "kind", "container"), CONTAINERS)
def test_every_container_that_scans_has_its_secrets_and_makes_the_pdf(doc, kind, container) -> None:
    args = argv(container)
    if args[0] not in ("scan-all", "schedule"):
        return
    assert "--pdf" in args  # the image carries Chromium for the archive copy
    assert {"secretRef": {"name": "m365apk-credentials"}} in container.get("envFrom", [])
    assert "/config" in [m["mountPath"] for m in container["volumeMounts"]]


def test_yearly_and_monthly_rounds_never_run_at_once_on_one_volume() -> None:
    """Forbid holds within one CronJob only: two CronJobs on one volume that both fire on
    1 September made the second stop ('in gebruik door een andere scan-all', exit 2)."""
    from croniter import croniter

    cronjobs = [doc for _, doc in all_documents() if doc["kind"] == "CronJob"]
    assert cronjobs
    per_claim: dict[str, list[str]] = {}
    for doc in cronjobs:
        assert doc["spec"]["concurrencyPolicy"] == "Forbid"
        for claim in claims(doc):
            per_claim.setdefault(claim, []).append(doc["metadata"]["name"])
    assert all(len(names) == 1 for names in per_claim.values()), per_claim
    # The one CronJob covers the yearly APK of 1 September and every month's check.
    [schedule] = [doc["spec"]["schedule"] for doc in cronjobs]
    assert croniter.match(schedule, __import__("datetime").datetime(2027, 9, 1, 6, 0))
    assert croniter.match(schedule, __import__("datetime").datetime(2027, 10, 1, 6, 0))


def shard_jobs() -> list[tuple[Path, dict]]:
    return [
        (path, doc)
        for path, doc in all_documents()
        if doc["kind"] == "Job" and doc["spec"].get("completionMode") == "Indexed"
    ]


def shard_histories(doc: dict) -> list[str]:
    [(_, container)] = containers(doc)
    args = argv(container)
    history = args[args.index("--history") + 1]
    assert INDEX in history, "each shard needs its own history file"
    return [history.replace(INDEX, str(i)) for i in range(doc["spec"]["completions"])]


@pytest.mark.parametrize(
    ("path", "shards"), [pytest.param(p, d, id=d["metadata"]["name"]) for p, d in shard_jobs()]
)
def test_the_merge_waits_for_every_shard_then_rebuilds_the_overview(path, shards) -> None:
    expected = shard_histories(shards)
    args = argv(containers(shards)[0][1])
    assert int(args[args.index("--shard-count") + 1]) == shards["spec"]["completions"]
    merges = [
        (doc, kind, argv(c))
        for doc in documents(path)
        for kind, c in containers(doc)
        if argv(c)[0] == "history-merge"
    ]
    assert len(merges) == 1, "one merge, applied with the shards"
    doc, kind, merge = merges[0]
    parsed = parse(merge)
    assert sorted(map(str, parsed.sources)) == sorted(expected)  # every shard, no other file
    # It waits: --wait makes history-merge merge only when every shard has finished its round.
    assert parsed.wait is not None and parsed.wait > 0
    if doc["spec"].get("activeDeadlineSeconds"):
        assert doc["spec"]["activeDeadlineSeconds"] > parsed.wait
    assert claims(doc) == claims(shards)
    # The overview comes after the merge: an initContainer must succeed before the containers.
    assert kind == "init"
    overviews = [argv(c) for k, c in containers(doc) if k == "main"]
    assert [a[0] for a in overviews] == ["overview"]
    over = parse(overviews[0])
    assert str(over.history) == str(parsed.target)
    assert str(over.tenants).startswith("/config/")


# --- README.md, docs/ and the Dockerfile ----------------------------------------------------


def _segments(line: str) -> list[list[str]]:
    tokens = shlex.split(line, comments=True)
    out, current = [], []
    for token in tokens:
        if token in ("&&", "||", ";", "|"):
            out.append(current)
            current = []
        else:
            current.append(token)
    return [*out, current]


def code_blocks(text: str, langs: tuple[str, ...]) -> list[str]:
    """The bodies of fenced code blocks whose language is one of `langs` ("" = no language)."""
    blocks, lang, body = [], None, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if lang is None:
                lang, body = line.strip()[3:].strip(), []
            else:
                if lang in langs:
                    blocks.append("\n".join(body) + "\n")
                lang = None
        elif lang is not None:
            body.append(line)
    return blocks


SHELL = ("sh", "bash", "shell", "console", "")


def image_command() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    return json.loads(re.findall(r"^CMD\s+(.+)$", text, flags=re.MULTILINE)[-1])


def command_lines() -> list[tuple[str, str, list[str]]]:
    """(where, kind, m365apk's arguments) for every command line in a code block of README.md
    and docs/, and the commented override in the Dockerfile. kind: "shell" or "docker"."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for block in code_blocks(text, SHELL):
            for line in block.replace("\\\n", " ").splitlines():
                if not re.search(r"(^|\s)m365apk(\s|$)", line):
                    continue
                for seg in _segments(line):
                    where = f"{path.name}: {line.strip()[:60]}"
                    if seg[:1] == ["m365apk"]:
                        found.append((where, "shell", seg[1:]))
                    elif seg[:2] == ["docker", "run"]:
                        args = seg[seg.index("m365apk") + 1 :]
                        found.append((where, "docker", args or image_command()))
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for line in re.findall(r"^#\s+((?:scan-all|schedule) .+)$", docker, flags=re.MULTILINE):
        found.append(("Dockerfile comment", "docker", shlex.split(line)))
    found.append(("Dockerfile CMD", "docker", image_command()))
    return found


@pytest.mark.parametrize(
    ("where", "kind", "args"), [pytest.param(*c, id=c[0]) for c in command_lines()]
)
def test_every_documented_command_line_is_accepted(where, kind, args) -> None:
    parsed = parse(args)
    if kind == "docker" and parsed.command in ("scan-all", "schedule"):
        assert "--pdf" in args, where  # the image is built to print the PDFs
        for option, volume in (("--output", "/data"), ("--history", "/data/")):
            assert option in args and args[args.index(option) + 1].startswith(volume), where


def docs_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in DOCS)


def documented_secret_variables() -> set[str]:
    names: set[str] = set()
    for block in code_blocks(docs_text(), ("yaml",)):
        if "tenants:" in block:
            names |= set(re.findall(r"client_secret_env:\s*([A-Z0-9_]+)", block))
    return names


def test_every_docker_example_passes_the_secret_the_tenants_file_names() -> None:
    """Without `-e VOORBEELD_SECRET` the school cannot sign in: exit 4."""
    names = documented_secret_variables()
    assert names
    runs = [
        seg
        for block in code_blocks(docs_text(), SHELL)
        for line in block.replace("\\\n", " ").splitlines()
        if "docker run" in line
        for seg in _segments(line)
        if seg[:2] == ["docker", "run"]
    ]
    assert len(runs) >= 2
    for seg in runs:
        given = {seg[i + 1] for i, t in enumerate(seg[:-1]) if t in ("-e", "--env")}
        assert names <= {g.split("=")[0] for g in given}, seg


def test_inline_commands_name_real_commands_and_options() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    options = {o for p in subparsers.values() for a in p._actions for o in a.option_strings}
    for path in DOCS:
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
        for span in re.findall(r"`m365apk ([^`]*)`", text):
            words = span.split()
            if words[0].startswith("--"):
                assert words[0] in options, span
                continue
            if words[0] == "scanner":  # the app registration's name
                continue
            assert words[0] in subparsers, span
            known = {o for a in subparsers[words[0]]._actions for o in a.option_strings}
            assert {w for w in words[1:] if w.startswith("--")} <= known, span


def test_the_docs_say_where_the_image_writes() -> None:
    text = (ROOT / "docs" / "alle-scholen.md").read_text(encoding="utf-8")
    assert "schrijft alleen naar" not in docs_text()  # Chromium's profile goes to /tmp
    assert "`/tmp`" in text and "Chromium" in text


# --- the manifests' own command lines, run (volumes as folders, Graph simulated) ------------


def _local(args: list[str], root: Path, index: int | None = None) -> list[str]:
    out = []
    for a in args:
        a = a.replace("/config", str(root / "config")).replace("/data", str(root / "data"))
        out.append(a.replace(INDEX, str(index)) if index is not None else a)
    return [a for a in out if a != "--pdf"]  # the PDFs are test_container's (Chromium)


@pytest.mark.integration
def test_sharded_round_as_the_manifest_runs_it(tmp_path, monkeypatch, capsys) -> None:
    from dataclasses import replace

    from m365apk.demo.server import SimulatedGraph
    from m365apk.demo.tenant import load_profile

    [(path, shards)] = shard_jobs()
    [merge_doc] = [d for d in documents(path) if d["metadata"] != shards["metadata"]]
    [(_, shard_container)] = containers(shards)
    merge = argv(merge_doc["spec"]["template"]["spec"]["initContainers"][0])
    overview = argv(merge_doc["spec"]["template"]["spec"]["containers"][0])
    count = shards["spec"]["completions"]
    base = load_profile("weak", users=40)
    schools = [
        replace(
            base,
            tenant_id=f"{i}a1b2c3d-1111-4222-8333-44444444444{i}",
            display_name=f"School {i}",
        )
        for i in range(count)
    ]
    (tmp_path / "config").mkdir()
    (tmp_path / "data").mkdir()
    with SimulatedGraph(schools) as sim:
        entries = "".join(
            f"  - name: {t.display_name}\n    tenant_id: {t.tenant_id}\n"
            f"    client_id: {t.client_id}\n    credential: {{client_secret_env: SECRET_{i}}}\n"
            for i, t in enumerate(schools)
        )
        for i, t in enumerate(schools):
            monkeypatch.setenv(f"SECRET_{i}", t.client_secret)
        (tmp_path / "config" / "tenants.yaml").write_text(
            f"graph_url: {sim.base_url}\nlogin_url: {sim.base_url}\ntenants:\n{entries}",
            encoding="utf-8",
        )
        checks = ["--checks", "admin.global_admin_count"]
        # Two shards finished: the merge (not waiting any longer) names the missing ones and
        # merges nothing.
        for index in range(count - 2):
            assert main(_local(argv(shard_container), tmp_path, index) + checks) == 0
        capsys.readouterr()
        hurried = _local(merge, tmp_path)
        hurried[hurried.index("--wait") + 1] = "0"
        assert main(hurried) == 2
        err = capsys.readouterr().err
        for index in range(count - 2, count):
            assert f"history-shard-{index}.sqlite" in err
        assert "history-shard-0.sqlite," not in err and "niets samengevoegd" in err
        target = tmp_path / "data" / "history.sqlite"
        assert not target.exists()
        # The rest finish: the merge (as written, with its long wait) merges at once.
        for index in range(count - 2, count):
            assert main(_local(argv(shard_container), tmp_path, index) + checks) == 0
        assert main(_local(merge, tmp_path)) == 0
    with sqlite3.connect(target) as con:
        merged = sorted(r[0] for r in con.execute("SELECT tenant_id FROM scans"))
    assert merged == sorted(t.tenant_id for t in schools)
    # Consumed: next month's merge waits for next month's shards.
    assert not list((tmp_path / "data").glob("*.done"))
    assert main(_local(overview, tmp_path)) == 0
    page = (tmp_path / "data" / "overzicht.html").read_text(encoding="utf-8")
    assert all(t.display_name in page for t in schools)


def test_a_merge_of_shards_from_different_rounds_is_refused(tmp_path, capsys) -> None:
    from m365apk.runs.history import History
    from m365apk.runs.shards import write_done

    sources = []
    for index, run in enumerate(["2027-09-01", "2027-09-01", "2027-08-01"]):
        src = tmp_path / f"history-shard-{index}.sqlite"
        History(src).close()
        write_done(src, run, (index, 3), 1)
        sources.append(str(src))
    target = tmp_path / "history.sqlite"
    assert main(["history-merge", str(target), *sources, "--wait", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2027-08-01" in err and "history-shard-2" in err
    assert not target.exists()
    # A shard count that says more shards ran than were given: the missing part is named.
    assert main(["history-merge", str(target), *sources[:2], "--wait", "0"]) == 2
    assert "deel 2" in capsys.readouterr().err and not target.exists()


@pytest.mark.parametrize("wait", ["-1", "nan", "inf", "1e9"])
def test_merge_wait_out_of_range_is_one_line(tmp_path, capsys, wait) -> None:
    rc = main(["history-merge", str(tmp_path / "t.sqlite"), str(tmp_path / "s"), "--wait", wait])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--wait" in err


def test_portfolio_demo_refuses_what_only_one_school_can_use(tmp_path, capsys) -> None:
    for option in (["--users", "5"], ["--profile", "good"], ["--latency-ms", "5"]):
        rc = main(["demo", "--portfolio", "--out", str(tmp_path / "p"), *option])
        err = capsys.readouterr().err
        assert rc == 2 and option[0] in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_portfolio_demo_hands_pdf_and_language_to_its_rounds(tmp_path, monkeypatch) -> None:
    import m365apk.cli as cli

    seen: list[list[str]] = []

    def record(args) -> int:
        seen.append([args.command, str(getattr(args, "pdf", None)), getattr(args, "lang", None)])
        return 0

    for name in ("doctor", "scan-all", "history", "diff"):
        monkeypatch.setitem(cli.COMMANDS, name, record)
    rc = main(["demo", "--portfolio", "--pdf", "--lang", "en", "--out", str(tmp_path / "p")])
    assert rc == 0
    rounds = [s for s in seen if s[0] == "scan-all"]
    assert rounds == [["scan-all", "True", "en"]] * 2


def test_parse_refuses_what_kubernetes_would_run_wrongly() -> None:
    """The checker itself: a missing required value or an unknown option fails."""
    with pytest.raises(ConfigError):
        parse(["schedule", "/config/tenants.yaml"])  # --cron is required
    with pytest.raises(ConfigError):
        parse(["history-merge", "/data/h.sqlite", "--wait"])
    with pytest.raises(ConfigError):
        parse(["overview", "/config/tenants.yaml", "--pdf"])
