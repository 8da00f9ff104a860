"""Accepted risks: a school may accept a finding for a while, with a reason, a name and an end
date. An accepted finding is shown as such and counts outside the score; once the date has
passed it is a finding again. The date to compare with is the scan's (never the clock)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from m365apk.checks.base import CheckResult, Status
from m365apk.messages import Msg
from m365apk.snapshot.files import read_yaml

# The outcome a result would have had without the accepted risk, in the words of the statuses.
_OUTCOME = {Status.FAIL: "exceptions.outcome.fail", Status.PARTIAL: "exceptions.outcome.partial"}


class RiskException(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check_id: str
    reason: str
    accepted_by: str
    expires: date
    objects: list[str] = []  # optional: only these affected objects (ids); empty = the whole check


class ExceptionsError(ValueError):
    pass


def load_exceptions(path: Path, known: set[str] | None = None) -> list[RiskException]:
    """Read an exceptions file: a YAML list (or `exceptions:` list) of accepted risks.

    Every check id must exist (a typo would silently accept nothing) and occur once (two
    entries for one check would leave it to chance which reason and end date count)."""
    if known is None:
        from m365apk.checks.registry import all_checks  # the catalogue imports this module

        known = {c.id for c in all_checks(opt_in=True)}
    data = read_yaml(path, ExceptionsError)
    items = data.get("exceptions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ExceptionsError(f"{path}: verwacht een lijst met uitzonderingen")
    out = []
    for i, raw in enumerate(items, 1):
        try:
            out.append(RiskException.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            label = raw.get("check_id", "?") if isinstance(raw, dict) else "?"
            raise ExceptionsError(
                f"{path}: uitzondering {i} ({label}): {field}: {first['msg']}"
            ) from None
        check_id = out[-1].check_id
        if check_id not in known:
            raise ExceptionsError(
                f"{path}: uitzondering {i}: check_id: onbekende check {check_id!r} "
                "(zie m365apk checks)"
            )
        earlier = [n for n, e in enumerate(out[:-1], 1) if e.check_id == check_id]
        if earlier:
            raise ExceptionsError(
                f"{path}: uitzondering {i}: check_id: {check_id!r} staat er al "
                f"(uitzondering {earlier[0]}); één uitzondering per check"
            )
    return out


def apply_exceptions(
    results: list[CheckResult], exceptions: list[RiskException], today: date
) -> list[CheckResult]:
    by_check = {e.check_id: e for e in exceptions}
    out = []
    for result in results:
        exception = by_check.get(result.check_id)
        if exception is None or result.status not in (Status.FAIL, Status.PARTIAL):
            out.append(result)
            continue
        affected = {o.id for o in result.evidence.affected}
        if exception.objects and not affected <= set(exception.objects):
            out.append(result)  # more is wrong than was accepted
            continue
        # The school's reason and name are its own words: never translated.
        said = {
            "date": exception.expires.isoformat(),
            "reason": exception.reason,
            "by": exception.accepted_by,
        }
        if today > exception.expires:
            note = Msg("exceptions.expired", **said)
            status = Status.FAIL
        else:
            outcome = Msg(_OUTCOME[result.status])
            note = Msg("exceptions.accepted", **said, outcome=outcome)
            status = Status.ACCEPTED
        reason = Msg.join([note, _original(result)])
        out.append(
            result.model_copy(
                update={"status": status, "reason": str(reason), "reason_parts": reason.to_json()}
            )
        )
    return out


def _original(result: CheckResult) -> str | None:
    """The result's own reason, with its catalogue keys when it has them."""
    if result.reason_parts:
        return Msg.from_json(result.reason_parts)
    return result.reason
