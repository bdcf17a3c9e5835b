"""The Prometheus textfile writer of the collection (module_utils/textfile.py), which
psf.infra.textfile_metrics uses for the domain playbooks' metrics: the exposition text is what
`promtool check metrics` accepts, bad names and values are refused naming the field, ISO 8601
times become Unix seconds, and the file is replaced atomically (no temporary file left behind)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.textfile import (  # noqa: E402
    read_text,
    render,
    write_atomically,
)

PROMTOOL = shutil.which("promtool")

FAMILIES = [
    {"name": "psf_domain_expiry_timestamp_seconds", "help": "Unix time the registration expires.",
     "samples": [{"labels": {"domain": "packaging.test", "tenant": "packaging"}, "value": "2027-01-31T00:00:00Z"},
                 {"labels": {"domain": "b.test", "tenant": "b"}, "value": "2027-01-31T01:00:00+01:00"}]},
    {"name": "psf_dnssec_chain_status", "help": "1 for the status.\nSecond line",
     "samples": [{"labels": {"zone": "packaging.test", "tenant": "packaging", "status": status},
                  "value": int(status == "secure")} for status in ("secure", "insecure", "bogus")]},
    {"name": "psf_empty", "type": "counter", "samples": []},
]


def test_render_writes_sorted_labels_and_unix_seconds():
    text = render(FAMILIES)
    assert text.splitlines()[:4] == [
        "# HELP psf_domain_expiry_timestamp_seconds Unix time the registration expires.",
        "# TYPE psf_domain_expiry_timestamp_seconds gauge",
        'psf_domain_expiry_timestamp_seconds{domain="packaging.test",tenant="packaging"} 1801353600',
        'psf_domain_expiry_timestamp_seconds{domain="b.test",tenant="b"} 1801353600',
    ]
    assert "# HELP psf_dnssec_chain_status 1 for the status.\\nSecond line" in text
    assert 'psf_dnssec_chain_status{status="secure",tenant="packaging",zone="packaging.test"} 1' in text
    assert 'psf_dnssec_chain_status{status="bogus",tenant="packaging",zone="packaging.test"} 0' in text
    assert text.endswith("# TYPE psf_empty counter\n")


def test_label_values_are_escaped():
    text = render([{"name": "m", "samples": [{"labels": {"why": 'say "no"\\\nnow'}, "value": 1.5}]}])
    assert 'm{why="say \\"no\\"\\\\\\nnow"} 1.5' in text


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) is not installed")
def test_promtool_accepts_the_text():
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=render(FAMILIES), capture_output=True,
                            text=True, timeout=60, check=False)
    # promtool exits 0 with lint notes only (e.g. counter names without _total); 1 on a parse error
    assert result.returncode in (0, 3) and "error" not in result.stderr.lower(), result.stderr


@pytest.mark.parametrize(("families", "field", "words"), [
    ([{"name": "bad-name", "samples": []}], "metrics[0].name", "not a Prometheus metric name"),
    ([{"name": "m", "samples": []}, {"name": "m", "samples": []}], "metrics[1].name", "twice"),
    ([{"name": "m", "type": "histogram", "samples": []}], "metrics[0].type", "not one of"),
    ([{"name": "m", "samples": [{"labels": {"bad-label": "x"}, "value": 1}]}], "metrics[0].samples[0].labels",
     "not a Prometheus label name"),
    ([{"name": "m", "samples": [{"labels": {"__name__": "x"}, "value": 1}]}], "metrics[0].samples[0].labels",
     "not a Prometheus label name"),
    ([{"name": "m", "samples": [{"labels": {"a": "x"}, "value": 1}, {"labels": {"a": "x"}, "value": 2}]}],
     "metrics[0].samples[1].labels", "label set twice"),
    ([{"name": "m", "samples": [{"labels": {}, "value": "soon"}]}], "metrics[0].samples[0].value",
     "not a number nor an ISO 8601"),
    ([{"name": "m", "samples": [{"labels": {}, "value": None}]}], "metrics[0].samples[0].value", "not a number"),
])
def test_bad_input_is_refused_naming_the_field(families, field, words):
    with pytest.raises(InvalidInput) as caught:
        render(families)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_write_atomically_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "textfile" / "psf_domains.prom"
    write_atomically(path, "a 1\n")
    assert read_text(path) == "a 1\n"
    write_atomically(path, "a 2\n", 0o640)
    assert read_text(path) == "a 2\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["psf_domains.prom"]
    assert read_text(tmp_path / "missing.prom") is None


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "psf_domains.prom"
    write_atomically(path, "a 1\n")

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        write_atomically(path, Boom())  # type: ignore[arg-type]
    assert read_text(path) == "a 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["psf_domains.prom"]
