# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tenant registry: the only code that reads and judges ``inventories/<env>/tenants/*.yml``.

- ``schema``: the JSON Schema of a tenant file and the shared tables (statuses, hosted statuses,
  certificate key types); pure data.
- ``names``: one spelling per domain name (``zone_name``).
- ``checks``: every rule of one tenant file, of the settings and across tenants; records and zone
  files are judged by the DNS code's own parser (``dns/validate.py``).
- ``loading``: ``load_registry`` reads the files and returns a valid ``Registry`` or raises
  ``InvalidRegistry`` listing every problem (file, tenant, field).
- ``views``: what the inventory, the filters and the playbooks get from it.
"""
