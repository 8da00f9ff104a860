"""The `m365apk` command. User mistakes get one line and an exit code, never a traceback.

Exit codes: 0 done, 2 usage or configuration error, 3 authentication or permission error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from pathlib import Path

from m365apk import __version__
from m365apk.checks.base import Check
from m365apk.checks.exceptions import ExceptionsError, load_exceptions
from m365apk.checks.manual import AttestationError, load_attestations
from m365apk.checks.registry import CheckLoadError, all_checks, select_checks
from m365apk.mappings.loader import MappingError, load_mappings
from m365apk.scanner.datasets import permissions_for

from .auth import CredentialSpec
from .errors import ConfigError, M365ApkError
from .graph import GRAPH_URL, GraphSettings
from .progress import ProgressDisplay
from .scan import ReportOptions, ScanOutput, consent_problem, report_from_snapshot, run_scan
from .settings import load_settings
from .snapshot import Snapshot

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit 2 with usage; keep it short
        raise ConfigError(f"{message} (zie m365apk {self.prog.split()[-1]} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="m365apk", description="M365 APK: technische check van een schooltenant")
    parser.add_argument("--version", action="version", version=f"m365apk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="scan een gesimuleerde schooltenant (geen account nodig)")
    demo.add_argument("--profile", default="weak", help="weak, good of board (standaard: weak)")
    demo.add_argument("--users", type=int, help="aantal gebruikers in de gesimuleerde tenant")
    demo.add_argument("--latency-ms", type=float, default=0.0, help="gesimuleerde vertraging")
    demo.add_argument("--out", type=Path, help="uitvoermap (standaard ./apk-demo-PROFIEL)")
    _common(demo)

    scan = sub.add_parser("scan", help="scan een echte tenant via Microsoft Graph")
    scan.add_argument("--tenant-id", required=True, help="tenant-id (GUID) van de school")
    scan.add_argument("--client-id", help="applicatie-id van de app-registratie")
    cred = scan.add_mutually_exclusive_group()
    cred.add_argument("--certificate", type=Path, help="PEM-bestand met certificaat en sleutel")
    cred.add_argument("--client-secret-env", metavar="VAR", help="variabele met het geheim")
    cred.add_argument("--managed-identity", action="store_true", help="gebruik managed identity")
    scan.add_argument("--certificate-password-env", metavar="VAR")
    scan.add_argument("--graph-url", default=GRAPH_URL, help=argparse.SUPPRESS)
    scan.add_argument("--max-concurrency", type=int, default=4)
    scan.add_argument("--out", type=Path, help="uitvoermap (standaard ./apk-TENANT-DATUM)")
    _common(scan)

    ev = sub.add_parser("evaluate", help="beoordeel een opgeslagen snapshot opnieuw (offline)")
    ev.add_argument("snapshot", type=Path)
    ev.add_argument("--out", type=Path, required=True)
    _common(ev)

    checks = sub.add_parser("checks", help="toon alle controles")
    checks.add_argument("--json", action="store_true")
    perms = sub.add_parser("permissions", help="toon de benodigde Graph-toepassingsmachtigingen")
    perms.add_argument("--checks", help="alleen voor deze check-id's (kommagescheiden)")
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checks", help="alleen deze check-id's (kommagescheiden)")
    p.add_argument("--quiet", action="store_true", help="geen voortgang tonen")
    p.add_argument(
        "--mappings",
        type=Path,
        action="append",
        default=[],
        metavar="YAML",
        help="extra kader of eigen koppelingen (herhaalbaar)",
    )
    p.add_argument(
        "--tenant-config",
        type=Path,
        metavar="YAML",
        help="tenant-instellingen: noodaccounts, goedgekeurde uitzonderingen, populaties",
    )
    p.add_argument("--pdf", action="store_true", help="ook report.pdf maken (vereist Chromium)")
    p.add_argument(
        "--pseudonymise",
        action="store_true",
        help="namen en e-mailadressen van personen in de rapporten vervangen door pseudoniemen",
    )
    p.add_argument(
        "--attestations",
        type=Path,
        metavar="YAML",
        help="antwoorden op de handmatige controlepunten (antwoord, wie, wanneer, bewijs)",
    )
    p.add_argument(
        "--exceptions",
        type=Path,
        metavar="YAML",
        help="geaccepteerde risico's van deze school (reden, wie, einddatum)",
    )


def _report_options(args: argparse.Namespace) -> ReportOptions:
    try:
        mappings = load_mappings(args.mappings) if args.mappings else None
        exceptions = tuple(load_exceptions(args.exceptions)) if args.exceptions else ()
        attestations = tuple(load_attestations(args.attestations)) if args.attestations else ()
    except (MappingError, ExceptionsError, AttestationError) as exc:
        raise ConfigError(str(exc)) from None
    return ReportOptions(
        mappings=mappings,
        exceptions=exceptions,
        attestations=attestations,
        pdf=args.pdf,
        pseudonymise=args.pseudonymise,
    )


def _checks(arg: str | None) -> list[Check]:
    ids = [x.strip() for x in arg.split(",") if x.strip()] if arg else None
    return select_checks(all_checks(), ids)


def _announce(output: ScanOutput, progress: ProgressDisplay) -> None:
    report = output.report
    score = "niet vastgesteld" if report.overall.score is None else f"{report.overall.score}/100"
    progress.say(f"APK-score: {score} ({report.overall.coverage_text})")
    if output.snapshot.partial:
        progress.say("Let op: onvolledige scan; het rapport zegt wat niet gelezen kon worden.")
    for kind in ("html", "pdf", "json", "snapshot"):
        if kind in output.paths:
            print(output.paths[kind].resolve())


def cmd_demo(args: argparse.Namespace) -> int:
    from m365apk.demo.server import SimulatedGraph
    from m365apk.demo.tenant import available_profiles, demo_settings, load_profile

    from .auth import LoopbackClientSecretCredential

    if args.profile not in available_profiles():
        raise ConfigError(
            f"onbekend profiel {args.profile!r}; kies uit {', '.join(available_profiles())}"
        )
    if args.users is not None and args.users < 1:
        raise ConfigError("--users moet minstens 1 zijn")
    checks = _checks(args.checks)
    options = _report_options(args)
    progress = ProgressDisplay(quiet=args.quiet)
    tenant = load_profile(args.profile, users=args.users)
    tenant_settings = (
        load_settings(args.tenant_config) if args.tenant_config else demo_settings(args.profile)
    )
    out = args.out or Path(f"apk-demo-{args.profile}")
    with SimulatedGraph(tenant, latency_ms=args.latency_ms) as sim:
        progress.say(f"Gesimuleerde tenant '{tenant.display_name}' op {sim.base_url}")
        credential = LoopbackClientSecretCredential(
            sim.token_url, tenant.client_id, tenant.client_secret
        )
        output = run_scan(
            credential,
            GraphSettings(base_url=sim.base_url, backoff_seconds=0.5),
            checks,
            tenant_id=tenant.tenant_id,
            out_dir=out,
            source=f"demo:{args.profile}",
            progress=progress.dataset,
            on_page=progress.page,
            options=options,
            tenant_settings=tenant_settings,
        )
    _announce(output, progress)
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    if not GUID.match(args.tenant_id):
        raise ConfigError(f"--tenant-id is geen GUID: {args.tenant_id!r}")
    if args.max_concurrency < 1:
        raise ConfigError("--max-concurrency moet minstens 1 zijn")
    checks = _checks(args.checks)
    options = _report_options(args)
    credential = CredentialSpec(
        tenant_id=args.tenant_id,
        client_id=args.client_id,
        certificate_path=args.certificate,
        certificate_password_env=args.certificate_password_env,
        client_secret_env=args.client_secret_env,
        managed_identity=args.managed_identity,
    ).build()
    progress = ProgressDisplay(quiet=args.quiet)
    out = args.out or Path(f"apk-{args.tenant_id}-{date.today().isoformat()}")
    progress.say(f"Scan van tenant {args.tenant_id} …")
    output = run_scan(
        credential,
        GraphSettings(base_url=args.graph_url, max_concurrency=args.max_concurrency),
        checks,
        tenant_id=args.tenant_id,
        out_dir=out,
        progress=progress.dataset,
        on_page=progress.page,
        options=options,
        tenant_settings=load_settings(args.tenant_config) if args.tenant_config else None,
    )
    _announce(output, progress)
    problem = consent_problem(output.snapshot)
    if problem:
        raise problem
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if not args.snapshot.is_file():
        raise ConfigError(f"snapshot niet gevonden: {args.snapshot}")
    try:
        snapshot = Snapshot.read(args.snapshot)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{args.snapshot} is geen geldige m365apk-snapshot ({first})") from None
    if args.tenant_config:
        snapshot = snapshot.model_copy(update={"settings": load_settings(args.tenant_config)})
    output = report_from_snapshot(snapshot, _checks(args.checks), args.out, _report_options(args))
    _announce(output, ProgressDisplay(quiet=args.quiet))
    return 0


def cmd_checks(args: argparse.Namespace) -> int:
    rows = [
        {
            "id": c.id,
            "title": c.title,
            "area": c.area.value,
            "severity": c.severity.value,
            "licence": c.licence,
            "permissions": c.permissions,
            "datasets": list(c.all_datasets),
            "basismaatregelen": list(c.basismaatregelen),
            "norms": list(c.norms),
        }
        for c in all_checks()
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            bm = ",".join(map(str, r["basismaatregelen"]))
            print(f"{r['id']:<32} {r['severity']:<8} BM {bm:<6} {r['title']}")
    return 0


def cmd_permissions(args: argparse.Namespace) -> int:
    from .collector import needed_datasets

    names = needed_datasets({d for c in _checks(args.checks) for d in c.all_datasets})
    for permission in permissions_for(names):
        print(permission)
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "scan": cmd_scan,
    "evaluate": cmd_evaluate,
    "checks": cmd_checks,
    "permissions": cmd_permissions,
}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (M365ApkError, CheckLoadError) as exc:
        print(f"m365apk: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        print("m365apk: afgebroken", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
