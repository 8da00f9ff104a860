"""Data behind the board document (bestuursrapport): who does an action, what it costs, by when;
where in an admin portal a finding is fixed; the words part 1 explains.

Each comes from a data file with the source of every entry, so a provider can check and amend
it without touching code:
- mappings/action_details.yaml: per action (an `actions.yaml` group, or a check id for a check
  that is an action of its own): owner (school or it_partner), hours, optional licence (a key of
  its `licences:`, each with the product name, indicative list price, its source and date) and
  the suggested deadline in days;
- mappings/portal_links.yaml: per check id (and manual checkpoint), the admin-portal page where
  it is fixed, or no url with the reason;
- messages/<lang>/glossary.yaml (key `glossary`, merged into the catalogue): the begrippenlijst.

The loaders validate what they read (owner, hours, deadline, https sources), so a mistake in a
data file fails at load time, not in a rendered report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

Owner = Literal["school", "it_partner"]
OWNERS = ("school", "it_partner")
HOURS = re.compile(r"^\d+(–\d+)?$")  # "2" or "1–2" (en dash)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BoardDataError(ValueError):
    pass


@dataclass(frozen=True)
class Licence:
    product: str  # the product name as Microsoft sells it
    price: str  # indicative list price as printed, e.g. "USD 0,15 per GB per maand"
    source: str  # URL of the price list
    as_of: str  # ISO date the price was read
    included: str = ""  # where a school may already have it, e.g. "zit in Microsoft 365 A3 en A5"


@dataclass(frozen=True)
class ActionDetail:
    owner: Owner
    hours: str  # as printed, e.g. "1–2"
    deadline_days: int
    licence: Licence | None = None
    # The check ids whose fix needs the licence; empty: every fix of the action needs it.
    licence_for: tuple[str, ...] = ()

    @property
    def free(self) -> bool:
        return self.licence is None


@dataclass(frozen=True)
class PortalLink:
    portal: str  # "Microsoft Entra-beheercentrum", "Microsoft 365-beheercentrum", ...
    url: str | None  # None: not fixed in an admin portal (DNS, PowerShell, a vendor's console)
    source: str  # the Microsoft Learn page that documents this location or the steps
    reason: str = ""  # why there is no url (only when url is None)


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


def _text(value: Any, lang: str, where: str) -> str:
    """A {nl, en} mapping (or one string for both languages) in `lang`; never empty."""
    text = value.get(lang) if isinstance(value, dict) else value
    if not isinstance(text, str) or not text.strip():
        raise BoardDataError(f"{where}: geen tekst in {lang!r}")
    return text


def _https(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url.startswith("https://"):
        raise BoardDataError(f"{where}: {url!r} is geen https-adres")
    return url


def _licence(d: dict, lang: str, where: str) -> Licence:
    as_of = str(d.get("as_of", ""))
    if not ISO_DATE.match(as_of):
        raise BoardDataError(f"{where}: as_of {as_of!r} is geen datum (JJJJ-MM-DD)")
    return Licence(
        product=_text(d.get("product"), lang, f"{where}.product"),
        price=_text(d.get("price"), lang, f"{where}.price"),
        source=_https(d.get("source"), f"{where}.source"),
        as_of=as_of,
        included=_text(d["included"], lang, f"{where}.included") if "included" in d else "",
    )


@cache
def licences(lang: str = "nl") -> dict[str, Licence]:
    """The licences an action may need, by their key in action_details.yaml."""
    data = _load("m365apk.mappings", "action_details.yaml").get("licences", {})
    return {key: _licence(d, lang, f"licences.{key}") for key, d in data.items()}


@cache
def _details(lang: str) -> dict[str, ActionDetail]:
    data = _load("m365apk.mappings", "action_details.yaml").get("actions", {})
    known = licences(lang)
    out = {}
    for action_id, d in data.items():
        where = f"actions.{action_id}"
        if d.get("owner") not in OWNERS:
            raise BoardDataError(f"{where}: owner {d.get('owner')!r} is niet {OWNERS}")
        hours = str(d.get("hours", ""))
        if not HOURS.match(hours):
            raise BoardDataError(f"{where}: hours {hours!r} is geen aantal of bereik als '1–2'")
        days = d.get("deadline_days")
        if not isinstance(days, int) or not 1 <= days <= 365:
            raise BoardDataError(f"{where}: deadline_days {days!r} ligt niet tussen 1 en 365")
        lic = d.get("licence")
        if isinstance(lic, str):
            if lic not in known:
                raise BoardDataError(f"{where}: onbekende licentie {lic!r}")
            licence: Licence | None = known[lic]
        else:
            licence = _licence(lic, lang, f"{where}.licence") if lic else None
        out[action_id] = ActionDetail(
            owner=d["owner"],
            hours=hours,
            deadline_days=days,
            licence=licence,
            licence_for=tuple(d.get("licence_for", ())),
        )
    return out


def action_detail(
    action_id: str, lang: str = "nl", failing: Iterable[str] | None = None
) -> ActionDetail:
    """Who, what it costs and by when, for an action id of view.actions().

    With `failing` (the action's open check ids), the licence is named only when one of them
    needs it: fixing the app-consent settings of the logs action costs nothing."""
    detail = _details(lang).get(action_id, DEFAULT_DETAIL)
    if failing is not None and detail.licence_for and not set(failing) & set(detail.licence_for):
        return replace(detail, licence=None)
    return detail


def licence_for_product(name: str, lang: str = "nl") -> Licence | None:
    """The licence whose product name starts `name` (a check's licence prerequisite such as
    "Microsoft Entra ID P2 (in A5)"), the longest match first; None when none is known."""
    matches = [lic for lic in licences(lang).values() if name.startswith(lic.product)]
    return max(matches, key=lambda lic: len(lic.product), default=None)


@cache
def _links(lang: str) -> dict[str, PortalLink]:
    data = _load("m365apk.mappings", "portal_links.yaml").get("links", {})
    out = {}
    for check_id, d in data.items():
        where = f"links.{check_id}"
        url = d.get("url")
        out[check_id] = PortalLink(
            portal=_text(d.get("portal"), lang, f"{where}.portal"),
            url=None if url is None else _https(url, f"{where}.url"),
            source=_https(d.get("source"), f"{where}.source"),
            reason=_text(d.get("reason"), lang, f"{where}.reason") if url is None else "",
        )
    return out


def portal_link(check_id: str, lang: str = "nl") -> PortalLink | None:
    """The admin-portal page where this check's finding is fixed, or None when none is known.
    A link whose `url` is None says where it is fixed instead, and why not in a portal."""
    return _links(lang).get(check_id)


@cache
def glossary(lang: str = "nl") -> tuple[Term, ...]:
    from m365apk.messages import catalogue

    data = catalogue(lang).get("glossary", [])
    return tuple(Term(d["term"], d["explanation"], tuple(d.get("aliases", ()))) for d in data)


def terms_used(texts: list[str], lang: str = "nl") -> list[Term]:
    """The glossary terms that occur in these texts, in glossary order."""
    joined = "\n".join(t for t in texts if t)
    return [term for term in glossary(lang) if term.pattern().search(joined)]
