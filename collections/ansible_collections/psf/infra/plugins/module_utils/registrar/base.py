# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The registrar interface, the values it passes around, and the plan for one domain.

A provider reads a domain (:meth:`Provider.read` -> :class:`DomainState`) and makes single changes
(register, renew, auto-renew, name servers, DNSSEC keys). What to change is decided here, once, for
every provider (:func:`plan_domain`), so a new registrar is only the adapter: its reads and writes.

DNSSEC: the zone's keys are given as DNSKEY record data (``257 3 13 <base64>``); only the secure
entry points (SEP flag, KSK or CSK) go to the parent. A registrar that takes keys (Gandi computes
the DS itself) compares keys; one that takes DS records (a parent zone over RFC 2136) compares the
SHA-256 DS of those keys. Either way the parent ends up with exactly the zone's current SEP keys.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError

SEP_FLAG = 0x0001
#: the EPP status of a domain its registrar will not let go to another registrar (RFC 5731)
TRANSFER_LOCK = "clientTransferProhibited"
#: datetime.UTC is Python 3.11+; module_utils also run on older targets
UTC = datetime.timezone.utc  # noqa: UP017
DS_DIGEST = "SHA256"


class RegistrarError(PsfInfraError):
    """The registrar refused or failed a request; the message names the domain and quotes it."""

    def __init__(self, domain: str, message: str, **fields: Any) -> None:
        self.domain = domain
        super().__init__(f"{domain}: {message}", domain=domain, **fields)


class NotApplicable(PsfInfraError):
    """Asked of a provider that has no such thing (e.g. registering under a parent zone we run)."""


@dataclass(frozen=True)
class DnsKey:
    """One DNSKEY (flags, algorithm, base64 public key), as the zone publishes it."""

    flags: int
    algorithm: int
    public_key: str  # base64, no spaces
    registrar_id: str | None = field(default=None, compare=False)  # the registrar's id, when it has one

    @classmethod
    def from_text(cls, text: str, *, field_name: str = "dnskeys", tenant: str | None = None,
                  source_file: str | None = None) -> DnsKey:
        """``257 3 13 <base64>`` (a DNSKEY's record data) -> DnsKey; bad data is InvalidInput."""
        try:
            rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY, text)
        except (dns.exception.DNSException, ValueError) as err:
            raise InvalidInput(f"{text!r} is not DNSKEY record data (flags protocol algorithm key): {err}",
                               tenant=tenant, file=source_file, field=field_name) from None
        return cls(rdata.flags, int(rdata.algorithm), base64.b64encode(rdata.key).decode("ascii"))

    @property
    def sep(self) -> bool:
        return bool(self.flags & SEP_FLAG)

    @property
    def identity(self) -> tuple[int, str]:
        """What makes two keys the same at a registrar: algorithm and public key."""
        return self.algorithm, self.public_key

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY,
                                   f"{self.flags} 3 {self.algorithm} {self.public_key}")

    def ds(self, domain: str) -> str:
        """The SHA-256 DS record data of this key under ``domain``."""
        return dns.dnssec.make_ds(dns.name.from_text(domain), self.rdata(), DS_DIGEST).to_text()

    @property
    def keytag(self) -> int:
        return dns.dnssec.key_id(self.rdata())

    def as_dict(self, domain: str) -> dict[str, Any]:
        return {"flags": self.flags, "algorithm": self.algorithm, "keytag": self.keytag,
                "public_key": self.public_key, "ds": self.ds(domain)}


@dataclass
class DomainState:
    """A domain as the registrar holds it."""

    name: str
    registered: bool
    expires: datetime.datetime | None = None
    status: list[str] = field(default_factory=list)
    auto_renew: bool | None = None  # None: the registrar has no such setting
    nameservers: list[str] = field(default_factory=list)
    keys: list[DnsKey] = field(default_factory=list)  # registrars that take keys
    ds: list[str] = field(default_factory=list)  # the DS the registrar publishes (record data)
    keys_read: bool = True  # False: keys and DS were not asked for (read(keys=False)); ds is then null
    # The transfer (authorisation) code, a SECRET: never in as_dict, a message, a diff or repr; only in
    # run_domain's ``transfer.auth_code`` when the request says transfer_out (docs/registrar.md).
    auth_code: str | None = field(default=None, repr=False, compare=False)
    auth_code_expires: datetime.datetime | None = field(default=None, repr=False, compare=False)

    @property
    def transfer_locked(self) -> bool:
        return TRANSFER_LOCK in self.status

    def days_left(self, now: datetime.datetime | None = None) -> int | None:
        if self.expires is None:
            return None
        now = now or datetime.datetime.now(UTC)
        return int((self.expires - now).total_seconds() // 86400)

    def as_dict(self) -> dict[str, Any]:
        return {"registered": self.registered,
                "expires": self.expires.isoformat() if self.expires else None,
                "days_left": self.days_left(), "status": list(self.status), "auto_renew": self.auto_renew,
                "nameservers": sorted(self.nameservers), "ds": sorted(self.ds) if self.keys_read else None}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], *, field_name: str = "registrar") -> DomainState:
        """The state ``as_dict`` gave (psf.infra.domain's ``registrar`` result, passed back in)."""
        if not isinstance(data, Mapping) or "registered" not in data or "nameservers" not in data:
            raise InvalidInput("must be the registrar result of psf.infra.domain (registered, expires, status, "
                               "auto_renew, nameservers, ds)", field=field_name)
        return cls(name, registered=bool(data["registered"]),
                   expires=parse_expiry(data.get("expires"), field_name=f"{field_name}.expires"),
                   status=list(data.get("status") or []), auto_renew=data.get("auto_renew"),
                   nameservers=[normalise_host(ns) for ns in data.get("nameservers") or []],
                   ds=[normalise_ds(ds) for ds in data.get("ds") or []], keys_read=data.get("ds") is not None)


class Provider:
    """One registrar. Every write takes ``check``: in check mode nothing that changes anything or
    costs money is sent (a provider may send a dry run, e.g. Gandi's ``Dry-Run: 1``)."""

    #: how results and messages name the provider
    name = "registrar"
    #: whether the registrar registers and renews domains (a parent zone we run does not)
    registers = True
    #: "keys" (the registrar takes DNSKEYs and computes the DS) or "ds" (it takes DS records)
    dnssec_input = "keys"
    #: whether the registrar has an auto-renew setting
    has_auto_renew = True
    #: whether reading the DNSSEC keys costs a request of its own (the parent is asked first then)
    keys_cost_a_request = False
    #: whether a domain can be prepared for a transfer out (transfer lock, transfer code)
    transfers_out = False

    def read(self, domain: str, *, keys: bool = True) -> DomainState:
        """The domain at the registrar; with ``keys=False`` its DNSSEC keys and DS may be left
        unread (``DomainState.keys``/``ds`` empty) when that saves a request."""
        raise NotImplementedError

    def availability(self, domain: str) -> dict[str, Any]:
        """``{available: bool, status, price, currency}`` for registering ``domain`` for a year."""
        raise NotApplicable(f"{domain}: {self.name} does not register domains")

    def register(self, domain: str, years: int, nameservers: Sequence[str], *, check: bool) -> str:
        raise NotApplicable(f"{domain}: {self.name} does not register domains")

    def renew(self, domain: str, years: int, *, check: bool) -> str:
        raise NotApplicable(f"{domain}: {self.name} does not renew domains")

    def set_auto_renew(self, domain: str, enabled: bool, *, check: bool) -> str:
        raise NotApplicable(f"{domain}: {self.name} has no auto-renew setting")

    def set_nameservers(self, domain: str, nameservers: Sequence[str], current: DomainState, *,
                        check: bool) -> str:
        raise NotImplementedError

    def add_key(self, domain: str, key: DnsKey, *, check: bool) -> str:
        raise NotImplementedError

    def delete_key(self, domain: str, key: DnsKey, *, check: bool) -> str:
        raise NotImplementedError

    def set_ds(self, domain: str, ds: Sequence[str], current: DomainState, *, check: bool) -> str:
        raise NotImplementedError

    def unlock_transfer(self, domain: str, _value: Any, *, check: bool) -> str:
        """Remove the transfer lock (clientTransferProhibited)."""
        raise NotApplicable(f"{domain}: {self.name} has no transfer lock")

    def reset_auth_code(self, domain: str, _value: Any, *, check: bool) -> str:
        """Have the registrar make a new transfer code (the old one expired or there is none)."""
        raise NotApplicable(f"{domain}: {self.name} has no transfer code")


# ---- the plan ---------------------------------------------------------------------------------


def normalise_host(name: str) -> str:
    """``NS1.Infra.Test`` -> ``ns1.infra.test`` (the spelling compared and sent to registrars)."""
    return name.strip().rstrip(".").lower()


def normalise_ds(text: str) -> str:
    """DS record data in one spelling (digest upper case, no spaces inside it)."""
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DS, text)
    except (dns.exception.DNSException, ValueError):
        return " ".join(text.split())
    return rdata.to_text().upper()


def public_key_text(value: str) -> str:
    """A base64 public key without whitespace (registrars return it with or without)."""
    compact = "".join(value.split())
    try:
        return base64.b64encode(base64.b64decode(compact, validate=True)).decode("ascii")
    except (binascii.Error, ValueError):
        return compact


@dataclass
class Desired:
    """What one domain should be, from the module's options (None: leave that part alone)."""

    name: str
    register: bool = False
    years: int = 1
    auto_renew: bool | None = None
    renew_within_days: int = 30
    nameservers: list[str] | None = None
    dnskeys: list[DnsKey] | None = None
    tenant: str | None = None
    source_file: str | None = None
    transfer_out: bool = False  # prepare for a transfer out: lock removed, transfer code obtained

    @property
    def sep_keys(self) -> list[DnsKey]:
        return [key for key in self.dnskeys or () if key.sep]


@dataclass(frozen=True)
class Action:
    """One change to make: ``kind`` is register, renew, auto_renew, nameservers, add_key, delete_key, ds,
    unlock, auth_code."""

    kind: str
    detail: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.kind, "detail": self.detail}


def plan_domain(provider: Provider, state: DomainState, desired: Desired,
                now: datetime.datetime | None = None) -> tuple[list[Action], list[str]]:
    """The actions that make the registrar hold ``desired``, and notes (things not done, and why).

    Registration only when ``desired.register`` (it costs money); renewal only inside the window.
    """
    actions: list[Action] = []
    notes: list[str] = []
    name = desired.name
    if not state.registered:
        if not provider.registers:
            raise RegistrarError(name, f"{provider.name} does not hold this domain and cannot register it")
        if not desired.register:
            raise InvalidInput(
                f"{name} is not registered at {provider.name}, and registering costs money: it is registered "
                "only when the tenant file says `register: true` for it, which it does not; nothing was sent",
                tenant=desired.tenant, file=desired.source_file, field="services.domains[].register", domain=name)
        actions.append(Action("register", f"register {name} for {desired.years} year(s) at {provider.name}",
                              desired.years))
    elif provider.registers:
        days = state.days_left(now)
        if days is not None and days < desired.renew_within_days:
            actions.append(Action("renew", f"renew {name} for {desired.years} year(s): {days} day(s) left, fewer "
                                           f"than renew_within_days={desired.renew_within_days}", desired.years))
    else:
        notes.append(f"registration and renewal are not applicable at {provider.name} (a parent zone we run)")

    if desired.auto_renew is not None:
        if not provider.has_auto_renew:
            notes.append(f"auto_renew is not applicable at {provider.name}")
        elif state.auto_renew is not desired.auto_renew or not state.registered:
            actions.append(Action("auto_renew", f"auto-renew {'on' if desired.auto_renew else 'off'} "
                                                f"(was {_onoff(state.auto_renew)})", desired.auto_renew))

    if desired.nameservers is not None:
        wanted = sorted({normalise_host(ns) for ns in desired.nameservers})
        current = sorted({normalise_host(ns) for ns in state.nameservers})
        # A registration sends its name servers with it (Gandi's `nameservers` of the create request).
        if wanted != current and state.registered:
            actions.append(Action("nameservers", f"name servers {', '.join(current) or '(none)'} -> "
                                                 f"{', '.join(wanted)}", wanted))

    if desired.dnskeys is not None:
        actions += _dnssec_actions(provider, state, desired)
    if desired.transfer_out:
        actions += _transfer_actions(provider, state, desired, notes, now)
    return actions, notes


def _transfer_actions(provider: Provider, state: DomainState, desired: Desired, notes: list[str],
                      now: datetime.datetime | None) -> list[Action]:
    """Prepare a transfer out: the transfer lock removed; a new transfer code only when the registrar's
    expired (or it has none once unlocked). A domain already unlocked with a valid code: nothing."""
    name = desired.name
    if not provider.transfers_out:
        notes.append(f"transfer out is not applicable at {provider.name} (a parent zone we run: no transfer "
                     "lock and no transfer code); staff hand the delegation over")
        return []
    actions = []
    if state.transfer_locked:
        actions.append(Action("unlock", f"remove the transfer lock of {name} ({TRANSFER_LOCK})"))
    now = now or datetime.datetime.now(UTC)
    expired = state.auth_code_expires is not None and state.auth_code_expires <= now
    if not state.transfer_locked and (not state.auth_code or expired):
        why = "it expired" if state.auth_code else "the registrar gave none"
        actions.append(Action("auth_code", f"have {provider.name} make a new transfer code for {name} ({why})"))
    return actions


def _onoff(value: bool | None) -> str:
    return "unknown" if value is None else ("on" if value else "off")


def _dnssec_actions(provider: Provider, state: DomainState, desired: Desired) -> list[Action]:
    name = desired.name
    wanted_keys = desired.sep_keys
    if provider.dnssec_input == "ds":
        wanted = sorted({normalise_ds(key.ds(name)) for key in wanted_keys})
        current = sorted({normalise_ds(ds) for ds in state.ds})
        if wanted == current:
            return []
        return [Action("ds", f"DS {'; '.join(current) or '(none)'} -> {'; '.join(wanted) or '(none)'}", wanted)]
    actions: list[Action] = []
    wanted_ids = {key.identity for key in wanted_keys}
    seen: set[tuple[int, str]] = set()
    # New keys first, old ones last: the parent never holds no DS of a key the zone signs with.
    for key in wanted_keys:
        if key.identity not in {k.identity for k in state.keys}:
            actions.append(Action("add_key", f"add key {key.keytag} (algorithm {key.algorithm}, DS {key.ds(name)})",
                                  key))
    for key in state.keys:
        if key.identity not in wanted_ids or key.identity in seen:
            actions.append(Action("delete_key", f"delete key {key.keytag} (algorithm {key.algorithm})", key))
        seen.add(key.identity)
    return actions


#: The provider method that carries out each kind of action.
_PROVIDER_METHODS = {"register": "register", "renew": "renew", "auto_renew": "set_auto_renew",
                     "nameservers": "set_nameservers", "add_key": "add_key", "delete_key": "delete_key",
                     "ds": "set_ds", "unlock": "unlock_transfer", "auth_code": "reset_auth_code"}


def apply_actions(provider: Provider, state: DomainState, desired: Desired, actions: Iterable[Action], *,
                  check: bool) -> list[str]:
    """Carry out ``actions`` in order (in check mode: dry runs only); returns the registrar's messages."""
    messages = []
    for action in actions:
        if action.kind not in _PROVIDER_METHODS:  # pragma: no cover - plan_domain makes only these kinds
            raise ValueError(action.kind)
        # register also sets the name servers; nameservers and ds may need what the registrar holds now
        extra = {"register": (desired.nameservers or [],), "nameservers": (state,), "ds": (state,)}.get(action.kind, ())
        method = getattr(provider, _PROVIDER_METHODS[action.kind])
        messages.append(method(desired.name, action.value, *extra, check=check))
    return [message for message in messages if message]


def parse_dnskeys(values: Sequence[str] | None, *, tenant: str | None = None,
                  source_file: str | None = None) -> list[DnsKey] | None:
    if values is None:
        return None
    return [DnsKey.from_text(value, field_name=f"dnskeys[{index}]", tenant=tenant, source_file=source_file)
            for index, value in enumerate(values)]


def parse_expiry(value: str | datetime.date | None, *, field_name: str) -> datetime.datetime | None:
    """An ISO date or timestamp (``2027-03-01`` or ``2027-03-01T12:00:00Z``) -> aware datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"{value!r} is not an ISO date (YYYY-MM-DD) or timestamp", field=field_name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
