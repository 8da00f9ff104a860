"""Mapping data: every id resolves, every norm is cited, bad files fail with file and entry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from m365apk.checks.registry import all_checks
from m365apk.mappings.loader import MappingError, load_mappings


def test_every_check_maps_to_known_basismaatregelen_and_norms() -> None:
    mappings = load_mappings()
    mappings.validate_checks(all_checks(opt_in=True))
    for check in all_checks(opt_in=True):
        for norm, basis in mappings.norms_for(check):
            assert norm.source, norm.id  # every norm shown carries its source
            assert basis in ("kennisnet", "inferred")


def test_eleven_basismaatregelen_with_kennisnet_sources() -> None:
    mappings = load_mappings()
    assert sorted(mappings.basismaatregelen) == list(range(1, 12))
    for bm in mappings.basismaatregelen.values():
        assert any("kennisnet.nl" in s for s in bm.sources)
        assert bm.norms and all(link.id in mappings.norms for link in bm.norms)


def test_unverified_titles_are_not_invented() -> None:
    norms = load_mappings().norms
    assert norms["BC.01"].title is None and not norms["CO.01"].official
    assert norms["SM.02"].official and norms["SM.02"].title == "Authenticatiemechanismes"


def test_a_check_with_an_unknown_norm_fails_validation() -> None:
    check = dataclasses.replace(all_checks(opt_in=True)[0], norms=("XX.99",))
    with pytest.raises(MappingError, match=rf"check {check.id}: onbekende norm 'XX.99'"):
        load_mappings().validate_checks([check])


def test_overlay_adds_a_framework(tmp_path: Path) -> None:
    overlay = tmp_path / "bio.yaml"
    overlay.write_text(
        "framework: {id: BIO, name: Baseline Informatiebeveiliging Overheid}\n"
        "controls:\n  - {id: '5.17.01', title: MFA voor beheerders}\n"
        "checks:\n  mfa.registration_coverage: ['5.17.01']\n",
        encoding="utf-8",
    )
    mappings = load_mappings([overlay], entry_points=False)
    assert [c.id for c in mappings.controls["mfa.registration_coverage"]] == ["5.17.01"]
    assert mappings.version != load_mappings(entry_points=False, _use_cache=False).version


@pytest.mark.parametrize(
    "text, message",
    [
        ("framework: {id: BIO}\ncontrols: [{id: a}, {id: a}]\n", "control a: dubbel id"),
        ("framework: {id: BIO}\nchecks: {x.y: [nope]}\n", "check x.y: onbekende control 'nope'"),
        ("overrides: {x.y: {norms: [ZZ.01]}}\n", "override x.y: onbekende norm 'ZZ.01'"),
        ("framework: [\n", "geen geldige YAML"),
    ],
)
def test_bad_overlay_names_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    overlay = tmp_path / "eigen.yaml"
    overlay.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match=message) as error:
        load_mappings([overlay], entry_points=False)
    assert "eigen.yaml" in str(error.value)
