"""Numbers, dates and raw codes as a person reads them, in the report's language.

Formatting goes through Babel (CLDR), so a Dutch reader sees 23,8% and 1,2 s and an English one
23.8% and 1.2 s. One date format per language: 27 november 2026 / 27 November 2026.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

LOCALES = {"nl": "nl_NL", "en": "en_GB"}


def _locale(lang: str) -> str:
    return LOCALES.get(lang, "nl_NL")


# babel's formatting is slow (measured: 2% of scan-all's CPU) and reports repeat few numbers.
@lru_cache(maxsize=4096)
def number(value: float | int, lang: str = "nl", digits: int = 1) -> str:
    fmt = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=fmt, locale=_locale(lang))


@lru_cache(maxsize=4096)
def percent(value: float, lang: str = "nl") -> str:
    """`value` is a percentage (28.1 means 28.1%), as the checks measure it."""
    return format_percent(value / 100, format="#,##0.#%", locale=_locale(lang))


_DECIMAL = re.compile(r"(?<![\d.,])(\d+)\.(\d+)(?=\s?%)")


def numbers_in(text: str | None, lang: str = "nl") -> str | None:
    """Percentages in a sentence a check wrote ("23.8%") in the reader's notation ("23,8%")."""
    if not text or lang != "nl":
        return text
    return _DECIMAL.sub(r"\1,\2", text)


def seconds(value: float, lang: str = "nl") -> str:
    return f"{number(value, lang, 1)} s"


def day(value: date | datetime | str | None, lang: str = "nl") -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="long", locale=_locale(lang))


def moment(value: datetime, lang: str = "nl") -> str:
    """Date and time (UTC, as Graph records it)."""
    return f"{day(value, lang)} {format_datetime(value, 'HH:mm', locale=_locale(lang))} UTC"


@cache
def _products() -> dict[str, dict[str, str]]:
    text = (resources.files("m365apk.mappings") / "products.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["products"]


def product(sku: str, lang: str = "nl") -> str:
    names = _products().get(sku)
    return names.get(lang, names["nl"]) if names else sku


def products(skus: list[str], lang: str = "nl") -> str:
    return ", ".join(sorted({product(s, lang) for s in skus}))


def key_label(key: str, labels: dict[str, str] | None = None) -> str:
    """A count's or measured value's id as a label: from the catalogue (`labels:`), else the id
    made readable."""
    return (labels or {}).get(key) or key.replace("_", " ").replace("pct", "%")


def value(
    raw: Any,
    lang: str = "nl",
    words: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Any measured value in words: no JSON, no `true`, no `[]`."""
    words = words or {}
    if raw is None:
        return "–"
    if isinstance(raw, bool):
        return words.get("yes" if raw else "no", "ja" if raw else "nee")
    if isinstance(raw, int):
        return number(raw, lang, 0)
    if isinstance(raw, float):
        return number(raw, lang, 1)
    if isinstance(raw, list):
        if not raw:
            return words.get("none", "geen")
        return ", ".join(value(v, lang, words, labels) for v in raw)
    if isinstance(raw, dict):
        parts = []
        for k, v in raw.items():
            shown = percent(v, lang) if k.endswith("pct") and isinstance(v, int | float) else None
            parts.append(f"{key_label(k, labels)}: {shown or value(v, lang, words, labels)}")
        return "; ".join(parts)
    return str(raw)
