"""Unit tests of the registry cache (module_utils/registry/cache.py through load_registry): a valid
registry is reused only while every input it was judged with is byte for byte the same."""

from __future__ import annotations

import datetime
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.registry import cache, checks, loading  # noqa: E402

TODAY = datetime.date(2026, 1, 15)
SETTINGS = {
    "size_presets": {"small": {"vcpus": 1, "memory_mib": 2048, "disk_gib": 20}},
    "quotas": {"default": {"max_vms": 1, "sizes": ["small"]}},
    "vm_domain": "vms.infra.test",
}
TENANT = {
    "name": "pyladies-berlin", "display_name": "PyLadies Berlin", "kind": "community-organization",
    "approval": {"body": "psf-board", "date": "2024-06-20"}, "status": "active",
    "members": [{"name": "Clara", "email": "clara@pyladies-berlin.test"}],
    "services": {
        "domains": [{"name": "pyladies-berlin.test", "registrar": "tenant"},
                    {"name": "berlin.test", "registrar": "tenant"}],
        "zones": [{"name": "pyladies-berlin.test", "dnssec": False, "zone_file": "zones/p.zone"},
                  {"name": "berlin.test", "records": [{"name": "www", "type": "A", "values": ["192.0.2.1"]}]}],
        "vms": [{"name": "site1", "size": "small", "backup": {"paths": ["/srv"]}}],
    },
}
ZONE_FILE = "$TTL 300\nwww IN A 192.0.2.7\n"


@pytest.fixture
def config() -> checks.RegistryConfig:
    return checks.build_config(SETTINGS, source="tenants.yml")


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    directory = tmp_path / "tenants"
    (directory / "zones").mkdir(parents=True)
    (directory / "pyladies-berlin.yml").write_text(yaml.safe_dump(TENANT, sort_keys=False))
    (directory / "zones" / "p.zone").write_text(ZONE_FILE)
    return directory


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tenant files judged in full (a cache hit judges none)."""
    calls: list[str] = []
    real = loading.check_tenant

    def counting(document, *, file, config, today=None):
        calls.append(os.path.basename(file))
        return real(document, file=file, config=config, today=today)

    monkeypatch.setattr(loading, "check_tenant", counting)
    return calls


def load(directory: Path, config, cache_dir: Path, today: datetime.date = TODAY) -> loading.Registry:
    return loading.load_registry(str(directory), config, today=today, cache_dir=str(cache_dir))


def test_an_unchanged_registry_is_taken_from_the_cache_and_equals_a_full_judgement(
        registry: Path, config, tmp_path: Path, judged: list[str]) -> None:
    first = load(registry, config, tmp_path / "cache")
    second = load(registry, config, tmp_path / "cache")

    assert judged == ["pyladies-berlin.yml"]
    uncached = loading.load_registry(str(registry), config, today=TODAY)
    assert second.tenants == first.tenants == uncached.tenants
    assert second.files == uncached.files
    assert second.directory == uncached.directory and second.environment == uncached.environment


def test_one_changed_byte_of_a_tenant_file_is_judged_again(
        registry: Path, config, tmp_path: Path, judged: list[str]) -> None:
    load(registry, config, tmp_path / "cache")
    tenant_file = registry / "pyladies-berlin.yml"
    tenant_file.write_text(tenant_file.read_text().replace("192.0.2.1", "192.0.2.2"))

    loaded = load(registry, config, tmp_path / "cache")

    assert judged == ["pyladies-berlin.yml", "pyladies-berlin.yml"]
    assert loaded.tenants["pyladies-berlin"]["services"]["zones"][1]["records"][0]["values"] == ["192.0.2.2"]


def test_a_zone_file_broken_after_a_valid_run_is_refused_not_served_from_the_cache(
        registry: Path, config, tmp_path: Path) -> None:
    load(registry, config, tmp_path / "cache")
    (registry / "zones" / "p.zone").write_text("$TTL 300\nwww IN A not-an-address\n")

    with pytest.raises(checks.InvalidRegistry, match=r"services\.zones\[0\]\.zone_file"):
        load(registry, config, tmp_path / "cache")


def test_a_new_tenant_file_another_day_or_other_settings_miss(
        registry: Path, config, tmp_path: Path, judged: list[str]) -> None:
    load(registry, config, tmp_path / "cache")
    load(registry, config, tmp_path / "cache", today=TODAY + datetime.timedelta(days=1))
    other = checks.build_config(dict(SETTINGS, vm_domain="vms.example.test"), source="tenants.yml")
    load(registry, other, tmp_path / "cache")
    services = {"domains": [{"name": "second.test", "registrar": "tenant"}], "zones": [{"name": "second.test"}]}
    second = dict(TENANT, name="second", services=services)
    (registry / "second.yml").write_text(yaml.safe_dump(second, sort_keys=False))
    loaded = load(registry, config, tmp_path / "cache")

    assert judged == ["pyladies-berlin.yml"] * 3 + ["pyladies-berlin.yml", "second.yml"]
    assert list(loaded.tenants) == ["pyladies-berlin", "second"]


def test_new_code_misses(registry: Path, config, tmp_path: Path, judged: list[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    load(registry, config, tmp_path / "cache")
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "another version of the checks")
    load(registry, config, tmp_path / "cache")

    assert judged == ["pyladies-berlin.yml"] * 2


def test_an_invalid_registry_is_never_stored(registry: Path, config, tmp_path: Path) -> None:
    (registry / "broken.yml").write_text("name: broken\nstatus: [unclosed\n")

    for _attempt in range(2):
        with pytest.raises(checks.InvalidRegistry, match=r"broken\.yml: is not valid YAML"):
            load(registry, config, tmp_path / "cache")

    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_corrupt_entry_is_ignored_and_replaced(registry: Path, config, tmp_path: Path, judged: list[str]) -> None:
    load(registry, config, tmp_path / "cache")
    (entry,) = (tmp_path / "cache").glob("*.json")
    entry.write_text('{"format": 1, "key": "')

    loaded = load(registry, config, tmp_path / "cache")
    again = load(registry, config, tmp_path / "cache")

    assert judged == ["pyladies-berlin.yml"] * 2
    assert loaded.tenants == again.tenants
    assert list(loaded.tenants) == ["pyladies-berlin"]


def test_entries_are_private_and_bounded(registry: Path, config, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    for day in range(cache.KEEP_ENTRIES + 3):
        load(registry, config, cache_dir, today=TODAY + datetime.timedelta(days=day))

    entries = list(cache_dir.glob("*.json"))
    assert len(entries) == cache.KEEP_ENTRIES
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert {stat.S_IMODE(entry.stat().st_mode) for entry in entries} == {0o600}
    assert not list(cache_dir.glob(".entry-*"))


def test_an_unwritable_cache_directory_costs_nothing_but_the_cache(registry: Path, config, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory would be\n")

    loaded = load(registry, config, blocker / "cache")

    assert list(loaded.tenants) == ["pyladies-berlin"]
