"""Mail in Exchange Online (issue 28, point 2): shared mailboxes that can be signed in to, mail
forwarded outside the school, mailbox auditing, MailTips for external recipients, and the e-mail
DNS checks over Exchange's accepted domains. Hand-built snapshots, objects shaped as the
Exchange Online Admin API returns them (PascalCase, as the cmdlets name them)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from m365apk.checks import email, mail
from m365apk.checks.base import Status
from m365apk.checks.manual import manual_items
from m365apk.checks.registry import all_checks
from m365apk.scanner.exchange import NOT_AVAILABLE_CODE, NOT_AVAILABLE_TEXT
from m365apk.snapshot import Dataset, DatasetStatus, Snapshot

from .snapshots import failed, ok, snapshot, user

SHARED_ID = "5a1e0000-0000-4000-8000-000000000001"
TEACHER_ID = "7eac0000-0000-4000-8000-000000000002"


def mailbox(
    uid: str,
    address: str,
    kind: str = "UserMailbox",
    smtp: str | None = None,
    recipient: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "ExternalDirectoryObjectId": uid,
        "UserPrincipalName": address,
        "PrimarySmtpAddress": address,
        "DisplayName": address.split("@")[0].title(),
        "Identity": address.split("@")[0],
        "RecipientTypeDetails": kind,
        "ForwardingSmtpAddress": smtp,
        "ForwardingAddress": recipient,
        "DeliverToMailboxAndForward": bool(smtp or recipient),
        "AuditEnabled": True,
        **extra,
    }


def domain(name: str, kind: str = "Authoritative", default: bool = False) -> dict[str, Any]:
    return {"DomainName": name, "DomainType": kind, "Default": default}


DOMAINS = [
    domain("school.nl", default=True),
    domain("school.onmicrosoft.com"),
]


def org(**settings: Any) -> list[dict[str, Any]]:
    base = {
        "Name": "school.onmicrosoft.com",
        "MailTipsAllTipsEnabled": True,
        "MailTipsExternalRecipientsTipsEnabled": True,
        "MailTipsLargeAudienceThreshold": 25,
        "AuditDisabled": False,
    }
    return [{**base, **settings}]


def exo(data: Any, cmdlet: str) -> Dataset:
    return Dataset(
        status=DatasetStatus.OK,
        endpoint=f"POST /adminapi/v2.0/{{tenant}}/{cmdlet}",
        permission="Exchange.ManageAsAppV2",
        data=data,
    )


def not_available(cmdlet: str) -> Dataset:
    """The organisation's answer while the Admin API preview is not available to it, as the
    Exchange source records it (scanner/exchange.py)."""
    return Dataset(
        status=DatasetStatus.NOT_AVAILABLE,
        endpoint=f"POST /adminapi/v2.0/{{tenant}}/{cmdlet}",
        permission="Exchange.ManageAsAppV2",
        http_status=404,
        error_code=NOT_AVAILABLE_CODE,
        error_message=NOT_AVAILABLE_TEXT,
    )


def school(
    mailboxes: list[dict[str, Any]],
    users: list[dict[str, Any]] | None = None,
    domains: list[dict[str, Any]] | None = None,
    organization: list[dict[str, Any]] | None = None,
    **datasets: Dataset,
) -> Snapshot:
    base = {
        "users": ok(users if users is not None else [user(SHARED_ID), user(TEACHER_ID)]),
        "exoMailboxes": exo(mailboxes, "Mailbox"),
        "exoAcceptedDomains": exo(DOMAINS if domains is None else domains, "AcceptedDomain"),
        "exoOrganizationConfig": exo(org() if organization is None else organization, "Org"),
    }
    base.update(datasets)
    return snapshot(**base)


def run(check: Any, s: Snapshot) -> Any:
    return check.run(s)


# --- shared mailboxes ---------------------------------------------------------------------------


def test_weak_school_shared_mailbox_that_can_sign_in_fails() -> None:
    s = school(
        [
            mailbox(SHARED_ID, "administratie@school.nl", "SharedMailbox"),
            mailbox(TEACHER_ID, "juf@school.nl"),
        ]
    )
    result = run(mail.SHARED_SIGNIN, s)
    assert result.status is Status.FAIL
    assert "administratie@school.nl" in result.reason or "Administratie" in result.reason
    assert [o.id for o in result.evidence.affected] == [SHARED_ID]
    assert result.evidence.counts["aanmelden_mogelijk"] == 1


def test_shared_mailbox_with_sign_in_blocked_passes() -> None:
    s = school(
        [mailbox(SHARED_ID, "administratie@school.nl", "SharedMailbox")],
        users=[user(SHARED_ID, enabled=False)],
    )
    assert run(mail.SHARED_SIGNIN, s).status is Status.PASS


def test_shared_mailbox_whose_account_was_not_read_is_undetermined_never_pass() -> None:
    s = school(
        [
            mailbox(SHARED_ID, "administratie@school.nl", "SharedMailbox"),
            mailbox("0ther000-0000-4000-8000-000000000009", "info@school.nl", "SharedMailbox"),
        ],
        users=[user(SHARED_ID, enabled=False)],
    )
    result = run(mail.SHARED_SIGNIN, s)
    assert result.status is Status.UNKNOWN
    assert result.evidence.counts["onbepaald"] == 1
    assert "1" in result.reason


def test_shared_mailbox_whose_sign_in_state_graph_left_empty_is_undetermined() -> None:
    blocked = {**user(SHARED_ID), "accountEnabled": None}
    s = school([mailbox(SHARED_ID, "info@school.nl", "SharedMailbox")], users=[blocked])
    assert run(mail.SHARED_SIGNIN, s).status is Status.UNKNOWN


def test_mailbox_whose_kind_exchange_did_not_return_is_undetermined() -> None:
    box = mailbox(SHARED_ID, "info@school.nl")
    del box["RecipientTypeDetails"]
    assert run(mail.SHARED_SIGNIN, school([box])).status is Status.UNKNOWN


def test_school_without_shared_mailboxes_passes() -> None:
    s = school([mailbox(TEACHER_ID, "juf@school.nl")])
    assert run(mail.SHARED_SIGNIN, s).status is Status.PASS


# --- forwarding ---------------------------------------------------------------------------------


def test_weak_school_mailbox_forwarding_to_a_private_address_fails_naming_it() -> None:
    s = school(
        [
            mailbox(TEACHER_ID, "juf@school.nl", smtp="smtp:juf.prive@gmail.com"),
            mailbox(SHARED_ID, "info@school.nl", "SharedMailbox"),
        ]
    )
    result = run(mail.FORWARDING, s)
    assert result.status is Status.FAIL
    assert "juf@school.nl" in result.reason and "gmail.com" in result.reason
    assert "juf.prive" not in result.reason  # the target domain, not the address
    assert [o.id for o in result.evidence.affected] == [TEACHER_ID]


def test_forwarding_within_the_accepted_domains_passes() -> None:
    s = school(
        [
            mailbox(TEACHER_ID, "juf@school.nl", smtp="SMTP:secretariaat@School.NL"),
            mailbox(SHARED_ID, "info@school.nl", "SharedMailbox", recipient="juf"),
        ]
    )
    assert run(mail.FORWARDING, s).status is Status.PASS


def test_subdomain_counts_as_inside_only_through_a_wildcard_accepted_domain() -> None:
    boxes = [mailbox(TEACHER_ID, "juf@school.nl", smtp="smtp:juf@leerling.school.nl")]
    assert run(mail.FORWARDING, school(boxes)).status is Status.FAIL
    wildcard = [*DOMAINS, domain("*.school.nl", "InternalRelay")]
    assert run(mail.FORWARDING, school(boxes, domains=wildcard)).status is Status.PASS
    # a look-alike is not a subdomain
    boxes = [mailbox(TEACHER_ID, "juf@school.nl", smtp="smtp:x@badschool.nl")]
    assert run(mail.FORWARDING, school(boxes, domains=wildcard)).status is Status.FAIL


def test_forwarding_to_a_recipient_the_api_cannot_read_is_undetermined_with_the_command() -> None:
    s = school([mailbox(TEACHER_ID, "juf@school.nl", recipient="Oud-collega Extern")])
    result = run(mail.FORWARDING, s)
    assert result.status is Status.UNKNOWN
    assert (
        "Get-Recipient -Identity 'Oud-collega Extern' | Format-List "
        "RecipientTypeDetails,ExternalEmailAddress" in result.reason
    )


def test_mailbox_without_its_forwarding_properties_is_undetermined() -> None:
    box = mailbox(TEACHER_ID, "juf@school.nl")
    del box["ForwardingSmtpAddress"]
    assert run(mail.FORWARDING, school([box])).status is Status.UNKNOWN


def test_forwarding_cannot_be_judged_without_the_accepted_domains() -> None:
    boxes = [mailbox(TEACHER_ID, "juf@school.nl", smtp="smtp:x@gmail.com")]
    assert run(mail.FORWARDING, school(boxes, domains=[])).status is Status.UNKNOWN
    broken = [{"DomainName": None, "DomainType": "Authoritative", "Default": True}]
    assert run(mail.FORWARDING, school(boxes, domains=broken)).status is Status.UNKNOWN


def test_smtp_domain_reads_the_address_as_get_mailbox_returns_it() -> None:
    assert mail.smtp_domain("smtp:a@Example.NL") == "example.nl"
    assert mail.smtp_domain("a@example.nl.") == "example.nl"
    assert mail.smtp_domain("smtp:") is None and mail.smtp_domain("geen adres") is None


@pytest.mark.parametrize(
    "address, domain",
    [
        ("Juf Jansen <juf@School.nl>", "school.nl"),
        ('"Jansen, M" <m@gmail.com>', "gmail.com"),
        ("mailto:m@gmail.com", "gmail.com"),
        ('"a@b"@gmail.com', "gmail.com"),
        ("m@[192.0.2.1]", None),  # an address literal: no domain to judge
        ("EX:/o=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=a@b.nl", None),
        ("/o=ExchangeLabs/cn=Recipients/cn=juf@school.nl", None),
        ("m@gmail .com", None),
        ("m@school..nl", None),
        ("m@localhost", None),
        ("m\uff20gmail.com", None),
    ],
)
def test_a_target_address_in_any_of_its_written_forms_gives_its_own_domain(
    address: str, domain: str | None
) -> None:
    assert mail.smtp_domain(address) == domain


# --- organisation settings ----------------------------------------------------------------------


def test_school_with_mailbox_auditing_turned_off_fails() -> None:
    s = school([], organization=org(AuditDisabled=True))
    result = run(mail.AUDITING, s)
    assert result.status is Status.FAIL and result.measured == {"AuditDisabled": True}
    assert run(mail.AUDITING, school([], organization=org())).status is Status.PASS


def test_auditing_setting_the_api_did_not_return_is_unknown_with_the_command() -> None:
    settings = org()
    del settings[0]["AuditDisabled"]
    result = run(mail.AUDITING, school([], organization=settings))
    assert result.status is Status.UNKNOWN
    assert "Get-OrganizationConfig | Format-List AuditDisabled" in result.reason


def test_weak_school_without_external_mailtips_fails() -> None:
    s = school([], organization=org(MailTipsExternalRecipientsTipsEnabled=False))
    result = run(mail.MAILTIPS, s)
    assert result.status is Status.FAIL
    assert "MailTipsExternalRecipientsTipsEnabled" in result.reason
    assert run(mail.MAILTIPS, school([], organization=org())).status is Status.PASS


@pytest.mark.parametrize("value", [None, "True"])
def test_mailtips_setting_that_is_not_a_boolean_is_unknown(value: Any) -> None:
    s = school([], organization=org(MailTipsAllTipsEnabled=value))
    result = run(mail.MAILTIPS, s)
    assert result.status is Status.UNKNOWN
    assert "None" not in result.reason


# --- the Admin API not available ----------------------------------------------------------------


def test_organisation_without_the_admin_api_preview_leaves_every_mail_check_unknown() -> None:
    s = school(
        [],
        exoMailboxes=not_available("Mailbox"),
        exoAcceptedDomains=not_available("AcceptedDomain"),
        exoOrganizationConfig=not_available("OrganizationConfig"),
    )
    for check in mail.CHECKS:
        result = check.run(s)
        assert result.status is Status.UNKNOWN, check.id
        assert "niet beschikbaar in deze organisatie" in result.reason, check.id
        assert "not available in this organisation" in result.reason_in("en"), check.id


def test_empty_mailbox_list_is_not_nothing_to_judge() -> None:
    for check in (mail.SHARED_SIGNIN, mail.FORWARDING):
        assert run(check, school([])).status is Status.UNKNOWN


def test_users_unreadable_leaves_shared_mailboxes_unknown() -> None:
    s = school([mailbox(SHARED_ID, "info@school.nl", "SharedMailbox")])
    s = s.model_copy(update={"datasets": {**s.datasets, "users": failed(DatasetStatus.FORBIDDEN)}})
    assert run(mail.SHARED_SIGNIN, s).status is Status.UNKNOWN


# --- e-mail DNS over the accepted domains ------------------------------------------------------

GOOD_DNS = {
    "mx": {"status": "ok", "records": ["0 school-nl.mail.protection.outlook.com"]},
    "txt": {"status": "ok", "records": ["v=spf1 include:spf.protection.outlook.com -all"]},
    "dmarc": {"status": "ok", "records": ["v=DMARC1; p=reject; rua=mailto:d@school.nl"]},
    "dkim_selector1": {"status": "ok", "records": ["selector1-school-nl._domainkey.x"]},
    "dkim_selector2": {"status": "ok", "records": ["selector2-school-nl._domainkey.x"]},
    "mta_sts": {"status": "ok", "records": ["v=STSv1; id=1"]},
}
NO_DMARC = {**GOOD_DNS, "dmarc": {"status": "nxdomain", "records": []}}
GRAPH_DOMAINS = [{"id": "school.nl", "isVerified": True, "supportedServices": ["Email"]}]


def dns_school(lookups: dict[str, Any], accepted: Dataset) -> Snapshot:
    return snapshot(
        domains=ok(GRAPH_DOMAINS),
        mailDomainDns=ok(lookups),
        exoAcceptedDomains=accepted,
    )


def test_school_accepted_domain_that_graph_does_not_list_for_mail_is_judged() -> None:
    """Exchange accepts mail for oud-school.nl (a merged school's domain), Graph's domain list
    does not mark it for e-mail: its missing DMARC record is found."""
    accepted = exo([domain("school.nl", default=True), domain("oud-school.nl")], "AcceptedDomain")
    lookups = {"school.nl": GOOD_DNS, "oud-school.nl": NO_DMARC}
    result = email.DMARC.run(dns_school(lookups, accepted))
    assert result.status is Status.FAIL and "oud-school.nl" in result.reason


def test_accepted_domain_without_dns_lookups_is_undetermined() -> None:
    accepted = exo([domain("school.nl", default=True), domain("oud-school.nl")], "AcceptedDomain")
    result = email.SPF.run(dns_school({"school.nl": GOOD_DNS}, accepted))
    assert result.status is Status.UNKNOWN and "oud-school.nl" in result.reason


def test_without_accepted_domains_the_verified_domains_are_judged_and_it_says_so() -> None:
    unasked = Dataset(status=DatasetStatus.NOT_COLLECTED, endpoint="AcceptedDomain", permission="")
    for accepted in (not_available("AcceptedDomain"), unasked):
        result = email.DMARC.run(dns_school({"school.nl": GOOD_DNS}, accepted))
        assert result.status is Status.PASS
        assert "geaccepteerde domeinen" in result.reason
        result = email.DMARC.run(dns_school({"school.nl": NO_DMARC}, accepted))
        assert result.status is Status.FAIL and "geaccepteerde domeinen" in result.reason


def test_reading_the_accepted_domains_never_improves_an_email_verdict() -> None:
    lookups = {"school.nl": GOOD_DNS, "oud-school.nl": NO_DMARC}
    read = exo([domain("school.nl"), domain("oud-school.nl")], "AcceptedDomain")
    order = {Status.PASS: 2, Status.UNKNOWN: 1, Status.FAIL: 0}
    for check in email.CHECKS:
        with_them = check.run(dns_school(lookups, read)).status
        without = check.run(dns_school(lookups, not_available("AcceptedDomain"))).status
        assert order[with_them] <= order[without], check.id


# --- data: the properties each check reads are documented ---------------------------------------


def test_every_exchange_property_a_check_reads_is_in_the_mapping_data() -> None:
    from importlib import resources

    text = (resources.files("m365apk.mappings") / "exchange_properties.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    listed = {(p["endpoint"], p["property"]) for p in data["properties"]}
    by_dataset = {e["dataset"]: name for name, e in data["endpoints"].items()}
    for check in all_checks():
        for name, props in check.reads.properties:
            if name in by_dataset:
                for prop in props:
                    assert (by_dataset[name], prop) in listed, (check.id, prop)
    for prop in ("ForwardingSmtpAddress", "ForwardingAddress"):
        assert ("Mailbox", prop) in listed
    for p in data["properties"]:
        assert p["source"].startswith("https://learn.microsoft.com/"), p["property"]
    manual = {m.id for m in manual_items()}
    for gap in data["not_returned"]:
        assert gap["manual"] in manual
        question = next(m.question for m in manual_items() if m.id == gap["manual"])
        assert "Get-" in question  # the exact command the provider runs


# --- probes (wt/probe-mail): tenant situations the first tests did not cover --------------------


def test_forwarding_address_listing_two_addresses_is_undetermined_not_inside() -> None:
    """A ForwardingSmtpAddress holding an outside address and a school address behind it
    ("x@gmail.com;y@school.nl") is no one address: read by its last '@' it looked inside the
    school and passed."""
    for smtp in (
        "smtp:x@gmail.com;y@school.nl",
        "smtp:x@gmail.com,y@school.nl",
        "smtp:x@gmail.com y@school.nl",
        "smtp:x@school.nl\u200b",
    ):
        s = school([mailbox(TEACHER_ID, "t@school.nl", smtp=smtp)])
        assert run(mail.FORWARDING, s).status is Status.UNKNOWN, smtp


def test_forwarding_to_the_schools_own_domain_written_in_unicode_or_punycode_is_inside() -> None:
    """An accepted domain with an accent (école.nl), written by Exchange in one form and by the
    forwarding address in the other (xn--cole-9oa.nl), is the same domain."""
    for accepted, target in (("école.nl", "xn--cole-9oa.nl"), ("xn--cole-9oa.nl", "école.nl")):
        s = school(
            [mailbox(TEACHER_ID, "t@school.nl", smtp=f"smtp:x@{target}")],
            domains=[domain(accepted), *DOMAINS],
        )
        assert run(mail.FORWARDING, s).status is Status.PASS, (accepted, target)
    s = school([mailbox(TEACHER_ID, "t@school.nl", smtp="smtp:x@xn--cole-9oa.nl")])
    assert run(mail.FORWARDING, s).status is Status.FAIL


def test_forwarding_to_an_external_relay_domain_leaves_the_school() -> None:
    """ExternalRelay: 'served by an e-mail server outside the Exchange organization and outside
    the organization's control' (AcceptedDomainType); InternalRelay: 'inside the organization's
    control', so still the school's."""
    relayed = [mailbox(TEACHER_ID, "t@school.nl", smtp="smtp:x@partner.nl")]
    s = school(relayed, domains=[domain("partner.nl", "ExternalRelay"), *DOMAINS])
    result = run(mail.FORWARDING, s)
    assert result.status is Status.FAIL and "partner.nl" in result.reason
    s = school(relayed, domains=[domain("partner.nl", "InternalRelay"), *DOMAINS])
    assert run(mail.FORWARDING, s).status is Status.PASS


def test_shared_mailbox_whose_kind_is_written_in_other_case_still_counts_as_shared() -> None:
    for kind in ("sharedmailbox", "SharedMailbox ", "SHAREDMAILBOX"):
        s = school([mailbox(SHARED_ID, "info@school.nl", kind)], users=[user(SHARED_ID)])
        assert run(mail.SHARED_SIGNIN, s).status is Status.FAIL, kind


def test_room_and_equipment_mailboxes_are_not_judged_as_shared_ones() -> None:
    """CIS 1.2.2 and Maester read only RecipientTypeDetails SharedMailbox; a room's account
    signs in on purpose (Teams Rooms), so an enabled room is no finding here."""
    for kind in ("RoomMailbox", "EquipmentMailbox"):
        s = school([mailbox(SHARED_ID, "zaal@school.nl", kind)], users=[user(SHARED_ID)])
        assert run(mail.SHARED_SIGNIN, s).status is Status.PASS, kind


def test_wildcard_or_padded_accepted_domain_is_never_looked_up_as_a_name() -> None:
    """Get-AcceptedDomain names ' *.school.nl' (padded) and 'School.NL.': the collector looks up
    school.nl once and never the wildcard, and the checks expect exactly what was looked up;
    Microsoft's *.onmicrosoft.com domains are left out on both sides."""
    from m365apk.scanner.dns import accepted_mail_domains

    names = [" *.school.nl", "School.NL. ", "*school.nl", "School.Mail.OnMicrosoft.com"]
    accepted = exo([domain(n) for n in names], "AcceptedDomain")
    assert accepted_mail_domains(accepted) == ["school.nl"]
    s = dns_school({"school.nl": GOOD_DNS}, accepted)
    assert email.accepted_domains(s) == {"school.nl"}
    assert email.DMARC.run(s).status is Status.PASS


def test_forwarding_to_a_contact_that_shares_a_mailboxs_display_name_is_undetermined() -> None:
    """ForwardingAddress names a recipient by its identity (its Name); a display name is no
    identity: the outside contact 'Jan Jansen' is not the teacher whose mailbox is shown as
    'Jan Jansen' (Name 'jjansen'), so the forwarding is not known to stay inside."""
    teacher = mailbox(TEACHER_ID, "jjansen@school.nl", DisplayName="Jan Jansen", Name="jjansen")
    teacher["Identity"] = "jjansen"
    shared = mailbox(SHARED_ID, "info@school.nl", "SharedMailbox", recipient="Jan Jansen")
    result = run(mail.FORWARDING, school([teacher, shared]))
    assert result.status is Status.UNKNOWN
    assert "Get-Recipient -Identity 'Jan Jansen'" in result.reason


def test_exchange_that_kept_throttling_is_not_blamed_on_graph() -> None:
    """A throttled Exchange read names the Admin API endpoint, not Microsoft Graph."""
    throttled = Dataset(
        status=DatasetStatus.THROTTLED,
        endpoint="POST /adminapi/v2.0/{tenant}/Mailbox",
        permission="Exchange.ManageAsAppV2",
        http_status=429,
    )
    result = run(mail.FORWARDING, school([], exoMailboxes=throttled))
    assert result.status is Status.UNKNOWN and "/adminapi/" in result.reason
    assert "Graph" not in result.reason and "Graph" not in result.reason_in("en")


def test_accented_domain_in_graphs_list_still_matches_an_inbox_rule_target() -> None:
    """Without Exchange's list, inbox rules judge against Graph's verified domains; an accented
    domain written as such there is the same domain as the rule target in either form."""
    for target in ("école.nl", "xn--cole-9oa.nl"):
        assert mail.is_inside(target, ({"école.nl"}, set()))
        assert mail.is_inside(f"a.{target}", (set(), {"école.nl"}))
    assert not mail.is_inside("ecole.nl", ({"école.nl"}, set()))
