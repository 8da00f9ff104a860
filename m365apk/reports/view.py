"""What the reader is told, derived from the Report: the verdict's reason in one sentence, the
actions to take ("Eerst doen"), measured values in words. Pure functions of the report and the
catalogue, so Dutch and English list the same actions in the same order."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from m365apk.reports import humanize
from m365apk.reports.board_data import ActionDetail, action_detail
from m365apk.reports.model import CheckEntry, Report
from m365apk.reports.scoring import Score, load_scoring

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
EFFORT_RANK = {"klein": 0, "middel": 1, "groot": 2}
FINDINGS = ("fail", "partial")
UNDETERMINED = ("unknown", "not_licensed")


@cache
def action_groups() -> dict[str, str]:
    """check id -> action id (mappings/actions.yaml)."""
    text = (resources.files("m365apk.mappings") / "actions.yaml").read_text(encoding="utf-8")
    groups = yaml.safe_load(text)["actions"]
    return {check: action for action, ids in groups.items() for check in ids}


def rank(c: CheckEntry) -> tuple[int, int, int, str]:
    # Ties are broken on the check id, never on a translated title: same order in every language.
    return (
        SEVERITY_RANK[c.severity],
        c.result.status.value != "fail",
        EFFORT_RANK.get(c.effort, 1),
        c.id,
    )


def measured_text(c: CheckEntry, messages: dict[str, Any], lang: str) -> str | None:
    """The measured value in words, or None when the check measured nothing worth a number."""
    result = c.result
    fields: dict[str, str] = {}
    for k, v in (result.evidence.counts or {}).items():
        fields[k] = humanize.value(v, lang, messages["words"])
    raw = result.measured
    if isinstance(raw, dict):
        for k, v in raw.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                pct = k.endswith("pct")
                fields[k] = humanize.percent(v, lang) if pct else humanize.value(v, lang)
                fields[f"{k}_pct"] = humanize.percent(v, lang)
            else:
                fields[k] = humanize.value(v, lang, messages["words"])
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        fields["measured"] = humanize.value(raw, lang)
        fields["measured_pct"] = humanize.percent(raw, lang)
    template = messages["measured"].get(c.id)
    if template:
        try:
            return template.format(**fields)
        except (KeyError, IndexError, ValueError):
            pass  # a check that measured less than usual: fall back to its finding
    if plain_reason(result.reason):
        return plain_reason(result.reason)
    if result.evidence.counts:
        return humanize.value(
            result.evidence.counts, lang, messages["words"], messages.get("labels")
        )
    if raw is not None and not isinstance(raw, bool) and raw != []:
        return humanize.value(raw, lang, messages["words"], messages.get("labels"))
    return None


@dataclass
class Action:
    id: str
    title: str
    severity: str
    effort: str
    checks: list[CheckEntry] = field(default_factory=list)

    @property
    def advice(self) -> bool:
        """Only low-severity findings (the catalogue's "(advies)" checks): it ranks after every
        requirement, whatever points it wins back (issue 27 finding 3)."""
        return all(c.severity == "low" for c in self.checks)

    @property
    def paid(self) -> bool:
        """The fix needs a licence the school may not have (mappings/action_details.yaml)."""
        return not self.detail().free

    def detail(self, lang: str = "nl") -> ActionDetail:
        """Who, hours, deadline and the licence its open findings need (board_data)."""
        return action_detail(self.id, lang, failing=[c.id for c in self.checks])

    def key(self) -> tuple[int, int, int, float, int, str]:
        """A failing critical check first (it decides "Onvoldoende"), then requirements before
        advice, then a free fix before a paid one, then the points the action wins back, then
        the smaller effort, then the check id (never a translated title)."""
        config = load_scoring()
        lost = sum(
            config.severity_weights[c.severity]
            * (1 - config.status_points.get(c.result.status.value, 1))
            for c in self.checks
        )
        critical = any(
            c.severity == "critical" and c.result.status.value == "fail" for c in self.checks
        )
        return (
            0 if critical else 1,
            1 if self.advice else 0,
            1 if self.paid else 0,
            -lost,
            EFFORT_RANK.get(self.effort, 1),
            self.checks[0].id,
        )


@cache
def group_heads() -> dict[str, str]:
    """action id -> the check its title names: the first one listed in mappings/actions.yaml
    ("Dwing MFA af voor iedereen" names mfa.enforced_for_all)."""
    heads: dict[str, str] = {}
    for check, action in action_groups().items():
        heads.setdefault(action, check)
    return heads


def actions(report: Report, messages: dict[str, Any]) -> list[Action]:
    """Open findings grouped by what the school does, most important first. An action is named
    after what fails: the group's title only when the check that title names fails, else its
    title for the rest of the group (`actions_rest`) (issue 27 finding 3: "Dwing MFA af voor
    iedereen" stood above advice while MFA for everyone was enforced)."""
    groups = action_groups()
    found = sorted((c for c in report.checks if c.result.status.value in FINDINGS), key=rank)
    by_id: dict[str, Action] = {}
    for c in found:
        gid = groups.get(c.id, c.id)
        if gid not in by_id:
            by_id[gid] = Action(gid, c.title, c.severity, c.effort)
        by_id[gid].checks.append(c)
    for a in by_id.values():
        if a.id not in group_heads():
            continue  # a check that is an action of its own keeps its title
        if group_heads()[a.id] in {c.id for c in a.checks}:
            a.title = messages["actions"].get(a.id, a.title)
        else:  # the check the group title names passes: the group's title for the rest
            a.title = messages["actions_rest"].get(a.id, a.title)
    return sorted(by_id.values(), key=Action.key)


def _join(parts: list[str]) -> str:
    return "; ".join(parts)


def blockers_text(score: Score, messages: dict[str, Any]) -> list[str]:
    texts = messages["blockers"]
    out = []
    for code in score.blockers:
        out.append(
            texts[code].format(
                count=(
                    score.counts.get("unknown", 0) if code == "unreadable" else score.manual_not_ok
                ),
                determined=score.evaluated + score.accepted,
                applicable=score.total - score.counts.get("not_applicable", 0),
                open=score.manual_total - score.manual_answered,
                total=score.manual_total,
            )
        )
    return out


def verdict_reason(score: Score, checks: list[CheckEntry], messages: dict[str, Any]) -> str:
    """Why the verdict is what it is, in one or two sentences."""
    texts = messages["reasons"]
    blockers = blockers_text(score, messages)
    failed = sorted((c for c in checks if c.result.status.value == "fail"), key=rank)
    technical = score.technical_verdict or score.verdict
    if score.verdict == "op_orde":
        return texts["op_orde"]
    if technical == "op_orde":
        return texts["technical_op_orde_but"].format(score=score.score, blockers=_join(blockers))
    # A critical check that could not be determined (unknown or not licensed) leaves the
    # technical verdict undetermined (mappings/scoring.yaml): the reader learns which one.
    critical = sorted(
        (c for c in checks if c.severity == "critical" and c.result.status.value in UNDETERMINED),
        key=rank,
    )
    if technical == "niet_vastgesteld":
        sentence = (
            texts["niet_vastgesteld_critical"].format(
                count=len(critical), titles=_join([c.title for c in critical])
            )
            if critical
            else texts["niet_vastgesteld"]
        )
    elif technical == "onvoldoende":
        failed_critical = [c for c in failed if c.severity == "critical"]
        sentence = (
            texts["onvoldoende_critical"].format(
                count=len(failed_critical), title=failed_critical[0].title
            )
            if failed_critical
            else texts["onvoldoende_score"].format(score=score.score)
        )
    else:
        high = [c for c in failed if c.severity in ("critical", "high")]
        if high:
            sentence = texts["aandacht_high"].format(count=len(high), title=high[0].title)
        else:
            sentence = texts["aandacht_score"].format(score=score.score)
    if blockers:
        sentence += " " + texts["also"].format(blockers=_join(blockers))
    return sentence


# Technical detail a check appends to its finding: the Graph request and raw status codes. They
# stay in the technical appendix; the body shows the sentence a person reads.
_REQUEST = re.compile(r"\s*(?:GET|POST) /(?:v1\.0|beta)/\S*.*$", re.DOTALL)
_RAW_STATUS = re.compile(r"\s*\(status: [^)]*\)")


def plain_reason(reason: str | None) -> str | None:
    if not reason:
        return reason
    return _RAW_STATUS.sub("", _REQUEST.sub("", reason)).strip() or None


def _normal(text: str | None) -> str:
    return re.sub(r"[\s.;:,]+", " ", (text or "").lower()).strip()


def adds_to_reason(measured: str | None, reason: str | None) -> bool:
    """The measured value says something the finding does not (issue 27 finding 1: "the
    measured value repeats the sentence after 'gemeten:'")."""
    if not measured:
        return False
    m, r = _normal(measured), _normal(plain_reason(reason))
    return not (m and r and (m in r or r in m))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\u201c\"(])")


def sentences(text: str) -> list[str]:
    """A text cut into sentences (a full stop, ! or ? before a capital, digit or quote)."""
    return [p.strip() for p in _SENTENCE_END.split(text) if p.strip()]


@dataclass
class Said:
    """What the appendix prints for a check's finding, why and fix, each sentence once: the
    sentences not printed before, and the checks where the others stand."""

    reason: str | None = None
    reason_refs: list[str] = field(default_factory=list)
    why_ref: str | None = None
    fix_ref: str | None = None


def said_before(checks: list[CheckEntry]) -> dict[str, Said]:
    """Per check, in the appendix's order: each sentence of a finding is printed where it first
    occurs; a later check refers to that one (issue 27 finding 1: one sentence 14 times). The
    why and fix texts likewise, as a whole."""
    first_sentence: dict[str, str] = {}
    first_text: dict[tuple[str, str], str] = {}
    out: dict[str, Said] = {}
    for c in checks:
        said = Said()
        new: list[str] = []
        for sentence in sentences(c.result.reason or ""):
            key = _normal(sentence)
            if key in first_sentence and first_sentence[key] != c.id:
                if first_sentence[key] not in said.reason_refs:
                    said.reason_refs.append(first_sentence[key])
            else:
                first_sentence.setdefault(key, c.id)
                new.append(sentence)
        said.reason = " ".join(new) or None
        for kind, text in (("why", c.why), ("fix", c.fix)):
            if not text:
                continue
            key2 = (kind, _normal(text))
            if key2 in first_text:
                setattr(said, f"{kind}_ref", first_text[key2])
            else:
                first_text[key2] = c.id
        out[c.id] = said
    return out


def measure_line(measure: Any, checks: dict[str, CheckEntry], messages: dict[str, Any]) -> str:
    """One short line per basismaatregel for the board: its most important open finding, or
    what keeps it from being determined, or that its checks pass."""
    texts = messages["ui"]
    own = sorted((checks[i] for i in measure.checks if i in checks), key=rank)
    found = [c for c in own if c.result.status.value in FINDINGS]
    undetermined = [c for c in own if c.result.status.value in UNDETERMINED]
    parts = []
    if found:
        parts.append(
            texts["measure_line_found"].format(title=found[0].title)
            if len(found) == 1
            else texts["measure_line_found_more"].format(title=found[0].title, more=len(found) - 1)
        )
    elif undetermined:
        parts.append(texts["measure_line_undetermined"].format(count=len(undetermined)))
    elif own:
        parts.append(texts["measure_line_pass"])
    else:
        parts.append(texts["measure_line_manual_only"])
    if measure.score.manual_total > measure.score.manual_answered:
        parts.append(
            texts["measure_line_manual_open"].format(
                open=measure.score.manual_total - measure.score.manual_answered
            )
        )
    return "; ".join(parts)


@dataclass
class NotChecked:
    """Checks that could not be determined, for one cause in plain words."""

    cause: str  # licence | permission | graph_error | no_conclusion
    what: str  # the product name or the permission; "" for the other causes
    checks: list[CheckEntry] = field(default_factory=list)


_PRODUCT_NOTE = re.compile(r"\s*\([^)]*\)\s*$")
_CAUSE_ORDER = {"licence": 0, "permission": 1, "graph_error": 2, "no_conclusion": 3}


def not_checked(report: Report) -> list[NotChecked]:
    """The undetermined checks grouped by cause (issue 27 point 4): the licence the school
    lacks by product name, the permission the app lacks, Graph answering with an error or not
    in time, or data that allowed no conclusion. The raw rows stay in the appendix."""
    problems = {p.dataset: p for p in [*report.unreadable, *report.not_licensed]}
    groups: dict[tuple[str, str], NotChecked] = {}
    for c in sorted(report.checks, key=rank):
        status = c.result.status.value
        if status not in UNDETERMINED:
            continue
        mine = [problems[d] for d in c.datasets if d in problems]
        if status == "not_licensed":
            product = next((p.missing_licence for p in mine if p.missing_licence), None)
            cause, what = "licence", _PRODUCT_NOTE.sub("", product or c.licence or "")
        elif any(p.status == "forbidden" for p in mine):
            cause, what = "permission", ""  # the permissions are named below, together
        elif mine:
            cause, what = "graph_error", ""
        else:
            cause, what = "no_conclusion", ""
        groups.setdefault((cause, what), NotChecked(cause, what)).checks.append(c)
    permission = groups.get(("permission", ""))
    if permission:  # one group: the permissions the app lacks, each named once
        missing = {
            problems[d].permission
            for c in permission.checks
            for d in c.datasets
            if d in problems and problems[d].status == "forbidden" and problems[d].permission
        }
        permission.what = ", ".join(sorted(missing))
    return sorted(groups.values(), key=lambda g: (_CAUSE_ORDER[g.cause], g.what))


@dataclass
class Unreadable:
    """Datasets that could not be read for one reason (a status): the permissions that are
    missing (forbidden), else the datasets."""

    status: str
    items: list[str] = field(default_factory=list)


def unreadable_groups(report: Report) -> list[Unreadable]:
    """The unreadable datasets of a partial scan, one short line per cause, for the cover."""
    groups: dict[str, Unreadable] = {}
    for p in report.unreadable:
        item = p.permission if p.status == "forbidden" and p.permission else p.dataset
        group = groups.setdefault(p.status, Unreadable(p.status))
        if item not in group.items:
            group.items.append(item)
    return list(groups.values())
