"""Finding checks: the built-in catalogue plus any installed package's `m365apk.checks` entry point.

An entry point may name a Check, an iterable of Checks, or a callable returning either.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points

from m365apk.checks.base import Check
from m365apk.messages import Msg

ENTRY_POINT_GROUP = "m365apk.checks"


class CheckLoadError(Exception):
    pass


def _as_checks(obj: object, origin: str) -> list[Check]:
    if callable(obj) and not isinstance(obj, Check):
        obj = obj()
    if isinstance(obj, Check):
        return [obj]
    if isinstance(obj, Iterable):
        found = list(obj)
        bad = [x for x in found if not isinstance(x, Check)]
        if not bad:
            return found
    raise CheckLoadError(Msg("registry.not_checks", origin=origin))


def _plugin(name: str, value: str) -> Msg:
    return Msg("registry.plugin", name=name, value=value)


def plugin_checks() -> list[Check]:
    checks: list[Check] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plugin must say which one it is
            raise CheckLoadError(
                Msg("registry.plugin_fails", plugin=_plugin(ep.name, ep.value), error=str(exc))
            ) from exc
        checks.extend(_as_checks(loaded, _plugin(ep.name, ep.value)))
    return checks


def all_checks(include_plugins: bool = True, opt_in: bool | Iterable[str] = False) -> list[Check]:
    """The catalogue. A check that changes something in the tenant to measure (`Check.opt_in`,
    e.g. the audit log probe creates a query) is left out unless `opt_in` names it (True: every
    such check, for listings such as `m365apk checks` and `permissions`)."""
    from m365apk.checks.builtin import BUILTIN_CHECKS

    wanted = None if opt_in is True else set(opt_in or ())
    checks = [
        c
        for c in list(BUILTIN_CHECKS) + (plugin_checks() if include_plugins else [])
        if c.opt_in is None or wanted is None or c.opt_in in wanted
    ]
    seen: dict[str, Check] = {}
    for check in checks:
        if check.id in seen:
            raise CheckLoadError(Msg("registry.duplicate_id", id=repr(check.id)))
        seen[check.id] = check
    return sorted(seen.values(), key=lambda c: c.id)


def select_checks(checks: list[Check], ids: Iterable[str] | None) -> list[Check]:
    if not ids:
        return checks
    wanted = set(ids)
    unknown = wanted - {c.id for c in checks}
    if unknown:
        raise CheckLoadError(Msg("registry.unknown_ids", ids=", ".join(sorted(unknown))))
    return [c for c in checks if c.id in wanted]
