"""Handmatige controlepunten: questions no Graph call can answer, with the answers a school or
its provider recorded per tenant. They are shown, never scored: an unanswered one is open, an
answered one is a statement, not a measurement."""

from __future__ import annotations

from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from m365apk.messages import SOURCE, Msg, catalogue
from m365apk.snapshot.files import read_yaml


class ManualItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    basismaatregelen: list[int]
    norms: list[str]
    question: str
    evidence: str


class Attestation(BaseModel):
    """One recorded answer: what, who, when, and where the evidence is."""

    model_config = ConfigDict(extra="forbid")

    id: str
    answer: Literal["ja", "nee", "gedeeltelijk", "nvt"]
    by: str
    date: date
    evidence: str | None = None  # a link or a document reference
    note: str | None = None


class AttestationError(ValueError):
    pass


@cache
def manual_items() -> tuple[ManualItem, ...]:
    """The items of mappings/manual.yaml (ids, basismaatregelen, norms) with their question and
    expected evidence from the Dutch catalogue (messages/nl/checks/manual.yaml)."""
    text = (resources.files("m365apk.mappings") / "manual.yaml").read_text(encoding="utf-8")
    texts = catalogue(SOURCE).get("manual", {})
    return tuple(
        ManualItem.model_validate({**texts.get(i["id"], {}), **i})
        for i in yaml.safe_load(text)["items"]
    )


def load_attestations(path: Path) -> list[Attestation]:
    """Read the tenant's answers: a YAML list (or `answers:` list) of attestations."""
    data = read_yaml(path, AttestationError)
    items = data.get("answers") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise AttestationError(Msg("manual.attestations.not_a_list", path=str(path)))
    known = {i.id for i in manual_items()}
    out = []
    for n, raw in enumerate(items, 1):
        label = raw.get("id", "?") if isinstance(raw, dict) else "?"
        try:
            answer = Attestation.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise AttestationError(
                Msg(
                    "manual.attestations.invalid",
                    path=str(path),
                    n=n,
                    label=str(label),
                    where=where,
                    error=first["msg"],  # pydantic's own message
                )
            ) from None
        if answer.id not in known:
            raise AttestationError(
                Msg("manual.attestations.unknown_item", path=str(path), n=n, item=repr(answer.id))
            )
        out.append(answer)
    return out
