# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Registrars for psf.infra: one interface, one adapter per registrar (docs/registrar.md).

- ``base``: the interface (:class:`base.Provider`), the values it passes (:class:`base.DomainState`,
  :class:`base.DnsKey`), the errors, and the pure planning of one domain (:func:`base.plan_domain`).
- ``gandi``: Gandi's public API v5 (HTTPS, personal access token) through ansible's ``open_url``.
- ``rfc2136``: a parent zone we control (the lab registry ``test.``, or a PSF-owned zone), updated
  with TSIG through ``module_utils/dns``; registration and renewal do not apply there.
- ``parent``: what a parent zone's name servers actually serve for a domain (NS, glue, DS), and
  whether the delegation works (correct / lame / missing / mismatch).
- ``domain_task``: what the ``domain`` and ``domain_info`` modules do, without Ansible.

A new registrar is one class with the methods of :class:`base.Provider` and one line in
``domain_task.PROVIDERS``.
"""
