"""The psf.infra lab: real DNS, ACME and SMTP services on 127.0.0.1, by concern.

- ``config``: names, ports, paths (`LabPaths`), `LabError`.
- ``processes``: spawn, stop, PIDs, ports, waiting, and why a process died.
- ``templates``: every configuration file the lab writes, rendered from `lab/templates/` and, for
  ns1/ns2, from the nameserver role's own templates.
- ``keys``: TSIG and rndc keys.
- ``dnsclient``: queries, updates, delegations, DS, through the collection's `module_utils/dns`.
- ``bind``: the registry, ns1 and ns2 (named), zones on the primary, the catalog, the trust anchor.
- ``resolver``: unbound and its stub zones. ``acme``: pebble. ``smtp``: the SMTP sink.
- ``state``: `.lab/state.json` and the Ansible variables. ``lifecycle``: up, down, stop, status.
- ``cli``: `lab/labctl.py`'s commands.

`lab/labctl.py` re-exports the API tests and tools use (docs/lab.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

# module_utils/dns of the collection in this repository (the one DNS client of psf.infra).
_COLLECTIONS = str(Path(__file__).resolve().parents[2] / "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
