"""One catalogue per language for every text a person reads (issue 14 point 5, acceptance 4).

Python holds logic and ids; the words are in m365apk/messages/<lang>/. These tests fail when a
key is missing in a language, when a language's template asks for other parameters, when code
uses a key no catalogue has, and when a check writes a finding as a plain (untranslatable)
Dutch string."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from m365apk.checks.registry import all_checks
from m365apk.mappings.loader import load_mappings
from m365apk.messages import (
    LANGUAGES,
    SOURCE,
    CatalogueError,
    Msg,
    Plural,
    catalogue,
    placeholders,
)

PACKAGE = Path(__file__).resolve().parent.parent / "m365apk"


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flat(value, path + "/")
        else:
            out[path] = value
    return out


@pytest.mark.parametrize("lang", [x for x in LANGUAGES if x != SOURCE])
def test_every_language_has_every_key_with_the_same_placeholders(lang) -> None:
    source, other = flat(catalogue(SOURCE)), flat(catalogue(lang))
    assert sorted(set(source) - set(other)) == [], f"missing in {lang}"
    # The Dutch basismaatregelen are Kennisnet's own wording, kept with their sources in the
    # mapping data (mappings/basismaatregelen.yaml); the other languages translate each one.
    mappings = load_mappings()
    from_mappings = {
        f"basismaatregelen/{i}/{f}"
        for i in mappings.basismaatregelen
        for f in ("title", "description")
    }
    # The Normenkader is Kennisnet's Dutch (mappings/normenkader.yaml); every norm title we
    # could read and every domain name is translated (messages/<lang>/norms.yaml).
    from_mappings |= {f"norms/{n.id}" for n in mappings.norms.values() if n.title}
    from_mappings |= {f"norm_domains/{n.domain}" for n in mappings.norms.values()}
    assert sorted(set(other) - set(source) - from_mappings) == [], f"only in {lang}"
    assert sorted(from_mappings - set(other)) == [], f"mapping texts missing in {lang}"
    differ = [
        key
        for key, text in source.items()
        if isinstance(text, str)
        and any(
            placeholders(form) != placeholders(text) for form in forms(text) + forms(other[key])
        )
    ]
    assert differ == []


def forms(text: Any) -> list[str]:
    """A text and, for a Plural, its singular form too."""
    return [str(text), *([text.one] if isinstance(text, Plural) else [])]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_plural_says_one_thing_in_the_singular(lang) -> None:
    """Issue 27 point 5: no "controle(s)"; a count-dependent text has both forms, picked by
    its number."""
    plurals = {k: v for k, v in flat(catalogue(lang)).items() if isinstance(v, Plural)}
    assert len(plurals) > 30
    for key, text in plurals.items():
        assert text.one != str.__str__(text), key
        params = {name: 2 for name in placeholders(text)}
        assert text.format(**params) == str.__str__(text).format(**params), key
        one = {**params, text.count: 1}
        assert text.format(**one) == text.one.format(**one), key
    unreadable = catalogue(lang)["blockers"]["unreadable"]
    assert unreadable.format(count=1) != unreadable.format(count=2)
    assert Msg("engine.exclusion.groups", n=1).render(lang) in ("1 groep", "1 group")


def keys_used_in_code() -> tuple[set[str], set[str]]:
    """Literal keys of Msg("...") calls, and the fixed prefixes of f-string keys."""
    literal, prefixes = set(), set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name != "Msg":
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                literal.add(first.value)
            elif isinstance(first, ast.JoinedStr) and isinstance(first.values[0], ast.Constant):
                prefixes.add(str(first.values[0].value))
    return literal, prefixes


def test_every_key_the_code_uses_is_in_the_catalogue() -> None:
    literal, prefixes = keys_used_in_code()
    findings = catalogue(SOURCE)["findings"]
    assert literal, "the scan found no Msg keys: it cannot fail"
    assert sorted(k for k in literal if k not in findings) == []
    assert sorted(p for p in prefixes if not any(k.startswith(p) for k in findings)) == []


def test_every_check_has_its_texts_in_every_language() -> None:
    for lang in LANGUAGES:
        texts = catalogue(lang)["checks"]
        for check in all_checks(include_plugins=False, opt_in=True):
            entry = texts.get(check.id) or {}
            assert {"title", "why", "fix", "threshold"} <= set(entry), (lang, check.id)


def test_a_message_survives_report_json() -> None:
    msg = Msg.join(
        [
            Msg("data.unreadable"),
            Msg(
                "data.problem",
                source="GET /v1.0/users",
                detail=Msg("data.status.forbidden"),
                code=" [403 Authorization_RequestDenied]",
                message="",
                unread=Msg("data.unread", keys="a, b", more=Msg("data.more", n=1200)),
            ),
        ]
    )
    again = Msg.from_json(msg.to_json())
    assert str(again) == str(msg) and again.render("en") == msg.render("en")
    assert "1.200" in msg and "1,200" in msg.render("en")  # numbers in the reader's notation


def test_a_missing_key_is_an_error_not_a_silent_blank() -> None:
    with pytest.raises(CatalogueError):
        Msg("no.such.key")


def test_adding_a_plain_string_to_a_message_is_refused() -> None:
    with pytest.raises(TypeError):
        _ = Msg("data.unreadable") + " extra"


@pytest.mark.parametrize("profile", ["weak", "good", "board"])
def test_checks_write_their_findings_from_the_catalogue(demo_reports, profile) -> None:
    """Every reason and every affected object's detail a built-in check writes carries its
    catalogue keys, so it can be said in English; a plain Dutch string cannot."""
    results = [c.result for c in demo_reports[profile].checks]
    plain = [(r.check_id, r.reason) for r in results if r.reason and not r.reason_parts] + [
        (r.check_id, a.detail)
        for r in results
        for a in r.evidence.affected
        if a.detail and not a.detail_parts
    ]
    assert plain == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_is_text_not_a_yaml_boolean(lang) -> None:
    """YAML 1.1 reads a bare `yes:`/`no:`/`on:` key as a boolean: the lookup by "no" then
    misses and a fallback says "nee" in the English report."""

    def keys(tree: dict) -> list:
        out = list(tree)
        for value in tree.values():
            if isinstance(value, dict):
                out += keys(value)
        return out

    assert [k for k in keys(catalogue(lang)) if not isinstance(k, str | int)] == []
    words = catalogue(lang)["words"]
    assert {"yes", "no", "none"} <= set(words)


def test_a_measured_no_reads_in_the_readers_language() -> None:
    from m365apk.reports import humanize

    for lang, expected in (("nl", "nee"), ("en", "no")):
        words = catalogue(lang)["words"]
        assert humanize.value({"isEnabled": False}, lang, words) == f"isEnabled: {expected}"
    assert Msg("data.status.ok").render("en") == "read"
