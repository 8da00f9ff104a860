"""The `m365apk` command. User mistakes get one line and an exit code, never a traceback.

Exit codes: 0 done, 2 usage or configuration error (also: a certificate file that is no readable
PEM certificate with key), 3 authentication or permission error (also: a wrong or missing
password for the certificate's key: the file is right, the secret to unlock it is not).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from m365apk import __version__
from m365apk.checks.base import Check
from m365apk.checks.exceptions import ExceptionsError, load_exceptions
from m365apk.checks.manual import AttestationError, load_attestations
from m365apk.checks.registry import CheckLoadError, all_checks, select_checks
from m365apk.errors import ConfigError, M365ApkError
from m365apk.mappings.loader import MappingError, load_mappings
from m365apk.reports.actionplan import load_action_plan
from m365apk.runs import gcpolicy
from m365apk.runs.logs import configure as configure_logs
from m365apk.runs.paths import out_folder
from m365apk.runs.progress import ProgressDisplay
from m365apk.runs.scan import (
    ReportOptions,
    ScanOutput,
    consent_problem,
    report_from_snapshot,
    run_scan,
)
from m365apk.scanner.auth import CredentialSpec
from m365apk.scanner.datasets import (
    PERMISSION_PURPOSE,
    check_dataset_names,
    exchange_permissions_for,
    permissions_for,
)
from m365apk.scanner.graph import DEFAULT_DEADLINE_SECONDS, GRAPH_URL, GraphSettings
from m365apk.snapshot import Snapshot
from m365apk.snapshot.files import write_text_atomic
from m365apk.snapshot.model import file_sha256, load_snapshot
from m365apk.snapshot.settings import load_settings

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


# argparse's own messages, in Dutch (it looks its texts up through gettext at call time).
ARGPARSE_NL = {
    "usage: ": "gebruik: ",
    "positional arguments": "argumenten",
    "options": "opties",
    "show this help message and exit": "toon deze hulp en stop",
    "show program's version number and exit": "toon het versienummer en stop",
    "the following arguments are required: %s": "deze argumenten ontbreken: %s",
    "unrecognized arguments: %s": "onbekende argumenten: %s",
    "expected one argument": "verwacht één waarde",
    "expected at least one argument": "verwacht minstens één waarde",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "ongeldige keuze: %(value)r (kies uit %(choices)s)"
    ),
    "argument %(argument_name)s: %(message)s": "argument %(argument_name)s: %(message)s",
    "invalid %(type)s value: %(value)r": "ongeldige waarde: %(value)r",
    "ambiguous option: %(option)s could match %(matches)s": (
        "dubbelzinnige optie: %(option)s kan %(matches)s zijn"
    ),
    "not allowed with argument %s": "niet samen met argument %s",
}


def _dutch(text: str) -> str:
    return ARGPARSE_NL.get(text, text)


argparse._ = _dutch  # type: ignore[attr-defined]  # only this process's parsers are ours


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit 2 with usage; keep it short
        raise ConfigError(f"{message} (zie m365apk {self.prog.split()[-1]} --help)")


def _latency(value: str) -> float:
    """A simulated latency in milliseconds: a number from 0 to 10,000 (NaN and negative values
    once ran a scan that read nothing and exited 0)."""
    try:
        ms = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"geen getal: {value!r}") from None
    if not 0 <= ms <= 10_000:  # also false for NaN
        raise argparse.ArgumentTypeError(f"moet tussen 0 en 10000 liggen, niet {value}")
    return ms


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="m365apk", description="M365 APK: technische check van een schooltenant")
    parser.add_argument("--version", action="version", version=f"m365apk {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="bij een onverwachte fout de volledige traceback"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="scan een gesimuleerde schooltenant (geen account nodig)")
    demo.add_argument("--profile", default="weak", help="weak, good of board (standaard: weak)")
    demo.add_argument(
        "--exchange",
        choices=sorted(EXCHANGE_VARIANTS),
        default="beschikbaar",
        help="de gesimuleerde Exchange Online Admin API: beschikbaar (standaard), "
        "niet-beschikbaar (preview niet in de organisatie), geen-rol (geen RBAC-rol), "
        "geen-toestemming (geen Exchange.ManageAsAppV2)",
    )
    demo.add_argument(
        "--portfolio",
        action="store_true",
        help="de route van de IT-dienstverlener: vier gesimuleerde scholen, tenants.yaml, "
        "doctor, scan-all (twee rondes), overzicht, history en diff, alles op 127.0.0.1",
    )
    demo.add_argument("--users", type=int, help="aantal gebruikers in de gesimuleerde tenant")
    demo.add_argument(
        "--latency-ms", type=_latency, default=0.0, help="gesimuleerde vertraging (0 tot 10000)"
    )
    demo.add_argument("--out", type=Path, help="uitvoermap (standaard ./apk-demo-PROFIEL)")
    demo.add_argument(
        "--no-mail-rules",
        action="store_true",
        help="lees de inboxregels niet (zoals een scan zonder --mail-rules)",
    )
    _deadline_option(demo)
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
    # The simulator's HTTPS login host and its throwaway CA (tests of the real credentials).
    scan.add_argument("--login-url", help=argparse.SUPPRESS)
    scan.add_argument("--ca-bundle", type=Path, help=argparse.SUPPRESS)
    scan.add_argument("--max-concurrency", type=int, default=8)
    scan.add_argument(
        "--dns-server",
        metavar="IP[:POORT]",
        help="DNS-server voor de SPF/DMARC/DKIM-records (standaard: die van het systeem)",
    )
    scan.add_argument("--out", type=Path, help="uitvoermap (standaard ./apk-TENANT-DATUM)")
    _deadline_option(scan)
    _common(scan)

    ev = sub.add_parser("evaluate", help="beoordeel een opgeslagen snapshot opnieuw (offline)")
    ev.add_argument("snapshot", type=Path)
    ev.add_argument("--out", type=Path, required=True)
    _common(ev)

    many = sub.add_parser("scan-all", help="scan alle tenants uit een tenantsbestand")
    many.add_argument("tenants", type=Path, help="tenants.yaml")
    many.add_argument(
        "--run-id", help="naam van deze ronde (standaard: datum); zelfde id = hervatten"
    )
    many.add_argument("--fresh", action="store_true", help="ook al gescande tenants opnieuw")
    many.add_argument(
        "--peers",
        action="store_true",
        help="in elk schoolrapport: score tegenover de mediaan van de andere scholen (anoniem)",
    )
    many.add_argument(
        "--concurrency", type=int, help="tenants tegelijk (standaard uit het bestand)"
    )
    many.add_argument(
        "--processes",
        type=int,
        help="werkprocessen die de tenants verdelen (standaard: één per processorkern)",
    )
    many.add_argument(
        "--shard-index", type=int, help="deel van de tenants (Kubernetes Indexed Job)"
    )
    many.add_argument("--shard-count", type=int)
    many.add_argument("--history", type=Path, help="historiebestand (standaard uit het bestand)")
    many.add_argument("--output", type=Path, help="uitvoermap (standaard uit het bestand)")
    many.add_argument("--log-format", choices=("text", "json"), default="text")
    _deadline_option(many)
    _common(many)

    sched = sub.add_parser("schedule", help="scan-all volgens een cron-expressie, blijft draaien")
    sched.add_argument("tenants", type=Path)
    sched.add_argument("--cron", required=True, help='bijv. "0 6 1 9 *" (jaarlijks) of "0 6 1 * *"')
    sched.add_argument("--max-runs", type=int, help=argparse.SUPPRESS)  # tests
    sched.add_argument("--log-format", choices=("text", "json"), default="text")
    sched.add_argument("--output", type=Path, help="uitvoermap (standaard uit het bestand)")
    sched.add_argument("--history", type=Path, help="historiebestand (standaard uit het bestand)")
    _deadline_option(sched)
    _common(sched)

    hist = sub.add_parser("history", help="eerdere scans van een tenant")
    hist.add_argument("tenant", nargs="?", help="tenant-id of schoolnaam (leeg: alle)")
    hist.add_argument("--db", type=Path, help="historiebestand (of geef --tenants)")
    hist.add_argument("--tenants", type=Path, help="tenants.yaml: het historiebestand daaruit")
    merge = sub.add_parser("history-merge", help="voeg historiebestanden (shards) samen")
    merge.add_argument("target", type=Path)
    merge.add_argument("sources", type=Path, nargs="+")
    merge.add_argument(
        "--wait",
        type=float,
        metavar="SECONDEN",
        help="wacht (hooguit zo lang) tot elke shard zijn ronde heeft afgerond "
        "(klaar-markering naast zijn historiebestand); zo niet: niets samenvoegen",
    )
    dif = sub.add_parser("diff", help="verschil tussen twee scans van een tenant")
    dif.add_argument("tenant", help="tenant-id of schoolnaam")
    dif.add_argument("--db", type=Path, help="historiebestand (of geef --tenants)")
    dif.add_argument("--tenants", type=Path, help="tenants.yaml: het historiebestand daaruit")
    dif.add_argument("--from", dest="from_id", type=int, help="scan-id (standaard: voorlaatste)")
    dif.add_argument("--to", dest="to_id", type=int, help="scan-id (standaard: laatste)")
    setup = sub.add_parser("setup", help="wat er eenmalig te registreren is, en consent-URL's")
    setup.add_argument("tenants", type=Path, help="tenants.yaml")
    setup.add_argument("--checks", help="alleen voor deze check-id's (kommagescheiden)")
    doc = sub.add_parser("doctor", help="controleer per tenant aanmelden en toestemmingen")
    doc.add_argument("tenants", type=Path, help="tenants.yaml")
    doc.add_argument("--checks", help="alleen voor deze check-id's (kommagescheiden)")
    overview = sub.add_parser("overview", help="maak het overzicht van alle scholen opnieuw")
    overview.add_argument("tenants", type=Path, help="tenants.yaml")
    overview.add_argument(
        "--history", type=Path, help="historiebestand (standaard uit het bestand)"
    )
    overview.add_argument("--output", type=Path, help="uitvoermap (standaard uit het bestand)")

    checks = sub.add_parser("checks", help="toon alle controles")
    checks.add_argument("--json", action="store_true")
    perms = sub.add_parser("permissions", help="toon de benodigde Graph-toepassingsmachtigingen")
    perms.add_argument("--checks", help="alleen voor deze check-id's (kommagescheiden)")
    perms.add_argument("--why", action="store_true", help="met per machtiging waarvoor ze dient")
    return parser


def _deadline_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--deadline",
        type=float,
        metavar="SECONDEN",
        help=f"maximale duur per tenant (standaard {DEFAULT_DEADLINE_SECONDS:.0f} s); wat dan "
        "nog niet gelezen is, wordt 'niet vastgesteld' en het rapport wordt toch gemaakt",
    )


def _deadline(args: argparse.Namespace) -> float:
    value = getattr(args, "deadline", None)
    if value is None:
        return DEFAULT_DEADLINE_SECONDS
    if not 0 < value < math.inf:  # also false for NaN
        raise ConfigError(f"--deadline moet een positief aantal seconden zijn, niet {value}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checks", help="alleen deze check-id's (kommagescheiden)")
    p.add_argument(
        "--audit-probe",
        action="store_true",
        help="meet of het Microsoft 365-auditlog registreert; maakt daarvoor een zoekopdracht "
        "aan in de tenant (AuditLogsQuery.Read.All)",
    )
    p.add_argument(
        "--mail-rules",
        action="store_true",
        help="lees per postvak de inboxregels die mail doorsturen of omleiden (alleen waarheen, "
        "niet de inhoud; MailboxSettings.Read); demo doet dit standaard",
    )
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
    p.add_argument(
        "--pdf",
        action="store_true",
        help="ook bestuursrapport.pdf en bijlage.pdf maken (vereist Chromium)",
    )
    p.add_argument(
        "--lang", choices=("nl", "en"), default="nl", help="taal van report.html/pdf (nl, en)"
    )
    p.add_argument(
        "--pseudonymise",
        action="store_true",
        help="namen en e-mailadressen van personen in de rapporten vervangen door pseudoniemen",
    )
    p.add_argument(
        "--action-plan",
        type=Path,
        metavar="CSV/XLSX",
        help="het ingevulde actieplan van vorig jaar (actieplan.csv of .xlsx): het rapport "
        "toont wat gepland was en wat nu is opgelost",
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
        lang=args.lang,
        plan=tuple(load_action_plan(args.action_plan)) if args.action_plan else (),
    )


def _checks(arg: str | None, audit_probe: bool = True) -> list[Check]:
    """The checks to run. A check that changes something in the tenant to measure runs only when
    asked for (`--audit-probe`); permissions and setup list everything that can run."""
    ids = [x.strip() for x in arg.split(",") if x.strip()] if arg is not None else None
    if ids == []:
        raise ConfigError("--checks noemt geen check-id (kommagescheiden, zie m365apk checks)")
    wanted = {"audit-probe"} if audit_probe else set()
    available = all_checks(opt_in=wanted)
    checks = select_checks(available, ids)
    check_dataset_names(checks)
    return checks


def _announce(output: ScanOutput, progress: ProgressDisplay) -> None:
    report = output.report
    score = "niet vastgesteld" if report.overall.score is None else f"{report.overall.score}/100"
    progress.say(f"APK-score: {score} ({report.overall.coverage_text})")
    if output.snapshot.partial:
        progress.say("Let op: onvolledige scan; het rapport zegt wat niet gelezen kon worden.")
    for kind in ("html", "board_pdf", "appendix_pdf", "json", "snapshot"):
        if kind in output.paths:
            print(output.paths[kind].resolve())


def _exchange_variant(name: str) -> Any:
    def variant(tenant: Any) -> Any:
        from m365apk.demo import exchange
        from m365apk.demo.tenant import without_permission

        if name == "niet-beschikbaar":
            return exchange.not_available(tenant)
        if name == "geen-rol" and tenant.exchange is not None:
            return exchange.without_rbac_role(tenant)
        if name == "geen-toestemming":
            return without_permission(tenant, exchange.EXCHANGE_ROLE)
        return tenant

    return variant


# `demo --exchange`: the simulated Exchange Online Admin API as a school may meet it.
EXCHANGE_VARIANTS = {
    name: _exchange_variant(name)
    for name in ("beschikbaar", "niet-beschikbaar", "geen-rol", "geen-toestemming")
}


def cmd_demo(args: argparse.Namespace) -> int:
    from m365apk.demo.dns import SimulatedDns
    from m365apk.demo.server import SimulatedGraph
    from m365apk.demo.tenant import available_profiles, demo_settings, load_profile
    from m365apk.scanner.auth import LoopbackClientSecretCredential

    if args.portfolio:
        passed = _portfolio_options(args)  # refused before any folder is made
        return demo_portfolio(
            out_folder(args.out or Path("apk-demo-portfolio")), passed, not args.no_mail_rules
        )
    if args.profile not in available_profiles():
        raise ConfigError(
            f"onbekend profiel {args.profile!r}; kies uit {', '.join(available_profiles())}"
        )
    if args.users is not None and args.users < 1:
        raise ConfigError("--users moet minstens 1 zijn")
    deadline = _deadline(args)
    checks = _checks(args.checks, args.audit_probe)
    options = _report_options(args)
    progress = ProgressDisplay(quiet=args.quiet)
    try:
        tenant = load_profile(args.profile, users=args.users)
    except ValueError as exc:  # e.g. too few users for the profile's roles
        raise ConfigError(f"--users: {exc}") from None
    tenant = EXCHANGE_VARIANTS[args.exchange](tenant)
    tenant_settings = (
        load_settings(args.tenant_config) if args.tenant_config else demo_settings(args.profile)
    )
    out = out_folder(args.out or Path(f"apk-demo-{args.profile}"))
    with SimulatedGraph(tenant, latency_ms=args.latency_ms) as sim, SimulatedDns(tenant) as dns:
        progress.say(f"Gesimuleerde tenant '{tenant.display_name}' op {sim.base_url}")
        credential = LoopbackClientSecretCredential(
            sim.token_url, tenant.client_id, tenant.client_secret
        )
        output = run_scan(
            credential,
            GraphSettings(
                base_url=sim.base_url,
                backoff_seconds=0.5,
                dns_server=dns.address,
                audit_probe_poll_seconds=0.2,
                deadline_seconds=deadline,
                # The demo reads the inbox rules unless told not to: a real scan only when
                # asked (--mail-rules), since it reads every mailbox.
                opt_in=frozenset(() if args.no_mail_rules else ("mail-rules",)),
            ),
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


# What `demo --portfolio` hands to its scan-all rounds; every other option of demo is about the
# one simulated school and is refused there rather than silently ignored.
PORTFOLIO_PASSED = {
    "pdf": "--pdf",
    "pseudonymise": "--pseudonymise",
    "audit_probe": "--audit-probe",
}
PORTFOLIO_REFUSED = {
    "users": "--users",
    "tenant_config": "--tenant-config",
    "action_plan": "--action-plan",
    "attestations": "--attestations",
    "exceptions": "--exceptions",
    "mappings": "--mappings",
}


def _portfolio_options(args: argparse.Namespace) -> list[str]:
    refused = [flag for name, flag in PORTFOLIO_REFUSED.items() if getattr(args, name)]
    if args.profile != "weak":
        refused.insert(0, "--profile")
    if args.latency_ms:
        refused.append("--latency-ms")
    if refused:
        raise ConfigError(
            f"{', '.join(refused)} geldt voor één gesimuleerde school, niet voor --portfolio "
            "(dat heeft eigen scholen en instellingen); laat weg of draai demo zonder --portfolio"
        )
    passed = [flag for name, flag in PORTFOLIO_PASSED.items() if getattr(args, name)]
    passed += ["--lang", args.lang]
    if args.checks:
        _checks(args.checks, args.audit_probe)  # an unknown id: refused before anything starts
        passed += ["--checks", args.checks]
    if args.deadline is not None:
        passed += ["--deadline", str(_deadline(args))]
    return passed


def demo_portfolio(
    out: Path,
    scan_options: list[str] = (),  # type: ignore[assignment]
    mail_rules: bool = True,
) -> int:
    """`m365apk demo --portfolio`: the provider's flow against simulated schools on loopback,
    exactly as docs/alle-scholen.md describes it, without writing any Python."""
    from dataclasses import replace

    import yaml

    from m365apk.demo.server import SimulatedGraph
    from m365apk.demo.tenant import demo_settings, load_profile

    schools = [
        ("weak", load_profile("weak")),
        # Sized so that both runs together stay within the app's first ten signInActivity
        # pages (Graph: 10 a minute for all tenants of an app): the demo does not wait.
        ("good", load_profile("good", users=900)),
        ("board", load_profile("board", users=300)),
        # A school whose admin never gave consent: scan-all reports it and carries on.
        (
            None,
            replace(
                load_profile("weak", seed=3),
                tenant_id="7d7d7d7d-1111-4222-8333-444444444444",
                display_name="OBS De Vlinder (nog geen toestemming)",
                granted_permissions=frozenset(),
            ),
        ),
    ]
    out.mkdir(parents=True, exist_ok=True)
    with SimulatedGraph([t for _, t in schools]) as sim:
        entries = []
        for i, (profile, tenant) in enumerate(schools):
            os.environ[f"M365APK_DEMO_SECRET_{i}"] = tenant.client_secret  # this process only
            entry: dict = {
                "name": tenant.display_name,
                "tenant_id": tenant.tenant_id,
                "school_type": "po" if profile != "board" else "vo",
                "client_id": tenant.client_id,
                "credential": {"client_secret_env": f"M365APK_DEMO_SECRET_{i}"},
            }
            settings = demo_settings(profile) if profile else None
            if settings and (settings.break_glass or settings.approved_exclusions):
                path = out / f"instellingen-{profile}.yaml"
                write_text_atomic(
                    path,
                    yaml.safe_dump(settings.model_dump(exclude_none=True), allow_unicode=True),
                )
                entry["tenant_config"] = path.name
            entries.append(entry)
        tenants = out / "tenants.yaml"
        write_text_atomic(
            tenants,
            "# Gemaakt door m365apk demo --portfolio: vier gesimuleerde scholen op 127.0.0.1\n"
            + yaml.safe_dump(
                {
                    "output": "uitvoer",
                    "graph_url": sim.base_url,
                    "login_url": sim.base_url,
                    "concurrency": 2,
                    "mail_rules": mail_rules,
                    "tenants": entries,
                },
                allow_unicode=True,
                sort_keys=False,
            ),
        )
        steps = [
            ["doctor", str(tenants)],
            ["scan-all", str(tenants), "--run-id", "apk-1", "--quiet", *scan_options],
            ["scan-all", str(tenants), "--run-id", "apk-2", "--quiet", *scan_options],
            ["history", "--tenants", str(tenants)],
            ["diff", schools[0][1].tenant_id, "--tenants", str(tenants)],
        ]
        for step in steps:
            print(f"\n$ m365apk {' '.join(step)}", flush=True)
            try:
                code = COMMANDS[step[0]](build_parser().parse_args(step))
            except M365ApkError as exc:
                print(f"m365apk: {exc}")
                code = getattr(exc, "exit_code", 2)
            print(f"(exitcode {code})", flush=True)
    print(f"\n{tenants.resolve()}")
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    if not GUID.match(args.tenant_id):
        raise ConfigError(f"--tenant-id is geen GUID: {args.tenant_id!r}")
    if args.max_concurrency < 1:
        raise ConfigError("--max-concurrency moet minstens 1 zijn")
    if args.login_url is not None and not args.login_url.startswith("https://"):
        raise ConfigError(f"--login-url moet een https-adres zijn, niet {args.login_url!r}")
    deadline = _deadline(args)
    checks = _checks(args.checks, args.audit_probe)
    options = _report_options(args)
    credential = CredentialSpec(
        tenant_id=args.tenant_id,
        client_id=args.client_id,
        certificate_path=args.certificate,
        certificate_password_env=args.certificate_password_env,
        client_secret_env=args.client_secret_env,
        managed_identity=args.managed_identity,
        authority=args.login_url,
        ca_bundle=args.ca_bundle,
    ).build()
    progress = ProgressDisplay(quiet=args.quiet)
    out = out_folder(args.out or Path(f"apk-{args.tenant_id}-{date.today().isoformat()}"))
    progress.say(f"Scan van tenant {args.tenant_id} …")
    output = run_scan(
        credential,
        GraphSettings(
            base_url=args.graph_url,
            max_concurrency=args.max_concurrency,
            deadline_seconds=deadline,
            dns_server=args.dns_server,
            opt_in=frozenset(("mail-rules",) if args.mail_rules else ()),
        ),
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


def _probed(snapshot: Snapshot) -> bool:
    """A snapshot from a scan that ran the opt-in measurements is evaluated with them."""
    return any(
        c.opt_in and all(d in snapshot.datasets for d in c.datasets)
        for c in all_checks(opt_in=True)
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    snapshot = load_snapshot(args.snapshot)
    unread = snapshot.unread_as_ok()
    if unread:
        # An "ok" dataset that no read produced would count as "nothing wrong": never evaluate.
        raise ConfigError(
            f"{args.snapshot}: {unread[0]}"
            + (f" (en {len(unread) - 1} andere datasets)" if len(unread) > 1 else "")
            + "; is het bestand bewerkt?"
        )
    for problem in snapshot.inconsistencies():
        print(f"m365apk: waarschuwing: {args.snapshot}: {problem}", file=sys.stderr)
    if args.tenant_config:
        snapshot = snapshot.model_copy(update={"settings": load_settings(args.tenant_config)})
    output = report_from_snapshot(
        snapshot,
        _checks(args.checks, args.audit_probe or _probed(snapshot)),
        out_folder(args.out),
        _report_options(args),
        snapshot_sha256=file_sha256(args.snapshot),
    )
    _announce(output, ProgressDisplay(quiet=args.quiet))
    return 0


def cmd_checks(args: argparse.Namespace) -> int:
    from m365apk.mappings.scuba import scuba_ids

    rows = [
        {
            "id": c.id,
            "title": c.title,
            "area": c.area.value,
            "severity": c.severity.value,
            "licence": c.licence,
            "permissions": permissions_for(c.all_datasets),
            # Office 365 Exchange Online (the Exchange Online Admin API), not Graph
            "exchange_permissions": exchange_permissions_for(c.all_datasets),
            "datasets": list(c.all_datasets),
            "reads": {
                "datasets": list(c.datasets),
                "alternatives": list(c.alternatives),
                "optional": list(c.optional),
                **c.reads.to_json(),
            },
            "basismaatregelen": list(c.basismaatregelen),
            "norms": list(c.norms),
            "scuba": scuba_ids(c.id),
        }
        for c in all_checks(opt_in=True)
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        severity = _words()["severity"]
        for r in rows:
            bm = ",".join(map(str, r["basismaatregelen"]))
            print(f"{r['id']:<32} {severity[r['severity']]:<8} BM {bm:<6} {r['title']}")
    return 0


def cmd_permissions(args: argparse.Namespace) -> int:
    from m365apk.scanner.collector import needed_datasets
    from m365apk.scanner.datasets import EXCHANGE_PERMISSION_PURPOSE

    names = needed_datasets({d for c in _checks(args.checks) for d in c.all_datasets})
    for permission in permissions_for(names):
        why = PERMISSION_PURPOSE.get(permission, "") if args.why else ""
        print(f"{permission:<40} {why}".rstrip())
    # Office 365 Exchange Online, not Graph (its purpose says so; setup shows both resources).
    for permission in exchange_permissions_for(names):
        why = EXCHANGE_PERMISSION_PURPOSE.get(permission, "") if args.why else ""
        print(f"{permission:<40} {why}".rstrip())
    return 0


def _words() -> dict:
    from m365apk.reports.i18n import catalogue

    return catalogue("nl")


def _summary(results: list) -> None:
    outcomes = _words()["outcomes"]
    print(f"{'school':<34} {'uitkomst':<18} {'score':>5}  oordeel / reden")
    for r in results:
        score = "" if not r.report or r.report.overall.score is None else r.report.overall.score
        detail = r.report.overall.verdict_text if r.report else (r.error or "")
        if r.outcome == "skipped":
            detail = "al gescand in deze ronde"
        outcome = outcomes.get(r.outcome, r.outcome)
        print(f"{r.tenant.name[:34]:<34} {outcome:<18} {score!s:>5}  {detail}")
    unset = [r.tenant.name for r in results if r.report and _settings_missing(r.report)]
    if unset:
        print(f"let op: geen tenant-instellingen voor {', '.join(unset)}: {SETTINGS_WARNING}")


SETTINGS_WARNING = (
    "noodaccounts tellen daardoor als uitzonderingen zonder goedkeuring op het MFA-beleid, wat "
    "het oordeel kan verlagen; leg ze vast met tenant_config in tenants.yaml"
)


def _settings_missing(report: object) -> bool:
    from m365apk.reports.html import settings_missing

    return settings_missing(report)  # type: ignore[arg-type]


def _prepare_all(args: argparse.Namespace) -> tuple:
    """Everything scan-all and schedule check before a round starts (tenants file, options,
    output folder and history file), so bad input is refused before any school is scanned or
    any file is touched; `schedule` does this before it waits for its first round."""
    from m365apk.runs.portfolio import check_destination
    from m365apk.runs.tenants import load_tenants

    config = load_tenants(args.tenants)
    if getattr(args, "output", None):  # e.g. the container's data volume
        config = config.model_copy(update={"output": args.output})
    if getattr(args, "concurrency", None) is not None:
        if args.concurrency < 1:
            raise ConfigError("--concurrency moet minstens 1 zijn")
        config = config.model_copy(update={"concurrency": args.concurrency})
    if getattr(args, "processes", None) is not None:
        if args.processes < 1:
            raise ConfigError("--processes moet minstens 1 zijn")
        config = config.model_copy(update={"processes": args.processes})
    if getattr(args, "deadline", None) is not None:
        config = config.model_copy(update={"deadline_seconds": _deadline(args)})
    if getattr(args, "mail_rules", False):
        config = config.model_copy(update={"mail_rules": True})
    shard = None
    index, count = getattr(args, "shard_index", None), getattr(args, "shard_count", None)
    if index is not None or count is not None:
        if count is None or count < 1:
            raise ConfigError("--shard-index hoort bij --shard-count (het aantal shards, >= 1)")
        if index is None or not 0 <= index < count:
            raise ConfigError("--shard-index moet tussen 0 en --shard-count liggen")
        shard = (index, count)
    history_path = getattr(args, "history", None) or config.history_path
    checks = _checks(args.checks, args.audit_probe)
    options = _report_options(args)
    check_destination(config, history_path)
    return config, checks, options, shard, history_path


def _run_all(args: argparse.Namespace, run_id: str) -> int:
    from m365apk.runs.history import History
    from m365apk.runs.overview import write_overview
    from m365apk.runs.portfolio import scan_all

    config, checks, options, shard, history_path = _prepare_all(args)
    results = scan_all(
        config,
        checks,
        run_id=run_id,
        fresh=getattr(args, "fresh", False),
        peers=getattr(args, "peers", False),
        shard=shard,
        history_path=history_path,
        options=options,
    )
    with History(history_path) as history:
        overview = write_overview(config, history, datetime.now(UTC))
    _summary(results)
    print(overview.resolve())
    failed = [r for r in results if r.outcome not in ("ok", "partial", "skipped")]
    return 4 if failed else 0


def cmd_scan_all(args: argparse.Namespace) -> int:
    from m365apk.runs.paths import path_segment

    configure_logs(args.log_format)
    given = args.run_id is not None
    run_id = path_segment(args.run_id, "--run-id") if given else date.today().isoformat()
    return _run_all(args, run_id)


def cmd_schedule(args: argparse.Namespace) -> int:
    from m365apk.runs.schedule import run_schedule

    configure_logs(args.log_format)
    _prepare_all(args)  # bad input is refused now, not at the first round months from now
    return run_schedule(args.cron, lambda run_id: _run_all(args, run_id), args.max_runs)


def _history_db(args: argparse.Namespace) -> Path:
    """--db, or the history file the tenants file names (finding 13: no --db needed)."""
    if args.db is not None:
        return args.db
    if args.tenants is not None:
        from m365apk.runs.tenants import load_tenants

        return load_tenants(args.tenants).history_path
    raise ConfigError("geef --db historiebestand of --tenants tenants.yaml")


def cmd_history(args: argparse.Namespace) -> int:
    from m365apk.runs.history import History

    args.db = _history_db(args)
    with History(args.db, create=False) as history:
        rows = history.scans(args.tenant)
    if not rows:
        raise ConfigError(f"geen scans gevonden voor {args.tenant!r}")
    words = _words()
    print(f"{'id':>4} {'ronde':<20} {'school':<30} {'uitkomst':<18} {'score':>5} oordeel")
    for r in rows:
        score = "" if r.score is None else r.score
        outcome = words["outcomes"].get(r.outcome, r.outcome)
        verdict = words["verdicts"].get(r.verdict, r.verdict) if r.verdict else None
        print(
            f"{r.id:>4} {r.run_id:<20} {(r.tenant_name or '')[:30]:<30} {outcome:<18} "
            f"{score!s:>5} {verdict or r.error or ''}"
        )
    return 0


def cmd_history_merge(args: argparse.Namespace) -> int:
    from m365apk.runs.history import History
    from m365apk.runs.shards import done_marker, wait_for_shards

    if args.wait is not None:
        if not 0 <= args.wait <= 7 * 86400:  # also false for NaN
            raise ConfigError("--wait moet tussen 0 en 604800 seconden liggen")
        run_id = wait_for_shards(args.sources, args.wait)
        print(f"alle {len(args.sources)} shards hebben ronde {run_id} afgerond", flush=True)
    target = os.path.realpath(args.target)  # realpath: no error on a symlink loop
    if any(os.path.realpath(src) == target for src in args.sources):
        raise ConfigError(f"{args.target} staat ook bij de bronnen; kies een ander doelbestand")
    for src in args.sources:  # each must be a readable history before the target is touched
        if src.is_file():
            History(src, create=False).close()
    # Every shard must have finished and written its file: a missing one would leave a round
    # silently short (issue 26 finding 10), so nothing is merged and no target is created.
    missing = [str(src) for src in args.sources if not src.is_file()]
    if missing:
        raise ConfigError(
            f"historiebestand niet gevonden: {', '.join(missing)}; er is niets samengevoegd "
            "(wacht tot elke shard klaar is)"
        )
    History.verify(args.target)
    with History(args.target) as merged:
        total = sum(merged.merge_from(src) for src in args.sources)
    if args.wait is not None:  # merged: the next round's merge waits for the next round
        for src in args.sources:
            done_marker(src).unlink(missing_ok=True)
    print(f"{total} scans samengevoegd in {args.target}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from m365apk.runs.history import History, diff

    args.db = _history_db(args)
    with History(args.db, create=False) as history:
        scans = [s for s in history.scans(args.tenant) if s.outcome in ("ok", "partial")]
        by_id = {s.id: s for s in scans}
        if len(scans) < 2 and not (args.from_id and args.to_id):
            raise ConfigError("er zijn minstens twee geslaagde scans nodig om te vergelijken")
        before = by_id.get(args.from_id) if args.from_id else scans[-2]
        after = by_id.get(args.to_id) if args.to_id else scans[-1]
        if before is None or after is None:
            raise ConfigError("onbekend scan-id voor deze tenant (zie m365apk history)")
        changes = diff(history.checks(before.id), history.checks(after.id))
    statuses = _words()["statuses"]
    print(f"{before.run_id} (score {before.score}) -> {after.run_id} (score {after.score})")
    for kind in ("nieuw", "opgelost", "veranderd"):
        print(f"{kind}: {len(changes[kind])}")
        for check_id, title, was, now in changes[kind]:
            was, now = statuses.get(was, was), statuses.get(now, now)
            print(f"  {check_id:<38} {was:>20} -> {now:<20} {title}")
    return 0


def _needed(arg: str | None) -> list[str]:
    from m365apk.scanner.collector import needed_datasets

    return permissions_for(needed_datasets({d for c in _checks(arg) for d in c.all_datasets}))


def _needed_exchange(arg: str | None) -> list[str]:
    from m365apk.scanner.collector import needed_datasets

    names = needed_datasets({d for c in _checks(arg) for d in c.all_datasets})
    return exchange_permissions_for(names)


def cmd_setup(args: argparse.Namespace) -> int:
    from m365apk.runs.setup import setup_text
    from m365apk.runs.tenants import load_tenants

    config = load_tenants(args.tenants)
    print(setup_text(config, _needed(args.checks), _needed_exchange(args.checks)), end="")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from m365apk.runs.setup import doctor, reference_data_warnings
    from m365apk.runs.tenants import load_tenants

    lines = doctor(load_tenants(args.tenants), _needed(args.checks), _needed_exchange(args.checks))
    for warning in reference_data_warnings(datetime.now(UTC).date()):
        print(f"LET OP {warning}")
    for line in lines:
        mark = "ok  " if line.ok else "FOUT"
        print(f"{mark} {line.name[:34]:<34} {line.message}")
        for permission in line.missing:
            print(f"       ontbreekt: {permission}")
        if line.exchange is not None:  # optional: never a FOUT, but said plainly
            kind, said = line.exchange
            label = {
                "ok": "ok",
                "forbidden": "geen toestemming of geen RBAC-rol",
                "not_available": "niet beschikbaar in deze organisatie (preview)",
            }.get(kind, "fout")
            print(f"       Exchange: {label}" + (f" ({said})" if kind != "ok" else ""))
    config = load_tenants(args.tenants)
    for tenant in sorted(config.tenants, key=lambda t: t.name.lower()):
        if tenant.tenant_config is None:
            print(f"let op {tenant.name[:34]:<34} geen tenant-instellingen: {SETTINGS_WARNING}")
    return 0 if all(line.ok for line in lines) else 3


def cmd_overview(args: argparse.Namespace) -> int:
    from m365apk.runs.history import History
    from m365apk.runs.overview import write_overview
    from m365apk.runs.tenants import load_tenants

    config = load_tenants(args.tenants)
    if args.output:  # as scan-all: the container's data volume
        config = config.model_copy(update={"output": args.output})
    history_path = args.history or config.history_path
    with History(history_path, create=False) as history:
        out_folder(config.output, "output")
        print(write_overview(config, history, datetime.now(UTC)).resolve())
    return 0


COMMANDS = {
    "scan-all": cmd_scan_all,
    "schedule": cmd_schedule,
    "history": cmd_history,
    "history-merge": cmd_history_merge,
    "diff": cmd_diff,
    "overview": cmd_overview,
    "setup": cmd_setup,
    "doctor": cmd_doctor,
    "demo": cmd_demo,
    "scan": cmd_scan,
    "evaluate": cmd_evaluate,
    "checks": cmd_checks,
    "permissions": cmd_permissions,
}


def _quiet_libraries() -> None:
    """Our one line replaces the libraries' own stderr output on a failed sign-in."""
    import logging

    # azure-identity warns "get_token failed: ..." before raising; we print that error once.
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    # kiota's tracing span cannot detach when its request task is cancelled after the sign-in
    # failed elsewhere; OpenTelemetry logs that (harmless) with a traceback.
    logging.getLogger("opentelemetry.context").setLevel(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    # MSAL's own account of a failed sign-in with --debug, else one line (scanner/auth.quiet_msal);
    # set on every call, so an earlier --debug run in this process does not carry over.
    logging.getLogger("msal").setLevel(logging.WARNING if debug else logging.NOTSET)
    try:
        args = build_parser().parse_args(argv)
        gcpolicy.tune()  # a scan's objects are many and acyclic (runs/gcpolicy.py)
        return COMMANDS[args.command](args)
    except (M365ApkError, CheckLoadError) as exc:
        print(f"m365apk: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        print("m365apk: afgebroken", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `m365apk permissions | head`: the reader has what it wanted. Silence the final flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # a path the user gave that cannot be written or read
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"m365apk: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a defect: one line for the user, the traceback with --debug
        if debug:
            raise
        print(
            f"m365apk: onverwachte fout ({type(exc).__name__}: {str(exc)[:200]}); "
            "draai opnieuw met --debug voor de details",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
