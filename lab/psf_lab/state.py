"""`.lab/state.json` (what `up` started, where) and the same facts as Ansible variables."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from psf_lab import config
from psf_lab.processes import recorded_pid, write_if_changed


def _service_state(paths: config.LabPaths, service: str) -> dict[str, Any]:
    svc = config.SERVICES[service]
    return {
        "program": svc.program, "address": config.HOST, "port": svc.port, "control_port": svc.control_port,
        "pid": recorded_pid(paths, service), "pid_file": str(paths.pid_file(service)),
        "log": str(paths.log_file(service)), "out": str(paths.out_file(service)),
    }


def build_state(paths: config.LabPaths, secrets_by_key: dict[str, str]) -> dict[str, Any]:
    acme = config.SERVICES["acme"]
    return {
        "lab_dir": str(paths.root),
        "host": config.HOST,
        "services": {name: _service_state(paths, name) for name in config.SERVICES},
        "keys": {name: {"name": name, "algorithm": config.TSIG_ALGORITHM, "secret": secrets_by_key[name],
                        "file": str(paths.key_file(name))} for name in config.PUBLIC_TSIG_KEYS},
        "rndc_conf": str(paths.rndc_conf),
        "zones": {"root": config.ROOT_ZONE, "registry": config.REGISTRY_ZONE, "infra": config.INFRA_ZONE,
                  "catalog": config.CATALOG_ZONE, "nameservers": list(config.INFRA_NAMESERVERS)},
        "dnssec_policy": config.DNSSEC_POLICY,
        "ns1": {"zones_include": str(paths.ns1_zones_include), "zone_dir": str(paths.ns1_zone_dir),
                "key_dir": str(paths.server_dir("ns1") / "keys")},
        "trust_anchor": {"anchor_conf": str(paths.anchor_conf), "root_key": str(paths.root_key),
                         "root_ds": str(paths.root_ds)},
        "acme": {"directory": f"https://{config.HOST}:{acme.port}/dir", "ca_bundle": str(paths.pebble / "ca.pem"),
                 "issuing_root": str(paths.pebble / "issuing-root.pem"),
                 "management": f"https://{config.HOST}:{acme.control_port}",
                 "http_port": config.PEBBLE_HTTP_PORT, "tls_port": config.PEBBLE_TLS_PORT},
        "smtp": {"host": config.HOST, "port": config.SERVICES["smtp"].port, "maildir": str(paths.mail)},
        "updated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def write_state(paths: config.LabPaths, state: dict[str, Any]) -> None:
    write_if_changed(paths.state_file, json.dumps(state, indent=2) + "\n", mode=0o600)


def load_state(paths: config.LabPaths | None = None) -> dict[str, Any]:
    """The state written by the last `up` (raises LabError when the lab was never started)."""
    paths = paths or config.LabPaths()
    try:
        return json.loads(paths.state_file.read_text())
    except FileNotFoundError:
        raise config.LabError(f"{paths.state_file} does not exist: run lab/labctl.py up") from None


def ansible_vars(state: dict[str, Any]) -> dict[str, Any]:
    services, keys = state["services"], state["keys"]

    def endpoint(name: str) -> dict[str, Any]:
        return {"name": name, "address": services[name]["address"], "port": services[name]["port"]}

    return {
        "psf_lab_dir": state["lab_dir"],
        "psf_lab_state_file": str(Path(state["lab_dir"]) / "state.json"),
        "psf_dns_primary": {**endpoint("ns1"), "rndc_conf": state["rndc_conf"],
                            "rndc_port": services["ns1"]["control_port"], **state["ns1"]},
        "psf_dns_secondaries": [endpoint("ns2")],
        "psf_dns_registry": {**endpoint("registry"), "zone": state["zones"]["registry"]},
        "psf_dns_resolver": endpoint("resolver"),
        "psf_dns_nameservers": state["zones"]["nameservers"],
        "psf_dns_infra_zone": state["zones"]["infra"],
        "psf_dns_catalog_zone": state["zones"]["catalog"],
        "psf_dns_dnssec_policy": state["dnssec_policy"],
        "psf_dns_staff_key": {k: keys["staff-key"][k] for k in ("name", "algorithm", "secret")},
        "psf_dns_registry_key": {k: keys["registry-key"][k] for k in ("name", "algorithm", "secret")},
        "psf_dns_transfer_key": {k: keys["transfer-key"][k] for k in ("name", "algorithm", "secret")},
        "psf_acme_directory": state["acme"]["directory"],
        "psf_acme_ca_bundle": state["acme"]["ca_bundle"],
        "psf_acme_issuing_root": state["acme"]["issuing_root"],
        "psf_smtp": {"host": state["smtp"]["host"], "port": state["smtp"]["port"]},
        "psf_lab_mail_dir": state["smtp"]["maildir"],
        "psf_lab_trust_anchor": state["trust_anchor"],
        "psf_lab_secret_vars": ["psf_dns_staff_key", "psf_dns_registry_key", "psf_dns_transfer_key"],
    }


def write_ansible_vars(state: dict[str, Any], target: Path) -> Path:
    import yaml  # PyYAML ships with ansible-core in the venv

    header = (
        "---\n# Written by lab/labctl.py up: facts of the local lab (git-ignored).\n"
        "# SECRETS: the *.secret fields of the variables in psf_lab_secret_vars; pass them with no_log.\n"
    )

    class IndentedDumper(yaml.SafeDumper):
        """Indents lists under their key, as yamllint's default indentation rule wants."""

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    body = yaml.dump(ansible_vars(state), Dumper=IndentedDumper, default_flow_style=False, sort_keys=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(target, header + body, mode=0o600)
    return target
