"""What several checks derive from one snapshot (classify_users, the users by id, licensed
mailboxes) is computed once per snapshot (#16), and afresh when what it reads changed: checks
stay pure functions of the snapshot."""

from __future__ import annotations

import pytest

from m365apk.checks import derived, populations
from m365apk.checks.evaluate import evaluate
from m365apk.checks.registry import all_checks
from m365apk.snapshot.settings import PopulationOverride

from .snapshots import FACULTY, ok, registration, snapshot, user


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


def test_users_by_id_is_shared_and_read_only() -> None:
    from m365apk.checks.common import users

    snap = _snap()
    first = users(snap)
    assert users(snap) is first and set(first) == {"t1", "s1", "g1"}
    with pytest.raises(TypeError):
        first["x"] = {}  # type: ignore[index]
    snap.datasets["users"] = ok([user("only")])  # replaced: answered afresh
    assert set(users(snap)) == {"only"}


def test_licensed_members_look_up_each_licence_assignment_once(monkeypatch) -> None:
    from m365apk.checks import plans

    calls = {"n": 0}
    real = plans._plan_names

    def counting(u, skus):
        calls["n"] += 1
        return real(u, skus)

    monkeypatch.setattr(plans, "_plan_names", counting)
    derived._CACHE.clear()
    staff = [user(f"t{i}") for i in range(50)]  # one licence assignment shared by all
    trimmed = {
        **user("t-no-mail"),
        "assignedLicenses": [{"skuId": FACULTY, "disabledPlans": ["p-exo"]}],
    }
    plans_of = [
        {"servicePlanId": "p-exo", "servicePlanName": "EXCHANGE_S_STANDARD"},
        {"servicePlanId": "p-spo", "servicePlanName": "SHAREPOINTSTANDARD_EDU"},
    ]
    skus = ok([{"skuId": FACULTY, "skuPartNumber": "M365EDU_A3_FACULTY", "servicePlans": plans_of}])
    snap = snapshot(users=ok(staff + [trimmed]), subscribedSkus=skus)
    once = plans.licensed_members(snap, "mailbox")
    again = plans.licensed_members(snap, "mailbox")
    assert again is once and calls["n"] == 2  # the shared assignment and the trimmed one
    # The same answer as asking per user, the way it was before the cache.
    skus = plans._skus(snap)
    expected = [
        u["id"]
        for u in snap.dataset("users").data
        if u.get("accountEnabled") and plans.has_mailbox(u, skus)
    ]
    assert expected and [u["id"] for u in once] == expected


def test_snapshots_evaluated_in_threads_each_get_their_own_answer() -> None:
    """scan-all evaluates tenants in threads: answers never cross between snapshots."""
    from concurrent.futures import ThreadPoolExecutor

    snaps = []
    for i in range(24):
        s = _snap()
        s.datasets["users"] = ok([user(f"u{i}-{j}") for j in range(i + 1)])
        snaps.append(s)

    def ask(s):
        return set(populations.classify_users(s))

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            answers = list(pool.map(ask, snaps))
            assert answers == [{f"u{i}-{j}" for j in range(i + 1)} for i in range(24)]


def test_an_answer_goes_with_its_snapshot() -> None:
    import gc

    derived._CACHE.clear()
    snap = _snap()
    populations.classify_users(snap)
    assert len(derived._CACHE) == 1
    del snap
    gc.collect()
    assert not derived._CACHE
