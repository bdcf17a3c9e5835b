"""Which tenants a maintenance notice impacts and who of them is told (docs/announcements.md), over a
synthetic registry; the notice's checks; the message and its iCalendar event."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.notices import notice, render, state  # noqa: E402


def tenant(name, *, status="active", members=None, zones=(), vms=(), certificates=(), domains=(), apps=()):
    return {
        "name": name, "display_name": name.title(), "status": status,
        "members": members if members is not None else [{"name": f"{name} lead", "email": f"lead@{name}.test"}],
        "services": {"zones": [{"name": zone} for zone in zones], "vms": [{"name": vm} for vm in vms],
                     "certificates": [{"name": cert, "names": [f"{name}.test"]} for cert in certificates],
                     "domains": [{"name": domain, "registrar": registrar} for domain, registrar in domains],
                     "apps": [{"name": app, "vm": vm} for app, vm in apps]},
    }


REGISTRY = {
    "dns-only": tenant("dns-only", zones=["dns-only.test", "sub.dns-only.test"], domains=[("dns-only.test", "tenant")]),
    "hosting": tenant("hosting", zones=["hosting.test"], vms=["web1", "db1"], certificates=["web"],
                      domains=[("hosting.test", "psf")], apps=[("site", "web1")],
                      members=[{"name": "Ada", "email": "ada@hosting.test", "notify": True},
                               {"name": "Ben", "email": "ben@hosting.test", "notify": False}]),
    "quiet": tenant("quiet", vms=["box"], members=[{"name": "Q", "email": "q@quiet.test", "notify": False}]),
    "paused": tenant("paused", status="suspended", zones=["paused.test"], vms=["old"]),
    "gone": {"name": "gone", "display_name": "Gone", "status": "retired",
             "members": [{"name": "G", "email": "g@gone.test", "notify": True}],
             "services": {"zones": [], "vms": [], "certificates": [], "domains": [], "apps": []}},
}
GROUPS = {
    "all": ["localhost", "ns1.infra.test", "ns2.infra.test", "backup1", "monitor1", "web1.hosting", "db1.hosting",
            "box.quiet", "old.paused"],
    "nameservers": ["ns1.infra.test", "ns2.infra.test"], "backup_servers": ["backup1"],
    "monitoring_servers": ["monitor1"], "tenant_vms": ["web1.hosting", "db1.hosting", "box.quiet", "old.paused"],
}


def a_notice(**scope):
    return {"what": "Work", "start": "2026-12-10T18:00:00+01:00", "end": "2026-12-10T20:00:00+01:00",
            "impact": "Some downtime.", "scope": scope}


def impacted(**scope):
    return notice.impacted_tenants(notice.parse_notice(a_notice(**scope)), REGISTRY, GROUPS)


# --------------------------------------------------------------------------- who is impacted

def test_a_name_server_maintenance_impacts_every_tenant_whose_zones_it_serves():
    result = impacted(services=["nameservers"])
    assert sorted(result) == ["dns-only", "hosting", "paused"]
    assert result["dns-only"] == ["zone dns-only.test (served by service nameservers)",
                                  "zone sub.dns-only.test (served by service nameservers)"]
    assert impacted(hosts=["ns2.infra.test"]) == {
        name: [reason.replace("service nameservers", "host ns2.infra.test") for reason in reasons]
        for name, reasons in result.items()}


def test_backup_and_monitoring_maintenance_impact_every_tenant_with_vms():
    assert sorted(impacted(services=["backups"])) == ["hosting", "paused", "quiet"]
    assert sorted(impacted(hosts=["backup1"])) == ["hosting", "paused", "quiet"]
    assert sorted(impacted(services=["monitoring"])) == ["hosting", "paused", "quiet"]
    assert impacted(hosts=["monitor1"])["hosting"] == ["VM db1.hosting: monitoring (host monitor1)",
                                                       "VM web1.hosting: monitoring (host monitor1)"]


def test_acme_and_registrar_maintenance_impact_the_tenants_with_certificates_or_psf_domains():
    assert list(impacted(services=["acme"])) == ["hosting"]
    assert list(impacted(services=["registrar"])) == ["hosting"]  # dns-only keeps its own registrar


def test_a_vm_impacts_only_its_tenant_and_names_its_apps():
    assert impacted(hosts=["web1.hosting"]) == {"hosting": ["VM web1.hosting (apps: site)"]}
    assert impacted(hosts=["db1.hosting"]) == {"hosting": ["VM db1.hosting"]}


def test_a_zone_impacts_its_tenant_in_any_spelling():
    assert impacted(zones=["Sub.DNS-only.test."]) == {"dns-only": ["zone sub.dns-only.test"]}


def test_tenant_scope_and_scopes_combined():
    result = impacted(tenants=["quiet"], zones=["hosting.test"], hosts=["old.paused"])
    assert result == {"hosting": ["zone hosting.test"], "paused": ["VM old.paused"],
                      "quiet": ["all of the tenant's services"]}


def test_a_host_that_serves_no_tenant_impacts_no_one_and_is_named():
    the_notice = notice.parse_notice(a_notice(hosts=["localhost"]))
    assert notice.impacted_tenants(the_notice, REGISTRY, GROUPS) == {}
    assert notice.hosts_without_tenants(the_notice, GROUPS) == ["localhost"]


# --------------------------------------------------------------------------- who is told

def test_only_members_with_notify_are_told():
    assert notice.recipients(REGISTRY["hosting"]) == ["Ada <ada@hosting.test>"]
    assert notice.recipients(REGISTRY["quiet"]) == []
    assert notice.recipients(REGISTRY["paused"]) == ["paused lead <lead@paused.test>"]  # suspended: still served


def test_a_retired_tenant_is_never_impacted_by_a_service_and_told_nothing_when_named():
    for scope in ({"services": list(notice.SERVICES)}, {"hosts": GROUPS["all"]}):
        assert "gone" not in impacted(**scope)
    assert impacted(tenants=["gone"]) == {"gone": ["all of the tenant's services"]}
    assert notice.recipients(REGISTRY["gone"]) == []


# --------------------------------------------------------------------------- refused input

@pytest.mark.parametrize(("change", "field", "words"), [
    ({"what": None}, "notice.what", "missing"),
    ({"impact": "  "}, "notice.impact", "missing"),
    ({"start": "2026-12-10T18:00:00"}, "notice.start", "no time zone"),
    ({"end": dt.datetime(2026, 12, 10, 20)}, "notice.end", "no time zone"),  # an unquoted YAML timestamp
    ({"end": "2026-12-10T16:00:00Z"}, "notice.end", "before or when it starts"),
    ({"end": "2026-12-10T17:00:00Z"}, "notice.end", "before or when it starts"),
    ({"start": "tomorrow"}, "notice.start", "not a date and time"),
    ({"start": "2026-12-10 18:00 Mars/Olympus"}, "notice.start", "unknown time zone"),
    ({"scope": {}}, "notice.scope", "empty"),
    ({"scope": {"servers": ["x"]}}, "notice.scope.servers", "unknown scope"),
    ({"scope": {"services": ["dns", "nameservers"]}}, "notice.scope.services[0]", "unknown service 'dns'"),
    ({"scope": {"zones": "hosting.test"}}, "notice.scope.zones", "a list"),
    ({"when": "now"}, "notice.when", "unknown field"),
    ({"id": "a b"}, "notice.id", "not an id"),
])
def test_bad_notices_are_refused_naming_the_field(change, field, words):
    with pytest.raises(InvalidInput) as caught:
        notice.parse_notice({**a_notice(services=["backups"]), **change}, file="notice.yml")
    assert caught.value.field == field
    assert words in str(caught.value) and str(caught.value).startswith(f"notice.yml: {field}: ")


@pytest.mark.parametrize(("scope", "field", "words"), [
    ({"hosts": ["web9.hosting"]}, "notice.scope.hosts[0]", "unknown host 'web9.hosting'"),
    ({"zones": ["hosting.test", "nowhere.test"]}, "notice.scope.zones[1]", "unknown zone 'nowhere.test'"),
    ({"tenants": ["nobody"]}, "notice.scope.tenants[0]", "unknown tenant 'nobody'"),
])
def test_unknown_hosts_zones_and_tenants_are_refused(scope, field, words):
    with pytest.raises(InvalidInput) as caught:
        impacted(**scope)
    assert caught.value.field == field and words in str(caught.value)


def test_times_with_offsets_zone_names_or_z_mean_the_same_window():
    forms = [("2026-12-10T18:00:00+01:00", "2026-12-10T20:00:00+01:00"),
             ("2026-12-10 18:00 Europe/Berlin", "2026-12-10 20:00 Europe/Berlin"),
             ("2026-12-10T17:00:00Z", "2026-12-10 19:00 UTC"),
             (dt.datetime(2026, 12, 10, 17, tzinfo=dt.UTC), dt.datetime(2026, 12, 10, 19, tzinfo=dt.UTC))]
    parsed = [notice.parse_notice({**a_notice(services=["acme"]), "start": start, "end": end}) for start, end in forms]
    assert {(item.start_utc, item.end_utc) for item in parsed} == {
        (dt.datetime(2026, 12, 10, 17, tzinfo=dt.UTC), dt.datetime(2026, 12, 10, 19, tzinfo=dt.UTC))}
    assert len({item.digest for item in parsed}) == 1  # the same notice, however written


# --------------------------------------------------------------------------- identity, message, calendar

def test_the_uid_is_stable_and_an_id_survives_a_reschedule():
    first = notice.parse_notice(a_notice(services=["backups"]))
    assert first.uid("infra.test") == notice.parse_notice(a_notice(services=["backups"])).uid("infra.test")
    moved = notice.parse_notice({**a_notice(services=["backups"]), "end": "2026-12-10T21:00:00+01:00"})
    assert moved.uid("infra.test") != first.uid("infra.test")
    with_id = notice.parse_notice({**a_notice(services=["backups"]), "id": "backup-move"})
    moved_id = notice.parse_notice({**a_notice(services=["backups"]), "id": "backup-move", "what": "Later"})
    assert with_id.uid("infra.test") == moved_id.uid("infra.test") == "backup-move@infra.test"
    assert with_id.digest != moved_id.digest


def test_state_sequence_grows_only_when_the_notice_changes():
    data = {"version": 1, "notices": {}}
    entry, sequence = state.entry(data, "u@x", "d1", "Work")
    assert sequence == 0
    data["notices"]["u@x"] = entry
    assert state.entry(data, "u@x", "d1", "Work")[1] == 0
    assert state.entry(data, "u@x", "d2", "Work")[1] == 1


def test_the_message_and_its_calendar_event():
    the_notice = notice.parse_notice({**a_notice(hosts=["web1.hosting"]), "id": "disk",
                                      "what": "Disk swap; web1, again " + "x" * 80})
    reasons = notice.impacted_tenants(the_notice, REGISTRY, GROUPS)["hosting"]
    mail = render.message(the_notice, REGISTRY["hosting"], reasons, to=notice.recipients(REGISTRY["hosting"]),
                          sender="infra@infra.test", reply_to="Staff <staff@infra.test>", uid="disk@infra.test",
                          sequence=2, domain="infra.test", now=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    parsed = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert parsed["To"] == "Ada <ada@hosting.test>" and parsed["Reply-To"] == "Staff <staff@infra.test>"
    assert parsed["Message-ID"].endswith("@infra.test>") and parsed["Date"]
    assert parsed["Subject"].startswith("[PSF Infra maintenance] 2026-12-10 17:00-19:00 UTC: Disk swap")
    text, ics = (part.get_content() for part in parsed.iter_parts())
    assert "VM web1.hosting (apps: site)" in text and "Some downtime." in text
    assert "(2026-12-10 18:00 UTC+01:00 to 2026-12-10 20:00 UTC+01:00)" in text
    assert parsed.get_payload()[1].get_content_type() == "text/calendar"
    assert parsed.get_payload()[1].get_filename() == "maintenance.ics"
    raw = ics.replace("\r\n ", "")  # unfolded
    lines = raw.split("\r\n")
    for expected in ("UID:disk@infra.test", "SEQUENCE:2", "DTSTART:20261210T170000Z", "DTEND:20261210T190000Z",
                     "DTSTAMP:20261201T090000Z", "METHOD:PUBLISH", "ORGANIZER:mailto:staff@infra.test"):
        assert expected in lines
    assert "SUMMARY:PSF Infra maintenance: Disk swap\\; web1\\, again " + "x" * 80 in lines
    assert all(len(line.encode()) <= 75 for line in ics.split("\r\n")), "RFC 5545 folds lines at 75 octets"
    assert ics.endswith("END:VCALENDAR\r\n") and "\n" not in ics.replace("\r\n", "")


@pytest.mark.parametrize("path", sorted((REPO / "playbooks" / "notices").glob("*.yml")), ids=lambda path: path.name)
def test_the_example_notices_are_valid(path):
    import yaml

    parsed = notice.parse_notice(yaml.safe_load(path.read_text()), file=str(path))
    assert parsed.id and parsed.end_utc > parsed.start_utc
