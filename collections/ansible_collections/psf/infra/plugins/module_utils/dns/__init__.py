# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS for psf.infra: one RFC 2136 + AXFR + TSIG client and the zone logic around it.

- ``client``: :class:`DnsServer` (AXFR, SOA/record queries, guarded UPDATE batches), :class:`TsigKey`.
- ``model``: :class:`RRset` and :class:`Change`, the values every other part passes around.
- ``validate``: declarations / zone files -> rrsets, or :class:`InvalidInput` naming tenant, file, field.
- ``diff``: pure planning (what to add, change, delete), protected records and safety thresholds.
- ``plan_text``: the human-readable, octoDNS-like plan shown in diff mode.
- ``zone``: what the three modules do (read, plan, check, apply, report), without Ansible.
- ``catalog``: catalog zones (RFC 9432): member labels, members, the changes to keep them.
- ``options`` / ``module_support``: the shared connection options, and the servers built from them
  by the one address rule (IP literals only: the system resolver is never used).

The design (atomicity, serial guard, safety, ownership) is explained in docs/dns.md.

Nobody else in psf.infra writes DNS wire code: ACME, registrar and the modules all come through here.
"""
