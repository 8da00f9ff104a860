"""Answers several checks derive from one snapshot (the users by id, populations, licensed
mailboxes), computed once per snapshot instead of once per check.

At 100,000 accounts the same dictionaries were measured being built up to 24 times per
evaluation (#16). Checks stay pure functions of the snapshot: an answer is kept per snapshot
object together with what it was computed from (the identity and size of the datasets it
reads and of the tenant settings), so a snapshot whose datasets were replaced or grown since is
answered afresh, and it goes when the snapshot goes. Answers are shared between checks, so they
are handed out read-only (mappings as MappingProxyType, lists as tuples).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from m365apk.snapshot import Snapshot

P = ParamSpec("P")
R = TypeVar("R")

# scan-all evaluates tenants in threads: one lock keeps the cache's bookkeeping consistent.
# Re-entrant: a snapshot collected while the lock is held runs `_forget` in the same thread.
_LOCK = threading.RLock()
_CACHE: dict[tuple[Any, ...], tuple[weakref.ref[Snapshot], tuple[Any, ...], Any]] = {}
# Entries also go with their snapshot; the bound only matters for snapshots kept alive long.
_LIMIT = 512


def _inputs(snapshot: Snapshot, datasets: tuple[str, ...]) -> tuple[Any, ...]:
    settings = snapshot.settings
    parts: list[Any] = [id(settings), id(settings.populations), len(settings.populations)]
    parts += [id(settings.approved_exclusions), len(settings.approved_exclusions)]
    parts += [id(settings.break_glass), len(settings.break_glass)]  # the people model reads it
    for name in datasets:
        ds = snapshot.datasets.get(name)
        data = None if ds is None else ds.data
        size = len(data) if isinstance(data, (list, dict)) else None
        parts += [id(ds), None if ds is None else ds.status, id(data), size]
    return tuple(parts)


def per_snapshot(*datasets: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Keep `fn(snapshot, *args)` per snapshot; `datasets` are the ones `fn` reads."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def cached(*args: P.args, **kwargs: P.kwargs) -> R:
            snapshot = args[0]
            assert isinstance(snapshot, Snapshot) and not kwargs
            key = (fn, id(snapshot), args[1:])
            inputs = _inputs(snapshot, datasets)
            hit = _CACHE.get(key)
            if hit is not None and hit[0]() is snapshot and hit[1] == inputs:
                return hit[2]
            value = fn(*args, **kwargs)
            ref = weakref.ref(snapshot, lambda _, key=key: _forget(key))
            with _LOCK:
                while len(_CACHE) >= _LIMIT:
                    _CACHE.pop(next(iter(_CACHE)), None)
                _CACHE[key] = (ref, inputs, value)
            return value

        return cached

    return wrap


def _forget(key: tuple[Any, ...]) -> None:
    with _LOCK:
        _CACHE.pop(key, None)
