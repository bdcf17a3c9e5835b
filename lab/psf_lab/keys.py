"""TSIG and rndc keys of the lab: `.lab/keys/<name>.key` in BIND syntax, mode 0600, made once."""

from __future__ import annotations

import base64
import os
import secrets

import dns.tsig
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsError, TsigKey

from psf_lab.config import HOST, INTERNAL_KEYS, PUBLIC_TSIG_KEYS, TSIG_ALGORITHM, LabError, LabPaths
from psf_lab.processes import write_if_changed
from psf_lab.templates import render_lab


def lab_key(name: str, paths: LabPaths | None = None) -> TsigKey:
    """The key `name` from its BIND key file, as the collection's DNS client takes it."""
    path = (paths or LabPaths()).key_file(name)
    try:
        return TsigKey.from_file(str(path))
    except (OSError, DnsError) as exc:
        raise LabError(f"{path}: {exc}; delete the file to regenerate the key (lab/labctl.py up)") from None


def tsig_key(name: str, paths: LabPaths | None = None) -> dns.tsig.Key:
    """The key `name` as a dnspython key (for tests that build their own messages)."""
    key = lab_key(name, paths)
    return dns.tsig.Key(key.name, key.secret, key.algorithm)


def ensure_keys(paths: LabPaths) -> dict[str, str]:
    """Create missing TSIG/rndc keys (BIND syntax, mode 0600); return name -> base64 secret."""
    paths.keys.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.keys, 0o700)
    found: dict[str, str] = {}
    for name in (*PUBLIC_TSIG_KEYS, *INTERNAL_KEYS):
        path = paths.key_file(name)
        if not path.exists():
            secret = base64.b64encode(secrets.token_bytes(32)).decode()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(render_lab("key.conf.j2", name=name, algorithm=TSIG_ALGORITHM, secret=secret))
        found[name] = lab_key(name, paths).secret
    rndc_conf = render_lab("rndc.conf.j2", key_file=paths.key_file("rndc-key"), host=HOST)
    write_if_changed(paths.rndc_conf, rndc_conf, mode=0o600)
    return found
