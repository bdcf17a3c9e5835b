"""Small authoritative DNS servers for unit tests: zones built (and signed, with dnspython) in the
test process and served over real UDP on 127.0.0.1 by a thread, answering as an authoritative server
does (answers with AA, referrals with DS or NSEC, NODATA and NXDOMAIN with the SOA).

Used by tests/unit/test_dnssec_chain.py (the chain walk) and tests/unit/test_registrar_gandi.py (the
parent zone as the witness of the registrar's keys). A zone can be replaced while it is served
(``server.zone = make_zone(...)``).
"""

from __future__ import annotations

import socket
import threading
import time

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec

DAY = 86400
IN = dns.rdataclass.IN


class Key:
    """A CSK (flags 257, ECDSAP256SHA256)."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.dnskey = dns.dnssec.make_dnskey(self.private.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256,
                                             flags=257)

    def ds(self, zone: str) -> str:
        return dns.dnssec.make_ds(zone, self.dnskey, "SHA256").to_text()


def make_zone(origin: str, records: str, key: Key | None, *, inception: float | None = None,
              expiration: float | None = None) -> dns.zone.Zone:
    host = "ns.root.lab." if origin == "." else f"ns.{origin}lab."
    text = f"@ 300 IN SOA {host} admin.lab. 1 3600 600 86400 300\n@ 300 IN NS {host}\n{records}"
    zone = dns.zone.from_text(text, origin, relativize=False)
    if key is not None:
        now = time.time()
        dns.dnssec.sign_zone(zone, keys=[(key.private, key.dnskey)], inception=inception or now - DAY,
                             expiration=expiration or now + 10 * DAY)
    return zone


def _add(section: list, zone: dns.zone.Zone, name: dns.name.Name, rdtype: int, signed: bool = True) -> bool:
    rdataset = zone.get_rdataset(name, rdtype)
    if rdataset is None:
        return False
    section.append(dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset)))
    sigs = zone.get_rdataset(name, dns.rdatatype.RRSIG, rdtype)
    if signed and sigs is not None:
        section.append(dns.rrset.from_rdata_list(name, sigs.ttl, list(sigs)))
    return True


def respond(zone: dns.zone.Zone, query: dns.message.Message) -> dns.message.Message:
    """The answer of an authoritative server of ``zone`` (only that zone)."""
    response = dns.message.make_response(query)
    question = query.question[0]
    name, rdtype, origin = question.name, question.rdtype, zone.origin
    if not name.is_subdomain(origin):
        response.set_rcode(dns.rcode.REFUSED)
        return response
    for depth in range(len(origin) + 1, len(name) + 1):
        cut = name.split(depth)[1]
        ns = zone.get_rdataset(cut, dns.rdatatype.NS)
        if ns is not None and not (cut == name and rdtype == dns.rdatatype.DS):
            _add(response.authority, zone, cut, dns.rdatatype.NS, signed=False)
            if not _add(response.authority, zone, cut, dns.rdatatype.DS):
                _add(response.authority, zone, cut, dns.rdatatype.NSEC)
            for target in ns:
                _add(response.additional, zone, target.target, dns.rdatatype.A, signed=False)
            return response
    response.flags |= dns.flags.AA
    node = zone.get_node(name)
    if node is None or not _add(response.answer, zone, name, rdtype):
        if node is None and not any(other.is_subdomain(name) for other in zone.nodes):
            response.set_rcode(dns.rcode.NXDOMAIN)
        _add(response.authority, zone, origin, dns.rdatatype.SOA)
        if node is not None:
            _add(response.authority, zone, name, dns.rdatatype.NSEC)
    return response


class Server:
    """One zone served over UDP on 127.0.0.1 (an ephemeral port) by a thread."""

    def __init__(self, zone: dns.zone.Zone) -> None:
        self.zone = zone
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while self.running:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            self.sock.sendto(respond(self.zone, query).to_wire(max_size=65535), peer)

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()
