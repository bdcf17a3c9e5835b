"""psf_infra_runner.drift: whose change is it, and the changes no_log hides."""

from __future__ import annotations

from psf_infra_runner.drift import HIDDEN, INFRA, Change, DriftReport, Owners, render_diff, with_hidden

TENANTS = {
    "packaging": {"services": {"zones": [{"name": "packaging.test"}], "domains": [{"name": "packaging.test"}]}},
    "lab-team": {"services": {"zones": [{"name": "lab.packaging.test"}]}},
}


def change(task: str, host: str = "localhost", item: str = "", hint: str = "", diff: str = "") -> Change:
    return Change(playbook="playbooks/dns.yml", play="p", task=task, host=host, item=item, tenant_hint=hint,
                  diff=diff)


def test_owner_is_the_host_then_the_item_then_the_longest_zone():
    owners = Owners({"web1.packaging": {"psf_tenant_name": "packaging"}}, TENANTS)
    assert owners.owner(change("t", host="web1.packaging", item="lab.packaging.test")) == "packaging"
    assert owners.owner(change("t", hint="lab-team")) == "lab-team"
    assert owners.owner(change("t", item="zone lab.packaging.test (tenant lab-team)")) == "lab-team"
    assert owners.owner(change("t", item="www.lab.packaging.test.")) == "lab-team"
    assert owners.owner(change("t", item="www.packaging.test")) == "packaging"
    assert owners.owner(change("t", item="ns1.infra.test")) == INFRA
    assert owners.owner(change("t", item="xpackaging.test")) == INFRA


def test_hidden_changes_are_counted_from_the_recap():
    seen = [change("visible")]
    hidden = [change("secret a", diff=HIDDEN), change("secret a", diff=HIDDEN), change("secret b", diff=HIDDEN)]
    assert with_hidden(seen, hidden, {"localhost": 1}) == seen  # only the visible task changed
    both = with_hidden(seen, [change("secret a", diff=HIDDEN), change("secret b", diff=HIDDEN)], {"localhost": 3})
    assert [c.task for c in both] == ["visible", "secret a", "secret b"] and both[1].diff == HIDDEN
    some = with_hidden(seen, [change("secret a", diff=HIDDEN), change("secret b", diff=HIDDEN)], {"localhost": 2})
    assert some[1].diff.endswith("1 of the 2 tasks whose output is hidden would change")


def test_report_lists_every_tenant_and_renders_diffs():
    text = render_diff([{"before": "a\n", "after": "b\n", "before_header": "x"}, {"prepared": "+ rr"}])
    assert text.splitlines() == ["--- x", "+++ after", "@@ -1 +1 @@", "-a", "+b", "+ rr"]
    report = DriftReport.build(inventory="inv", run_id="r", result="drift", owners=Owners({}, TENANTS),
                               changes=[change("t", item="packaging.test", diff="<b>")])
    assert list(report.by_owner) == ["lab-team", "packaging"] and report.drifted == ["packaging"]
    assert "&lt;b&gt;" in report.html("packaging") and "<b>" not in report.html("packaging")
    assert "No drift" in report.markdown("lab-team")
