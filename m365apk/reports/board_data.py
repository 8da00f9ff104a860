"""Data behind the board document (bestuursrapport): who does an action, what it costs, by when;
where in an admin portal a finding is fixed; the words part 1 explains.

Each comes from a data file with the source of every entry, so a provider can check and amend
it without touching code:
- mappings/action_details.yaml: per action (an `actions.yaml` group, or a check id for a check
  that is an action of its own): owner (school or it_partner), hours, optional licence (product
  name, indicative list price, its source and date) and the suggested deadline in days;
- mappings/portal_links.yaml: per check id, the admin-portal page where it is fixed;
- messages/<lang>/glossary.yaml (key `glossary`, merged into the catalogue): the begrippenlijst.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import yaml

Owner = Literal["school", "it_partner"]


@dataclass(frozen=True)
class Licence:
    product: str  # the product name as Microsoft sells it
    price: str  # indicative list price as printed, e.g. "€ 2,60 per gebruiker per maand"
    source: str  # URL of the price list
    as_of: str  # ISO date the price was read


@dataclass(frozen=True)
class ActionDetail:
    owner: Owner
    hours: str  # as printed, e.g. "1–2"
    deadline_days: int
    licence: Licence | None = None

    @property
    def free(self) -> bool:
        return self.licence is None


@dataclass(frozen=True)
class PortalLink:
    portal: str  # "Microsoft Entra-beheercentrum", "Microsoft 365-beheercentrum", ...
    url: str
    source: str  # the Microsoft Learn page that documents this location


@dataclass(frozen=True)
class Term:
    term: str
    explanation: str
    aliases: tuple[str, ...] = ()

    def pattern(self) -> re.Pattern[str]:
        words = "|".join(re.escape(w) for w in (self.term, *self.aliases))
        return re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)


DEFAULT_DETAIL = ActionDetail(owner="it_partner", hours="1–4", deadline_days=90)


def _load(package: str, name: str) -> dict:
    text = (resources.files(package) / name).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


@cache
def _details(lang: str) -> dict[str, ActionDetail]:
    data = _load("m365apk.mappings", "action_details.yaml").get("actions", {})
    out = {}
    for action_id, d in data.items():
        lic = d.get("licence")
        out[action_id] = ActionDetail(
            owner=d["owner"],
            hours=str(d["hours"]),
            deadline_days=int(d["deadline_days"]),
            licence=(
                Licence(
                    product=lic["product"],
                    price=lic["price"][lang] if isinstance(lic["price"], dict) else lic["price"],
                    source=lic["source"],
                    as_of=str(lic["as_of"]),
                )
                if lic
                else None
            ),
        )
    return out


def action_detail(action_id: str, lang: str = "nl") -> ActionDetail:
    """Who, what it costs and by when, for an action id of view.actions()."""
    return _details(lang).get(action_id, DEFAULT_DETAIL)


@cache
def _links() -> dict[str, PortalLink]:
    data = _load("m365apk.mappings", "portal_links.yaml").get("links", {})
    return {
        check_id: PortalLink(portal=d["portal"], url=d["url"], source=d["source"])
        for check_id, d in data.items()
    }


def portal_link(check_id: str) -> PortalLink | None:
    """The admin-portal page where this check's finding is fixed, or None when none is known."""
    return _links().get(check_id)


@cache
def glossary(lang: str = "nl") -> tuple[Term, ...]:
    from m365apk.messages import catalogue

    data = catalogue(lang).get("glossary", [])
    return tuple(Term(d["term"], d["explanation"], tuple(d.get("aliases", ()))) for d in data)


def terms_used(texts: list[str], lang: str = "nl") -> list[Term]:
    """The glossary terms that occur in these texts, in glossary order."""
    joined = "\n".join(t for t in texts if t)
    return [term for term in glossary(lang) if term.pattern().search(joined)]
