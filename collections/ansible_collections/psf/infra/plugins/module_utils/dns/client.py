# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one DNS client of psf.infra: AXFR, queries and RFC 2136 UPDATE, all TSIG-signed.

Usage (this is the API the modules, the ACME code and the tests build on)::

    from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey
    from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change

    key = TsigKey("staff-key", "hmac-sha256", "<base64 secret>")   # or TsigKey.from_file(path)
    primary = DnsServer("127.0.0.1", port=5301, tsig=key, timeout=10.0)

    serial, rrsets = primary.axfr("example.test")        # ONE zone transfer
    # rrsets: {(dns.name.Name, rdtype): RRset}; names absolute, SOA included

    # Publish a DNS-01 token, leaving any other value of the rrset alone; no serial guard:
    result = primary.send_updates("example.test", [
        Change.add_values("_acme-challenge.www", "TXT", 60, ['"token"'], origin="example.test")])
    # ... and remove it again later:
    primary.send_updates("example.test", [
        Change.remove_values("_acme-challenge.www", "TXT", ['"token"'], origin="example.test")])

    # A guarded change: fails with ZoneChangedError if the zone is not at `serial` any more.
    result = primary.send_updates("example.test", changes, expected_serial=serial)
    result.messages_sent, result.serial      # UPDATE messages sent, SOA serial afterwards

    # Poll every authoritative server (tsig=None for servers that do not know the key):
    for server in (primary, DnsServer("127.0.0.1", port=5302)):
        server.soa_serial("example.test")                               # int
        server.query("_acme-challenge.www.example.test.", "TXT")        # RRset, or None

Every failure is a :class:`DnsError` (a ``PsfInfraError``) whose message is one line saying which
server, what was tried, why it failed and what to check::

    primary name server 127.0.0.1:5301: zone transfer (AXFR) of example.test. failed: connection
    refused; check that named runs and listens there (make lab-status in the lab)

(the first words are the server's ``role``, "name server" unless the caller says more). When the
server itself is the problem (no answer, connection refused or closed, our TSIG key not accepted,
NOTAUTH, SERVFAIL) the error is a :class:`NameServerUnavailable`, which is also a
``BackendUnavailable``; REFUSED and the other answers about the request itself stay plain
:class:`DnsError`. :class:`DnsTimeoutError` is "no answer within the timeout" (worth one retry for
UDP queries); :class:`ZoneChangedError` means the serial guard caught a concurrent change.

How ``send_updates`` works: changes are grouped by owner name (all changes of one name go in the same
message, so e.g. replacing an A rrset by a CNAME is never half-applied) and packed into UPDATE
messages close to the 64 KiB limit, sent one after the other over ONE TCP connection. With
``expected_serial``, each message carries the prerequisite "the apex SOA is exactly <SOA with the
expected serial>" (RFC 2136 section 2.4.2). Before the first message the SOA is read on that
connection (a mismatch fails before anything is sent); the first message expects that serial; every
applied message makes the server increment the serial by one (BIND's default
``serial-update-method increment``), so message k+1 expects serial+k. Anybody else's change between
our messages moves the serial further and makes the next message fail its prerequisite: the server
then applies nothing of that message, we stop and report how many messages were applied. Nothing is
ever overwritten; rerunning reads the zone again and converges.
"""

from __future__ import annotations

import base64
import binascii
import re
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dns.entropy
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.tsig
from ansible_collections.psf.infra.plugins.module_utils.dns import wire
from ansible_collections.psf.infra.plugins.module_utils.dns.model import (
    SOA,
    Change,
    RRset,
    RRsetKey,
    to_name,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.options import TSIG_ALGORITHMS
from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, PsfInfraError

#: An UPDATE is filled up to this many bytes of records (estimated); the rest of the 65,535 bytes
#: holds the header, zone, SOA prerequisite and TSIG. A message that still renders too big is split.
UPDATE_BUDGET_BYTES = 64_000
#: An UPDATE message is given ``timeout`` seconds per this many changes to answer.
RECORDS_PER_TIMEOUT = 500
_RR_FIXED_BYTES = 10  # type, class, TTL, rdlength
_COMPRESSION_POINTER_BYTES = 2


class DnsError(PsfInfraError):
    """A DNS operation failed; the message says what to check."""


class NameServerUnavailable(DnsError, BackendUnavailable):
    """The name server did not answer, refused or closed the connection, did not accept our TSIG key,
    or answered NOTAUTH/SERVFAIL: ``<role> <address:port>: <what> failed: <reason>; check <check>``."""


class DnsTimeoutError(NameServerUnavailable):
    """No answer in time (a lost UDP datagram on a busy machine, or a server that is not there)."""


#: What to check when a name server does not answer or refuses the connection.
CHECK_RUNNING = "that named runs and listens there (make lab-status in the lab)"


class ZoneChangedError(DnsError):
    """The zone's serial is not the expected one: somebody changed it since we read it."""

    def __init__(self, message: str, *, messages_applied: int = 0, serial: int | None = None) -> None:
        super().__init__(message)
        self.messages_applied = messages_applied
        self.serial = serial


class TsigKey:
    """A TSIG key: name, algorithm (``hmac-sha256`` ...), base64 secret. The secret is never printed."""

    __slots__ = ("algorithm", "name", "secret")

    def __init__(self, name: str, algorithm: str = "hmac-sha256", secret: str = "") -> None:
        algorithm = algorithm.lower().rstrip(".")
        if algorithm not in TSIG_ALGORITHMS:
            raise DnsError(f"TSIG algorithm '{algorithm}' is not supported; use one of "
                           f"{', '.join(TSIG_ALGORITHMS)}")
        try:
            base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise DnsError(f"the secret of TSIG key '{name}' is not valid base64") from None
        if not secret:
            raise DnsError(f"TSIG key '{name}' has an empty secret")
        self.name = name
        self.algorithm = algorithm
        self.secret = secret

    @classmethod
    def from_file(cls, path: str) -> TsigKey:
        """Read a BIND ``key "name" { algorithm ...; secret "...";};`` file (as tsig-keygen writes)."""
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        match = re.search(r'key\s+"?([^"\s{]+)"?\s*\{\s*algorithm\s+"?([\w-]+)"?\s*;\s*secret\s+"([^"]+)"',
                          text)
        if not match:
            raise DnsError(f"{path}: no TSIG key in BIND syntax found")
        return cls(match.group(1), match.group(2), match.group(3))

    @property
    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        key = dns.tsig.Key(self.name, self.secret, self.algorithm)
        return {key.name: key}

    def __repr__(self) -> str:
        return f"TsigKey({self.name!r}, {self.algorithm!r}, secret=<hidden>)"


@dataclass(frozen=True)
class UpdateResult:
    """What :meth:`DnsServer.send_updates` did."""

    messages_sent: int
    changes_applied: int
    serial: int | None  # the SOA serial read after the last message (None when nothing was sent)


def next_serial(serial: int) -> int:
    """The serial BIND gives a zone after one UPDATE (``serial-update-method increment``)."""
    following = (serial + 1) & 0xFFFFFFFF
    return following or 1


class DnsServer:
    """One name server reached over TCP/UDP at ``address:port``, optionally with a TSIG key."""

    def __init__(self, address: str, port: int = 53, tsig: TsigKey | None = None,
                 timeout: float = 10.0, *, role: str = "name server") -> None:
        self.address = address
        self.port = int(port)
        self.tsig = tsig
        self.timeout = float(timeout)
        self.role = role  # how messages name it: "primary name server", "secondary name server" ...

    def __repr__(self) -> str:
        return f"DnsServer({self.address!r}, port={self.port}, tsig={self.tsig!r})"

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def named(self) -> str:
        """The server as messages name it: its role and address, e.g. ``primary name server 127.0.0.1:5301``."""
        return f"{self.role} {self.where}"

    def unavailable(self, what: str, reason: str, check: str = CHECK_RUNNING) -> NameServerUnavailable:
        """The one-line error for "this server did not do ``what``" (see the module docstring)."""
        return NameServerUnavailable(self.named, what, reason, check)

    # ---- reading -------------------------------------------------------------------------------

    def axfr(self, zone: str | dns.name.Name) -> tuple[int, dict[RRsetKey, RRset]]:
        """Transfer the whole zone (one AXFR, TSIG-signed when a key is set).

        Returns ``(serial, rrsets)``, rrsets keyed by ``(absolute name, rdtype)``; all RRSIGs of a
        name are one RRSIG entry. The apex SOA is included.
        """
        origin = to_name(zone)
        what = f"zone transfer (AXFR) of {origin}"
        key = self._tsig_key()
        query = dns.message.make_query(origin, dns.rdatatype.AXFR, want_dnssec=False)
        self._sign(query)
        request = query.to_wire()
        collector = wire.AxfrCollector(origin, key, query.id, query.mac if key is not None else None)
        deadline = time.monotonic() + self.timeout * 6
        try:
            with socket.create_connection((self.address, self.port), timeout=self.timeout) as sock:
                sock.sendall(struct.pack("!H", len(request)) + request)
                for message in wire.tcp_messages(sock, deadline):
                    rcode = collector.feed(message)
                    if rcode != dns.rcode.NOERROR:
                        raise self._rcode_error(rcode, what)
                    if collector.done:
                        break
        except Exception as err:
            raise self._explain_exception(err, what) from None
        rrsets = collector.rrsets()
        if collector.serial is None or (origin, SOA) not in rrsets:
            raise DnsError(f"{self.named}: the zone transfer of {origin} has no SOA at the apex")
        return collector.serial, rrsets

    def soa(self, zone: str | dns.name.Name) -> RRset:
        """The apex SOA rrset, from an authoritative answer."""
        origin = to_name(zone)
        rrset = self.query(origin, SOA)
        if rrset is None:
            raise DnsError(f"{self.named} has no SOA for {origin}: is the zone loaded there?")
        return rrset

    def soa_serial(self, zone: str | dns.name.Name) -> int:
        """The SOA serial this server serves for ``zone`` (authoritative answer required)."""
        return next(iter(self.soa(zone).rdatas)).serial

    def query(self, name: str | dns.name.Name, rdtype: str | int) -> RRset | None:
        """Ask this server for ``name``/``rdtype``: the RRset, or None (NXDOMAIN or no data).

        UDP, falling back to TCP when truncated. The answer must be authoritative: a server that
        does not host the zone is an error, so polling "every authoritative server" means it.
        """
        qname = to_name(name, dns.name.root)
        rdtype = dns.rdatatype.RdataType.make(rdtype)
        request = dns.message.make_query(qname, rdtype, want_dnssec=False)
        self._sign(request)
        what = f"query {qname} {dns.rdatatype.to_text(rdtype)}"
        response = self.exchange(request, what)
        return self._answer_rrset(response, qname, rdtype, what)

    def serves(self, zone: str | dns.name.Name) -> bool:
        """Does this server serve ``zone``: an authoritative answer with its SOA to an unsigned,
        non-recursive query? False for REFUSED, NOTAUTH, a referral or an answer without AA; a
        server that does not answer at all is the usual one-line error."""
        origin = to_name(zone)
        request = dns.message.make_query(origin, dns.rdatatype.SOA, want_dnssec=False)
        request.flags &= ~dns.flags.RD
        response = self.exchange(request, f"query {origin} SOA")
        return (response.rcode() == dns.rcode.NOERROR and bool(response.flags & dns.flags.AA)
                and any(rrset.name == origin and rrset.rdtype == dns.rdatatype.SOA for rrset in response.answer))

    def exchange(self, request: dns.message.Message, what: str) -> dns.message.Message:
        """Send ``request`` (already signed when it should be) and return the answer, whatever its RCODE.

        UDP, falling back to TCP when truncated; a failure to reach the server is the one-line error.
        """
        try:
            # A connected UDP socket hears the ICMP "port unreachable" of a server that is down: the
            # query fails at once with "connection refused" instead of waiting for the timeout.
            family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((self.address, self.port))
                sock.setblocking(False)  # dnspython waits with its own deadline (timeout)
                response = dns.query.udp(request, self.address, timeout=self.timeout, port=self.port, sock=sock)
            if response.flags & dns.flags.TC:
                response = dns.query.tcp(request, self.address, timeout=self.timeout, port=self.port)
        except Exception as err:
            raise self._explain_exception(err, what) from None
        return response

    def types_at(self, name: str | dns.name.Name) -> set[int]:
        """The record types at ``name`` (an ANY query over TCP to this authoritative server)."""
        qname = to_name(name, dns.name.root)
        request = dns.message.make_query(qname, dns.rdatatype.ANY)
        self._sign(request)
        what = f"query {qname} ANY"
        try:
            response = dns.query.tcp(request, self.address, timeout=self.timeout, port=self.port)
        except Exception as err:
            raise self._explain_exception(err, what) from None
        if response.rcode() == dns.rcode.NXDOMAIN:
            return set()
        self._answer_rrset(response, qname, dns.rdatatype.ANY, what)  # raises on errors / not authoritative
        return {rrset.rdtype for rrset in response.answer if rrset.name == qname}

    # ---- writing -------------------------------------------------------------------------------

    def send_updates(self, zone: str | dns.name.Name, changes: Iterable[Change],
                     expected_serial: int | None = None, *,
                     before_first_message: Callable[[], Any] | None = None,
                     after_message: Callable[[int], Any] | None = None) -> UpdateResult:
        """Apply ``changes`` with RFC 2136 UPDATE messages over one TCP connection.

        ``expected_serial``: guard every message with an SOA prerequisite (see the module docstring);
        ``None`` sends unguarded (fine for adding/removing single values, e.g. ACME tokens).
        ``before_first_message`` is called after the guard's SOA read and before the first message,
        ``after_message(k)`` after message k was applied: tests use them to make a concurrent change
        exactly in those windows.
        Raises :class:`ZoneChangedError` on a serial mismatch, :class:`DnsError` otherwise.
        """
        origin = to_name(zone)
        changes = list(changes)
        if not changes:
            return UpdateResult(0, 0, None)
        batches = list(_batches(origin, changes))
        sent = applied = 0
        with self._connect(f"update of {origin}") as connection:
            soa_rdata = None
            if expected_serial is not None:
                soa_rdata = next(iter(self._tcp_soa(connection, origin).rdatas))
                if soa_rdata.serial != expected_serial:
                    raise ZoneChangedError(
                        f"zone {origin} on {self.named} changed since it was read: serial "
                        f"{soa_rdata.serial}, expected {expected_serial}. Nothing was sent; run again "
                        "to plan against the current zone.", serial=soa_rdata.serial)
            if before_first_message is not None:
                before_first_message()
            serial = expected_serial
            pending = list(batches)
            key = self._tsig_key()
            while pending:
                batch = pending.pop(0)
                message_id = dns.entropy.random_16()
                prerequisite = soa_rdata.replace(serial=serial) if soa_rdata is not None else None
                try:
                    request = wire.render_update(origin, batch, message_id, prerequisite)
                except wire.TooBig:
                    if len(batch) == 1:
                        too_big = f"{batch[0].name} {dns.rdatatype.to_text(batch[0].rdtype)}"
                        raise DnsError(f"{self.named}: the change of {too_big} does not fit in one 64 KiB "
                                       "UPDATE message") from None
                    half = len(batch) // 2
                    pending[:0] = [batch[:half], batch[half:]]
                    continue
                mac = None
                if key is not None:
                    request, mac = wire.sign(request, key, message_id)
                # a signed zone signs every changed rrset before answering: big messages take longer
                patience = self.timeout * max(1.0, len(batch) / RECORDS_PER_TIMEOUT)
                response = self._exchange(connection, request, message_id, mac, f"update of {origin}", patience)
                rcode = response.rcode()
                if rcode == dns.rcode.NXRRSET and soa_rdata is not None:
                    current = self._serial_or_none(connection, origin)
                    raise ZoneChangedError(
                        f"zone {origin} on {self.named} was changed by somebody else: UPDATE message "
                        f"{sent + 1} of {sent + 1 + len(pending)} expected serial {serial}, the server has "
                        f"{current}. {sent} message(s) ({applied} change(s)) were applied before, nothing of "
                        "this one; nothing was overwritten. Run again to plan against the current zone. "
                        "(If nobody else writes to this zone, check that it uses "
                        "serial-update-method increment.)", messages_applied=sent, serial=current)
                if rcode != dns.rcode.NOERROR:
                    earlier = f" ({sent} earlier message(s) were applied)" if sent else ""
                    raise self._rcode_error(rcode, f"update of {origin}", earlier)
                sent += 1
                applied += len(batch)
                if serial is not None:
                    serial = next_serial(serial)
                if after_message is not None and pending:
                    after_message(sent)
            final_serial = self._serial_or_none(connection, origin)
        return UpdateResult(sent, applied, final_serial)

    # ---- plumbing ------------------------------------------------------------------------------

    def _sign(self, message: dns.message.Message) -> None:
        if self.tsig is not None:
            message.use_tsig(self.tsig.keyring, keyname=self.tsig.name, algorithm=self.tsig.algorithm)

    def _connect(self, what: str) -> _Connection:
        try:
            sock = socket.create_connection((self.address, self.port), timeout=self.timeout)
        except Exception as err:
            raise self._explain_exception(err, what) from None
        sock.setblocking(False)  # dnspython waits with its own per-message deadlines
        return _Connection(sock)

    def _tsig_key(self) -> dns.tsig.Key | None:
        return None if self.tsig is None else dns.tsig.Key(self.tsig.name, self.tsig.secret, self.tsig.algorithm)

    def _exchange(self, connection: _Connection, request: bytes, message_id: int, request_mac: bytes | None,
                  what: str, timeout: float | None = None) -> dns.message.Message:
        """Send one message and read its answer, whose TSIG is checked against ``request_mac``."""
        expiration = time.time() + (timeout or self.timeout)
        try:
            dns.query.send_tcp(connection.sock, request, expiration)
            response, _received_at = dns.query.receive_tcp(
                connection.sock, expiration, keyring=self.tsig.keyring if self.tsig else None,
                request_mac=request_mac or b"")
        except Exception as err:
            raise self._explain_exception(err, what) from None
        if response.id != message_id:
            raise DnsError(f"{self.named}: {what} failed: the answer does not match the request (id "
                           "mismatch); check that nothing else answers on this address and port")
        return response

    def _tcp_soa(self, connection: _Connection, origin: dns.name.Name) -> RRset:
        request = dns.message.make_query(origin, SOA)
        self._sign(request)
        what = f"SOA query for {origin}"
        response = self._exchange(connection, request.to_wire(), request.id, request.mac, what)
        rrset = self._answer_rrset(response, origin, SOA, what)
        if rrset is None:
            raise DnsError(f"{self.named} has no SOA for {origin}: is the zone loaded there?")
        return rrset

    def _serial_or_none(self, connection: _Connection, origin: dns.name.Name) -> int | None:
        try:
            return next(iter(self._tcp_soa(connection, origin).rdatas)).serial
        except DnsError:
            return None

    def _answer_rrset(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int,
                      what: str) -> RRset | None:
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return None
        if rcode != dns.rcode.NOERROR:
            raise self._rcode_error(rcode, what)
        if not response.flags & dns.flags.AA:
            raise DnsError(f"{self.named}: {what} failed: the answer is not authoritative, this server "
                           "does not serve the zone; check that it is loaded there and the zone name is right")
        for rrset in response.answer:
            if rrset.name == qname and rrset.rdtype == rdtype:
                return RRset(rrset.name, rrset.rdtype, rrset.ttl, rrset)
        return None

    def _rcode_error(self, rcode: int, what: str, earlier: str = "") -> DnsError:
        """The answer's RCODE as one line: the server's own troubles are NameServerUnavailable."""
        name = dns.rcode.to_text(rcode)
        key = f"TSIG key '{self.tsig.name}'" if self.tsig else "no TSIG key"
        if rcode == dns.rcode.NOTAUTH:
            return self.unavailable(what, f"NOTAUTH, the server is not authoritative for the zone or did not "
                                          f"accept the signature ({key}){earlier}",
                                    "the server address, the zone name and the key")
        if rcode == dns.rcode.SERVFAIL:
            return self.unavailable(what, f"SERVFAIL, the server failed{earlier}",
                                    "the server's log (is the zone loaded there?)")
        hints = {
            dns.rcode.REFUSED: f"that {key} is allowed for this zone (update-policy / allow-update / "
                               "allow-transfer), that the zone is hosted there as a primary, and that the "
                               "change passes the server's integrity checks (its log says which record)",
            dns.rcode.NOTZONE: "the record names: one is outside the zone",
            dns.rcode.FORMERR: "the server's log: it could not parse the request",
            dns.rcode.NOTIMP: "that this server supports the operation",
            dns.rcode.NXRRSET: "the zone: a prerequisite failed",
            dns.rcode.YXDOMAIN: "the zone: a prerequisite failed (name exists)",
            dns.rcode.YXRRSET: "the zone: a prerequisite failed (rrset exists)",
            dns.rcode.NXDOMAIN: "the zone name: the zone does not exist there",
        }
        return DnsError(f"{self.named}: {what} failed with {name}{earlier}; check "
                        f"{hints.get(rcode, 'the server log')}")

    def _explain_exception(self, err: Exception, what: str) -> DnsError:
        """What went wrong talking to the server, as one line naming it and what to check."""
        if isinstance(err, DnsError):
            return err
        key = f"TSIG key '{self.tsig.name if self.tsig else '?'}'"
        if isinstance(err, dns.tsig.PeerBadKey):
            return self.unavailable(what, f"the server does not know {key} (BADKEY)",
                                    "the key name and algorithm against the server's configuration")
        if isinstance(err, dns.tsig.PeerBadSignature):
            return self.unavailable(what, f"the server rejected the signature of {key} (BADSIG): the secret "
                                          "differs from the server's", "the key's secret (vault) against the server's")
        if isinstance(err, dns.tsig.PeerBadTime):
            return self.unavailable(what, "the server rejected the TSIG time (BADTIME)",
                                    "the clocks of both machines")
        if isinstance(err, dns.tsig.BadSignature | dns.tsig.BadKey | dns.tsig.PeerError):
            return self.unavailable(what, f"the answer's TSIG signature does not verify with {key}",
                                    "that the key's secret and algorithm are the server's")
        if isinstance(err, dns.message.UnknownTSIGKey):
            return self.unavailable(what, "the answer is signed with a key we do not have",
                                    f"that the server uses {key} for this zone")
        if isinstance(err, dns.exception.Timeout | socket.timeout | TimeoutError):
            return DnsTimeoutError(self.named, what, f"no answer within {self.timeout:g} s",
                                   "that named runs and is reachable at this address and port (make lab-status "
                                   "in the lab); a big UPDATE of a signed zone may need a longer timeout")
        if isinstance(err, ConnectionRefusedError):
            return self.unavailable(what, "connection refused")
        if isinstance(err, EOFError | ConnectionResetError):
            return self.unavailable(what, "the server closed the connection",
                                    f"that {key} may do this there and that the zone is hosted there")
        if isinstance(err, OSError):
            return self.unavailable(what, f"network error: {err.strerror or err}",
                                    "the address and port, and that the server is reachable from here")
        if isinstance(err, dns.exception.FormError):
            return self.unavailable(what, f"malformed answer: {err}",
                                    "that a name server listens at this address and port")
        return DnsError(f"{self.named}: {what} failed: {type(err).__name__}: {err}; check the server's log")


class _Connection:
    """A TCP connection used for several messages; closed when the ``with`` block ends."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()


def _estimated_size(origin_length: int, change: Change) -> int:
    """Upper estimate of a change's bytes in a message (owner compressed against the zone name)."""
    rrset = change.rrset
    labels = rrset.name.labels
    owner = sum(map(len, labels)) + len(labels) - origin_length + _COMPRESSION_POINTER_BYTES
    old, new = change.old, change.new
    whole_rrset_deleted = 0
    if old is None or not old.digests:
        digests: Iterable[bytes] = new.digests  # type: ignore[union-attr]
    elif new is None:
        digests, whole_rrset_deleted = (), 1
    elif not new.digests or old.ttl == new.ttl:
        digests = old.digests ^ new.digests
    else:
        digests, whole_rrset_deleted = new.digests, 1
    # the canonical form is the uncompressed wire form: an upper bound of the rendered rdata
    return (whole_rrset_deleted * (owner + _RR_FIXED_BYTES)
            + sum(owner + _RR_FIXED_BYTES + len(digest) for digest in digests))


def _batches(origin: dns.name.Name, changes: list[Change]) -> Iterator[list[Change]]:
    """Changes grouped by owner name (a name's changes stay together), packed up to the budget."""
    origin_length = len(origin.to_wire())
    by_name: dict[dns.name.Name, list[Change]] = {}
    for change in changes:
        by_name.setdefault(change.name, []).append(change)
    batch: list[Change] = []
    size = 0
    for group in by_name.values():
        group_size = sum(_estimated_size(origin_length, change) for change in group)
        if batch and size + group_size > UPDATE_BUDGET_BYTES:
            yield batch
            batch, size = [], 0
        batch.extend(group)
        size += group_size
    if batch:
        yield batch
