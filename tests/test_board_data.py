"""The data behind the board document (issue 27 points 2, 5, 6): who does each action, what it
costs and by when; where in an admin portal each finding is fixed; every term of art part 1 uses
explained in a begrippenlijst. Ids are derived from actions.yaml and the check registry, never
from a hand list, so a new check or group without data fails here."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from m365apk.checks.registry import all_checks
from m365apk.reports import board_data
from m365apk.reports.board_data import BoardDataError, action_detail, glossary, portal_link
from m365apk.reports.html import render_html
from m365apk.reports.i18n import catalogue, localized
from m365apk.reports.view import actions

LANGS = ("nl", "en")
ADMIN_HOSTS = {
    "entra.microsoft.com",
    "admin.microsoft.com",
    "intune.microsoft.com",
    "admin.exchange.microsoft.com",
    "purview.microsoft.com",
    "security.microsoft.com",
}
# The deadline an action may have at most, by the highest severity among its checks.
MAX_DEADLINE = {"critical": 30, "high": 90, "medium": 180, "low": 180}

# Terms of art that part 1 of the report may use; each that occurs there must be a term or an
# alias in the glossary of that language. Extend this list when part 1 gains a new word.
JARGON = {
    "nl": (
        "MFA", "tenant", "voorwaardelijke toegang", "beveiligingsstandaarden",
        "standaardinstellingen voor beveiliging", "consent phishing", "werklasten", "beheerder",
        "beheerders", "beheerrechten", "beheerdersrol", "globale beheerder", "globale beheerders",
        "Global Administrator", "noodaccount", "noodaccounts", "break-glass", "Entra", "Entra ID",
        "Intune", "phishingbestendige", "passkeys", "FIDO2", "Windows Hello", "Authenticator",
        "SPF", "DKIM", "DMARC", "MTA-STS", "back-up", "back-ups", "Microsoft 365 Backup",
        "logboeken", "auditlog", "loginformatie", "licentie", "A1", "A3", "A5", "P1", "P2", "PIM",
        "verouderde verificatie", "verificatiesterkte", "Secure Score", "verwerkersovereenkomst",
        "gasten", "gastaccounts", "uitgever", "geverifieerde uitgever", "OneDrive", "SharePoint",
        "Exchange", "BitLocker", "nalevingsbeleid", "updatering", "SSPR",
        "zelfservice-wachtwoordherstel", "app-geheimen", "apparaatcode", "tijdelijke toegangspas",
        "OTP", "Microsoft Graph", "basismaatregel", "basismaatregelen", "Normenkader", "IBP", "FG",
        "IT-dienstverlener", "IT-partner", "APK-oordeel", "score", "dekking", "niet vastgesteld",
        "handmatige controlepunten", "ernst", "inspanning", "advies", "Identity Protection",
    ),
    "en": (
        "MFA", "tenant", "Conditional Access", "security defaults", "consent phishing",
        "workloads", "admin", "admins", "admin rights", "admin role", "Global Administrator",
        "Global Administrators", "emergency account", "emergency accounts", "break-glass", "Entra",
        "Entra ID", "Intune", "phishing-resistant", "passkeys", "FIDO2", "Windows Hello",
        "Authenticator", "SPF", "DKIM", "DMARC", "MTA-STS", "backup", "backups",
        "Microsoft 365 Backup", "logs", "audit log", "licence", "A1", "A3", "A5", "P1", "P2", "PIM",
        "legacy authentication", "authentication strength", "Secure Score",
        "processing agreement", "guests", "guest accounts", "publisher", "verified publisher",
        "OneDrive", "SharePoint", "Exchange", "BitLocker", "compliance policy", "update ring",
        "SSPR", "self-service password reset", "app secrets", "device code",
        "Temporary Access Pass", "OTP", "Microsoft Graph", "basic measure", "basic measures",
        "basismaatregelen", "Normenkader", "IBP", "DPO", "IT partner", "APK verdict", "score",
        "coverage", "not determined", "manual checkpoints", "severity", "effort", "advice",
        "Identity Protection",
    ),
}  # fmt: skip


@cache
def _data(name: str) -> dict[str, Any]:
    text = (resources.files("m365apk.mappings") / name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _checks() -> dict[str, Any]:
    return {c.id: c for c in all_checks(include_plugins=False, opt_in=True)}


def _groups() -> dict[str, list[str]]:
    return _data("actions.yaml")["actions"]


def _action_ids() -> dict[str, list[str]]:
    """Every action id view.actions() can produce, with its check ids: each group of
    actions.yaml, and each registered check that is in no group (an action of its own)."""
    grouped = {cid for ids in _groups().values() for cid in ids}
    own = {cid: [cid] for cid in _checks() if cid not in grouped}
    return {**_groups(), **own}


def _manual_ids() -> list[str]:
    return [item["id"] for item in _data("manual.yaml")["items"]]


@pytest.fixture
def fresh_caches():
    def clear() -> None:
        for f in (board_data.licences, board_data._details, board_data._links):
            f.cache_clear()

    clear()
    yield
    clear()


# --- action details -------------------------------------------------------------------------


def test_every_action_the_report_can_produce_has_details_and_no_other() -> None:
    expected = set(_action_ids())
    given = set(_data("action_details.yaml")["actions"])
    assert expected - given == set(), "actions without owner, hours and deadline"
    assert given - expected == set(), "details for an action the report cannot produce"


@pytest.mark.parametrize("lang", LANGS)
def test_each_action_detail_loads_and_is_not_the_default(lang) -> None:
    for action_id in _action_ids():
        detail = action_detail(action_id, lang)
        assert detail is not board_data.DEFAULT_DETAIL, action_id
        assert detail.owner in ("school", "it_partner")
        assert re.fullmatch(r"\d+(–\d+)?", detail.hours)


def test_deadline_fits_the_most_severe_check_of_the_action() -> None:
    checks = _checks()
    for action_id, ids in _action_ids().items():
        worst = min((checks[c].severity for c in ids), key=list(MAX_DEADLINE).index)
        days = action_detail(action_id).deadline_days
        assert days <= MAX_DEADLINE[worst], f"{action_id}: {days} days for a {worst} check"


@pytest.mark.parametrize("lang", LANGS)
def test_every_licence_names_product_price_source_and_date(lang) -> None:
    named = board_data.licences(lang)
    assert named  # Microsoft 365 Backup at least
    for key, lic in named.items():
        assert lic.product.startswith("Microsoft"), key
        assert lic.price.strip() and lic.included.strip(), key
        assert _microsoft_source(lic.source), (key, lic.source)
        assert dt.date.fromisoformat(lic.as_of) <= dt.date.today(), key
    # The price is written for each language, not shared.
    raw = _data("action_details.yaml")["licences"]
    for key, d in raw.items():
        assert set(d["price"]) == set(LANGS) and d["price"]["nl"] != d["price"]["en"], key


def test_licence_for_names_checks_of_that_action() -> None:
    for action_id, d in _data("action_details.yaml")["actions"].items():
        for cid in d.get("licence_for", ()):
            assert cid in _action_ids()[action_id], f"{action_id}: {cid} is not one of its checks"


def test_logs_action_is_free_unless_retention_is_open() -> None:
    """Turning on the audit log costs nothing; keeping logs for 30 days needs Entra ID P1."""
    assert action_detail("logs", failing=["audit.unified_audit_log"]).free
    paid = action_detail("logs", "en", failing=["audit.retention", "audit.unified_audit_log"])
    assert paid.licence is not None and paid.licence.product == "Microsoft Entra ID P1"
    assert "A3" in paid.licence.included


def test_weak_school_backup_action_names_microsoft_365_backup_and_its_price(demo_reports) -> None:
    for lang in LANGS:
        report = localized(demo_reports["weak"], lang)
        backup = next(a for a in actions(report, catalogue(lang)) if a.id == "backup")
        detail = action_detail("backup", lang, failing=[c.id for c in backup.checks])
        assert detail.owner == "school" and detail.deadline_days == 30
        assert detail.licence is not None and detail.licence.product == "Microsoft 365 Backup"
        assert "0,15" in detail.licence.price if lang == "nl" else "0.15" in detail.licence.price
        assert detail.licence.source.startswith("https://learn.microsoft.com/")


def test_mfa_action_is_free_security_defaults_need_no_licence() -> None:
    assert action_detail("mfa", failing=["mfa.enforced_for_all", "mfa.enforced_for_admins"]).free


def test_licence_for_product_matches_a_checks_licence_prerequisite() -> None:
    lic = board_data.licence_for_product("Microsoft Entra ID P2 (in A5)")
    assert lic is not None and lic.product == "Microsoft Entra ID P2"
    intune = board_data.licence_for_product("Microsoft Intune (A1 voor apparaten, A3, A5)")
    assert intune is not None and intune.product == "Microsoft Intune"
    assert board_data.licence_for_product("Microsoft Defender for Office 365") is None


@pytest.mark.parametrize(
    "bad",
    [
        {"owner": "ouders", "hours": "1", "deadline_days": 30},
        {"owner": "school", "hours": "een paar", "deadline_days": 30},
        {"owner": "school", "hours": "1–2", "deadline_days": 0},
        {"owner": "school", "hours": "1–2", "deadline_days": 30, "licence": "onbekend"},
        {
            "owner": "school",
            "hours": "1–2",
            "deadline_days": 30,
            "licence": {
                "product": "X",
                "price": {"nl": "gratis"},
                "source": "https://learn.microsoft.com/x",
                "as_of": "2026-01-01",
            },
        },
        {
            "owner": "school",
            "hours": "1–2",
            "deadline_days": 30,
            "licence": {
                "product": "X",
                "price": {"nl": "a", "en": "b"},
                "source": "http://example.com",
                "as_of": "2026-01-01",
            },
        },
    ],
)
def test_action_details_with_a_mistake_fail_at_load(monkeypatch, fresh_caches, bad) -> None:
    monkeypatch.setattr(board_data, "_load", lambda *_: {"actions": {"mfa": bad}})
    with pytest.raises(BoardDataError):
        action_detail("mfa", "en")


# --- portal links ---------------------------------------------------------------------------


def _microsoft_source(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return url.startswith("https://") and (
        host == "microsoft.com" or host.endswith(".microsoft.com")
    )


@pytest.mark.parametrize("lang", LANGS)
def test_every_check_and_checkpoint_has_a_portal_link_or_a_reason(lang) -> None:
    for cid in [*_checks(), *_manual_ids()]:
        link = portal_link(cid, lang)
        assert link is not None, f"{cid}: no portal link"
        assert link.portal.strip(), cid
        if link.url is None:
            assert link.reason.strip(), f"{cid}: no url and no reason"
        else:
            assert not link.reason, f"{cid}: a url and a reason"


def test_portal_links_are_only_for_known_checks() -> None:
    known = {*_checks(), *_manual_ids()}
    assert set(_data("portal_links.yaml")["links"]) - known == set()


def test_portal_urls_are_https_on_microsoft_admin_hosts() -> None:
    for cid, link in board_data._links("nl").items():
        if link.url is None:
            continue
        parsed = urlparse(link.url)
        assert parsed.scheme == "https" and parsed.hostname in ADMIN_HOSTS, (cid, link.url)


def test_portal_sources_are_microsoft_documentation() -> None:
    for cid, link in board_data._links("en").items():
        assert _microsoft_source(link.source), (cid, link.source)
        assert urlparse(link.source).hostname == "learn.microsoft.com", (cid, link.source)


def test_portal_names_are_translated() -> None:
    for cid, d in _data("portal_links.yaml")["links"].items():
        assert isinstance(d["portal"], dict) and set(d["portal"]) == set(LANGS), cid
    assert portal_link("mfa.enforced_for_all", "nl").portal == "Microsoft Entra-beheercentrum"
    assert portal_link("mfa.enforced_for_all", "en").portal == "Microsoft Entra admin center"


def test_dmarc_is_fixed_at_the_registrar_not_in_a_portal() -> None:
    link = portal_link("email.dmarc", "nl")
    assert link is not None and link.url is None and "DNS" in link.reason


@pytest.mark.parametrize(
    "bad",
    [
        {"portal": {"nl": "A", "en": "A"}, "url": "http://entra.microsoft.com", "source": "https://learn.microsoft.com/x"},
        {"portal": {"nl": "A", "en": "A"}, "url": None, "source": "https://learn.microsoft.com/x"},
        {"portal": {"nl": "A"}, "url": "https://entra.microsoft.com", "source": "https://learn.microsoft.com/x"},
    ],
)  # fmt: skip
def test_portal_links_with_a_mistake_fail_at_load(monkeypatch, fresh_caches, bad) -> None:
    monkeypatch.setattr(board_data, "_load", lambda *_: {"links": {"email.spf": bad}})
    with pytest.raises(BoardDataError):
        portal_link("email.spf", "en")


# --- glossary -------------------------------------------------------------------------------


def test_glossary_has_the_same_terms_in_both_languages() -> None:
    nl, en = glossary("nl"), glossary("en")
    assert len(nl) == len(en) and len(nl) >= 20


@pytest.mark.parametrize("lang", LANGS)
def test_glossary_explains_every_term_once(lang) -> None:
    words: list[str] = []
    for term in glossary(lang):
        assert term.term.strip() and term.explanation.strip(), term
        assert len(term.explanation) <= 300, term.term  # one or two sentences
        words += [w.lower() for w in (term.term, *term.aliases)]
    assert len(words) == len(set(words)), "a word explained twice"


def _part_one(report: Any, lang: str) -> str:
    page = render_html(report, lang)
    page = page[: page.index('id="details"')] if 'id="details"' in page else page
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.DOTALL)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("profile", ["weak", "good", "board"])
def test_every_term_of_art_in_part_one_is_in_the_glossary(demo_reports, profile, lang) -> None:
    text = _part_one(demo_reports[profile], lang)
    explained = {w.lower() for t in glossary(lang) for w in (t.term, *t.aliases)}
    used = [
        w for w in JARGON[lang] if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.IGNORECASE)
    ]
    assert used, "part 1 uses no term of art at all: is this the right text?"
    assert [w for w in used if w.lower() not in explained] == []


def test_the_board_names_security_defaults_as_the_admin_portal_does() -> None:
    term = next(t for t in glossary("nl") if t.term == "beveiligingsstandaarden")
    assert "standaardinstellingen voor beveiliging" in [a.lower() for a in term.aliases]
    assert "Standaardinstellingen voor beveiliging" in term.explanation
