# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What :class:`client.DnsServer` does not say by itself: a query's whole answer, and an rrset replaced.

``DnsServer.query`` answers "which records does this authoritative server hold"; a validating
resolver, a parent's referral or "does this server refuse the zone" need the answer message itself
(its RCODE, its AD flag, its RRSIGs, its authority section)::

    from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer
    from ansible_collections.psf.infra.plugins.module_utils.dns.query import query_message

    resolver = DnsServer("127.0.0.1", port=5310, timeout=2.0, role="resolver")
    answer = query_message(resolver, "infra.test.", "SOA", dnssec=True, recursion=True)
    answer.rcode(), answer.flags & dns.flags.AD

Failures to reach the server are the client's one-line errors (``NameServerUnavailable`` ...).
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change, RRset, to_name


def query_message(server: DnsServer, name: str | dns.name.Name, rdtype: str | int, *, dnssec: bool = False,
                  recursion: bool = False, checking_disabled: bool = False) -> dns.message.Message:
    """Ask ``server`` for ``name``/``rdtype`` and return the answer message, whatever its RCODE.

    UDP (a connected socket: a server that is down fails at once), TCP when the answer is truncated;
    TSIG-signed when the server has a key. ``dnssec`` sets the DO bit, ``recursion`` the RD bit
    (off by default: authoritative servers are asked), ``checking_disabled`` the CD bit.
    """
    qname = to_name(name, dns.name.root)
    rdtype = dns.rdatatype.RdataType.make(rdtype)
    request = dns.message.make_query(qname, rdtype, want_dnssec=dnssec)
    if not recursion:
        request.flags &= ~dns.flags.RD
    if checking_disabled:
        request.flags |= dns.flags.CD
    server._sign(request)
    return server.exchange(request, f"query {qname} {dns.rdatatype.to_text(rdtype)}")


def replace_rrset(name: str | dns.name.Name, rdtype: str | int, ttl: int, values: list[str],
                  origin: str | dns.name.Name | None = None) -> Change:
    """A change that leaves exactly ``values`` at ``name``/``rdtype``, whatever the server holds now.

    On the wire: delete the rrset, then add every value (RFC 2136 section 2.5.2 and 2.5.1), in one
    message, so nobody sees the name without the type in between. For rrsets that one party owns
    whole (a delegation's NS set, glue, a DS set); a plan that read the zone uses ``Change(old, new)``.
    """
    if not values:
        raise ValueError("replace_rrset needs at least one value; delete an rrset with Change(old, None)")
    new = RRset.from_text(name, rdtype, ttl, values, origin)
    # An "old" rrset whose TTL can never be the new one: send_updates then replaces the whole rrset.
    return Change(RRset(new.name, new.rdtype, -1, new.rdatas), new)
