"""The report's words (issue 27 point 5, findings 7 and 8): plural forms instead of
"controle(s)", "vastgesteld" in one sense, check titles that read well beside a fail, findings
that do not repeat their title, Microsoft's settings by their names, and an English report
without Dutch (the Normenkader titles included)."""

from __future__ import annotations

import re

import pytest

from m365apk.mappings.loader import load_mappings
from m365apk.messages import catalogue
from m365apk.reports.html import render_html
from tests.test_report_text import text_of

PROFILES = ("weak", "good", "board")

# A plural written as a hack: "controle(s)", "bevinding(en)", "handmatig(e)", "admin(s)".
PLURAL_HACK = re.compile(r"\b\w+\((?:s|en|e|n|es)\)")
# Microsoft's own label of a setting, quoted as the portal shows it, may carry one.
PORTAL_LABELS = ("'Restrict non-admin users from recovering the BitLocker key(s)",)


def page_text(report, lang: str) -> str:
    """The rendered report as text, without Microsoft's quoted labels."""
    text = text_of(render_html(report, lang))
    for label in PORTAL_LABELS:
        text = text.replace(label, "")
    return text


def without_tenant_names(report, text: str) -> str:
    """`text` without what the tenant itself wrote (school, policy, group and user names) or
    the titles of cited documents: a Dutch school's names stay Dutch in an English report."""
    names = {o.display_name for c in report.checks for o in c.result.evidence.affected}
    names |= {report.tenant.display_name}
    names |= {s.name for c in report.checks for s in c.sources}
    for name in sorted((n for n in names if n), key=len, reverse=True):
        text = text.replace(name, " ")
    # Conditional access policies are named by the school ("CA013 - Phishingbestendige MFA voor
    # beheerders") and quoted in findings: tenant data, never translated.
    return re.sub(r"CA\d{3} - [^:;,.()']*", " ", text)


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("profile", PROFILES)
def test_no_plural_hacks_in_the_report(demo_reports, profile, lang) -> None:
    """'2 controle(s) konden hun gegevens niet lezen': a count says its noun in the form that
    fits it."""
    text = page_text(demo_reports[profile], lang)
    assert PLURAL_HACK.findall(text) == []
    # And a count of one is singular: "1 controle kon", not "1 controles konden".
    assert not re.search(r"\b1 (controles|kritieke controles|checks|critical checks)\b", text)


def test_the_named_sentences_are_gone(demo_reports) -> None:
    nl = " ".join(page_text(demo_reports[p], "nl") for p in PROFILES)
    for sentence in (
        "dan naar punten in de score en inspanning",
        "geldt niet voor iedereen en overal",
        "Phishingbestendige MFA voor iedereen geldt niet",
        "Gebruikers kunnen geen apps registreren",
        "Beveiligingsstandaarden",
        "beveiligingsstandaarden",
        "werklasten",
        "Vastgesteld door",
    ):
        assert sentence not in nl, sentence
    assert "'Standaardinstellingen voor beveiliging'" in nl  # the setting, by its portal name
    en = " ".join(page_text(demo_reports[p], "en") for p in PROFILES)
    for sentence in (
        "How the score is made",
        "Adopted by",
        "Do first",
        "does not apply to everyone everywhere",
        "Users cannot register applications",
    ):
        assert sentence not in en, sentence
    assert "'Security defaults'" in en and "annual check-up" in en


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_vastgesteld_means_determined_never_signed(demo_reports, lang) -> None:
    """'Vastgesteld' is what the scan could establish; the sign-off is a signature."""
    ui = catalogue(lang)["ui"]
    signoff = [v for k, v in ui.items() if k.startswith("signoff")]
    assert signoff and not [v for v in signoff if re.search(r"vastgest|adopt", v, re.I)]
    text = page_text(demo_reports["weak"], lang)
    assert ui["signoff_by"] in text
    # Not "vastgesteld door" in any sense (also not "niet vastgesteld door onleesbare
    # gegevens"), and no "Adopted by" (a manual checkpoint may ask whether the board adopted
    # its risk analysis: that is a decision, not this sign-off).
    assert not re.search(r"vastgesteld door", text, re.I) and "Adopted by" not in text


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_check_titles_read_well_beside_a_fail(lang) -> None:
    """'Gebruikers kunnen geen apps registreren: ✘ voldoet niet' is a double negative: a title
    names the subject, or the state the check wants, never a negation of it."""
    negation = r"\b(geen|niet|zonder)\b" if lang == "nl" else r"\b(no|not|cannot|without)\b"
    titles = {k: v["title"] for k, v in catalogue(lang)["checks"].items()}
    assert len(titles) > 70
    assert {k: t for k, t in titles.items() if re.search(negation, t, re.I)} == {}


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("profile", PROFILES)
def test_a_finding_does_not_repeat_its_title(demo_reports, profile, lang) -> None:
    """'Phishingbestendige MFA voor iedereen geldt niet voor iedereen en overal': the finding
    stands under its title and says what is wrong, not the title again."""
    from m365apk.reports.i18n import localized

    report = localized(demo_reports[profile], lang)
    echoes = []
    for c in report.checks:
        reason = re.sub(r"^(Advies|Advice): ", "", c.result.reason or "")
        title = re.sub(r" \((advies|advice)\)$", "", c.title)
        if reason.lower().startswith(title.lower()):
            echoes.append((c.id, reason[:80]))
    assert echoes == []


@pytest.mark.parametrize("profile", PROFILES)
def test_the_english_report_has_no_dutch_norm_titles_or_words(demo_reports, profile) -> None:
    """The Normenkader is Dutch; the English report shows its titles and domains in English,
    and none of the Dutch words a reader would stumble on."""
    report = demo_reports[profile]
    text = without_tenant_names(report, page_text(report, "en"))
    kader = load_mappings().norms.values()
    dutch = {n.title for n in kader if n.title} | {n.domain_name for n in kader}
    assert len(dutch) > 20
    assert sorted(t for t in dutch if t in text) == []
    assert any(n.title for n in report.norms)  # the report does show norms
    words = r"\b(voldoet|vastgesteld|beheerders?|controles?|gebruikers|medewerkers|leerlingen|"
    words += r"geen|niet|Eerst doen|Oordeel|Deel [12]|werklasten|Beveiligingsstandaarden)\b"
    assert re.findall(words, text) == []
