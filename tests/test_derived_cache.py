"""What several checks derive from one snapshot (classify_users, the users by id, licensed
mailboxes) is computed once per snapshot (#16), and afresh when what it reads changed: checks
stay pure functions of the snapshot."""

from __future__ import annotations

import pytest

from m365apk.checks import derived, populations
from m365apk.checks.evaluate import evaluate
from m365apk.checks.registry import all_checks
from m365apk.snapshot.settings import PopulationOverride

from .snapshots import ok, registration, snapshot, user


@pytest.fixture
def counted(monkeypatch):
    calls = {"n": 0}
    real = populations._classify

    def counting(snap):
        calls["n"] += 1
        return real(snap)

    monkeypatch.setattr(populations, "_classify", counting)
    derived._CACHE.clear()
    return calls


def _snap():
    users = [user("t1"), user("s1", "student"), user("g1", guest=True)]
    return snapshot(
        users=ok(users),
        userRegistrationDetails=ok([registration("t1", True), registration("s1", False)]),
    )


def test_one_evaluation_classifies_once(counted) -> None:
    snap = _snap()
    evaluate(snap, all_checks())
    assert counted["n"] == 1


def test_answer_is_read_only_and_the_same_as_computed(counted) -> None:
    snap = _snap()
    first = populations.classify_users(snap)
    assert dict(first) == {"t1": "staff", "s1": "student", "g1": "guest"}
    assert populations.classify_users(snap) is first and counted["n"] == 1
    with pytest.raises(TypeError):
        first["t1"] = "student"  # type: ignore[index]


def test_changed_inputs_are_classified_afresh(counted) -> None:
    snap = _snap()
    populations.classify_users(snap)
    snap.datasets["users"].data += [user("t2")]  # grown in place
    assert "t2" in populations.classify_users(snap)
    snap.datasets["users"] = ok([user("x")])  # replaced
    assert dict(populations.classify_users(snap)) == {"x": "staff"}
    snap.settings.populations.append(PopulationOverride(user="x", population="student"))
    assert dict(populations.classify_users(snap)) == {"x": "student"}
    assert counted["n"] == 4


def test_another_snapshot_is_its_own(counted) -> None:
    a, b = _snap(), _snap()
    b.datasets["users"] = ok([user("only")])
    assert set(populations.classify_users(a)) == {"t1", "s1", "g1"}
    assert set(populations.classify_users(b)) == {"only"}
