"""Every text a person reads, one catalogue per language (issue 14 point 5).

The catalogue of a language is the directory `messages/<lang>/`: `ui.yaml` for the report,
overview and CLI, `checks/<module>.yaml` for each check module (title, why, fix, threshold per
check id, and the templates of its findings under `findings:`). The files of one language are
merged into one mapping; a key given twice is an error. Python holds logic and ids only.

A finding is a `Msg`: a `str` whose value is the Dutch sentence (Dutch is the source language,
and report.json is the Dutch evidence) that also carries its catalogue key and parameters, so the
report can render the same finding in English. Tenant data in parameters (names, domains) is
never translated; numbers and lists are formatted for the reader's locale (Babel).

A text whose words depend on a number is written in both forms, `{one: ..., many: ...}` (and
`count: <parameter>` when the number is not `{count}` or `{n}`): it loads as a `Plural`, a
`str` that is the "many" form and whose `format()` says the "one" form when the number is 1.
So no sentence needs "controle(s)" or "bevinding(en)", and no caller has to choose a key.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml
from babel.lists import format_list
from babel.numbers import format_decimal

LANGUAGES = ("nl", "en")
SOURCE = "nl"
_LOCALES = {"nl": "nl_NL", "en": "en_GB"}


class CatalogueError(ValueError):
    pass


@cache
def catalogue(lang: str) -> dict[str, Any]:
    """The merged catalogue of `lang`."""
    if lang not in LANGUAGES:
        raise ValueError(f"onbekende taal {lang!r}; kies uit {', '.join(LANGUAGES)}")
    merged: dict[str, Any] = {}
    root = resources.files("m365apk.messages") / lang
    for path in sorted(_yaml_files(root), key=lambda p: p.name):
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        _merge(merged, data, f"{lang}/{path.name}")
    return _plurals(merged, lang)


_PLURAL_KEYS = {"one", "many"}
_COUNT_NAMES = ("count", "n")


class Plural(str):
    """A text in its plural form that says its singular form when its number is 1."""

    one: str
    count: str

    def __new__(cls, one: str, many: str, count: str | None = None) -> Plural:
        obj = str.__new__(cls, many)
        obj.one = one
        names = placeholders(many) | placeholders(one)
        found = count or next((n for n in _COUNT_NAMES if n in names), None)
        if found is None or found not in names:
            raise CatalogueError(f"meervoud zonder getal: {many!r}")
        obj.count = found
        return obj

    def format(self, *args: Any, **kwargs: Any) -> str:
        number = kwargs.get(self.count)
        text = self.one if _is_one(number) else str.__str__(self)
        return str.format(text, *args, **kwargs)


def _is_one(number: Any) -> bool:
    if isinstance(number, bool):
        return False
    if isinstance(number, int | float):
        return number == 1
    return isinstance(number, str) and number.strip() == "1"


def _plurals(tree: dict[str, Any], where: str) -> dict[str, Any]:
    for key, value in tree.items():
        if not isinstance(value, dict):
            continue
        if _PLURAL_KEYS <= set(value) <= _PLURAL_KEYS | {"count"}:
            tree[key] = Plural(value["one"], value["many"], value.get("count"))
        else:
            _plurals(value, f"{where}.{key}")
    return tree


def _yaml_files(folder: Any) -> Iterable[Any]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _yaml_files(entry)
        elif entry.name.endswith(".yaml"):
            yield entry


def _merge(into: dict[str, Any], data: Mapping[str, Any], where: str, path: str = "") -> None:
    for key, value in data.items():
        here = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, where, here)
        elif key in into:
            raise CatalogueError(f"{where}: {here} staat al in een ander bestand")
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def check_texts(check_id: str, lang: str) -> dict[str, str]:
    """Title, why, fix, fix_free and threshold of a check in `lang` ({} when not catalogued)."""
    return catalogue(lang).get("checks", {}).get(check_id, {})


def template(key: str, lang: str) -> str | None:
    return catalogue(lang).get("findings", {}).get(key)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# A part of a message: a catalogue key with its parameters, or a literal text (tenant data, a
# plugin's own sentence) that no catalogue knows.
Part = tuple[str | None, Mapping[str, Any]]


class Msg(str):
    """A sentence for a person: its Dutch text, and how to say it in another language."""

    parts: tuple[Part, ...]

    def __new__(cls, key: str, /, **params: Any) -> Msg:
        return cls._of(((key, params),))

    @classmethod
    def _of(cls, parts: tuple[Part, ...]) -> Msg:
        obj = str.__new__(cls, _render(parts, SOURCE))
        obj.parts = parts
        return obj

    @classmethod
    def literal(cls, text: str) -> Msg:
        return cls._of(((None, {"text": text}),))

    @classmethod
    def join(cls, items: Iterable[str | None]) -> Msg:
        """Sentences after one another (a space between), each in its own key."""
        parts: list[Part] = []
        for item in items:
            if not item:
                continue
            parts.extend(item.parts if isinstance(item, Msg) else ((None, {"text": item}),))
        return cls._of(tuple(parts))

    def __add__(self, other: str) -> str:
        # `+` would silently give a plain Dutch string that cannot be translated any more.
        raise TypeError("Msg + str verliest de vertaling; gebruik Msg.join of een parameter")

    def render(self, lang: str) -> str:
        if lang == SOURCE:  # rendered when made: the text itself
            return str.__str__(self)
        return _render(self.parts, lang)

    def to_json(self) -> list[dict[str, Any]]:
        return [_part_json(p) for p in self.parts]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> Msg:
        return cls._of(tuple(_part_from_json(p) for p in data))


def render(text: str | None, lang: str) -> str | None:
    """`text` in `lang`: a Msg is rendered from its keys, a plain string stays as it is."""
    if isinstance(text, Msg):
        return text.render(lang)
    return text


def _render(parts: tuple[Part, ...], lang: str) -> str:
    return " ".join(s for s in (_render_part(p, lang) for p in parts) if s)


def _render_part(part: Part, lang: str) -> str:
    key, params = part
    if key is None:
        return str(params.get("text", ""))
    if not params:  # the same sentence for thousands of affected objects: formatted once
        return _bare(key, lang)
    return _formatted(key, lang).format(**{k: _value(v, lang) for k, v in params.items()})


@lru_cache(maxsize=4096)
def _bare(key: str, lang: str) -> str:
    return _formatted(key, lang).format()


def _formatted(key: str, lang: str) -> str:
    text = template(key, lang) or template(key, SOURCE)
    if text is None:
        raise CatalogueError(f"geen tekst voor {key!r}")
    return text


def _value(value: Any, lang: str) -> str:
    if isinstance(value, Msg):
        return value.render(lang)
    if isinstance(value, bool):
        return catalogue(lang)["words"]["yes" if value else "no"]
    if isinstance(value, int):
        return _decimal(value, None, lang)
    if isinstance(value, float):
        return _decimal(value, "#,##0.#", lang)
    if isinstance(value, list | tuple):
        items = [_value(v, lang) for v in value]
        return format_list(items, locale=_LOCALES[lang]) if items else ""
    return str(value)


# babel's formatting is slow and messages repeat few numbers (counts, percentages).
@lru_cache(maxsize=4096)
def _decimal(value: int | float, fmt: str | None, lang: str) -> str:
    return format_decimal(value, format=fmt, locale=_LOCALES[lang])


def _part_json(part: Part) -> dict[str, Any]:
    key, params = part
    if key is None:
        return {"text": str(params.get("text", ""))}
    return {"key": key, "params": {k: _param_json(v) for k, v in params.items()}}


def _param_json(value: Any) -> Any:
    if isinstance(value, Msg):
        return {"msg": value.to_json()}
    if isinstance(value, list | tuple):
        return [_param_json(v) for v in value]
    return value


def has_msg(value: Any) -> bool:
    if isinstance(value, Msg):
        return True
    if isinstance(value, dict):
        return any(has_msg(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_msg(v) for v in value)
    return False


def encode(value: Any) -> Any:
    """A value with messages inside (a measured dict, say) as JSON: each Msg as {"msg": parts}."""
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return _param_json(value)


def plain(value: Any) -> Any:
    """The same value with each Msg as its Dutch string (for report.json)."""
    if isinstance(value, Msg):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def decoded(value: Any, lang: str) -> Any:
    """What `encode` wrote, with each message rendered in `lang`."""
    if isinstance(value, dict) and "msg" in value and len(value) == 1:
        return Msg.from_json(value["msg"]).render(lang)
    if isinstance(value, dict):
        return {k: decoded(v, lang) for k, v in value.items()}
    if isinstance(value, list):
        return [decoded(v, lang) for v in value]
    return value


def _part_from_json(data: dict[str, Any]) -> Part:
    if "key" not in data:
        return (None, {"text": data.get("text", "")})
    return (data["key"], {k: _param_from_json(v) for k, v in (data.get("params") or {}).items()})


def _param_from_json(value: Any) -> Any:
    if isinstance(value, dict) and "msg" in value:
        return Msg.from_json(value["msg"])
    if isinstance(value, list):
        return [_param_from_json(v) for v in value]
    return value
