# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Gandi's public API v5 (https://api.gandi.net/v5/domain/...) as a registrar provider.

The endpoints, bodies and answers used are listed, with where they were read, in docs/registrar.md.
HTTP is the standard library's ``urllib`` with one TLS context (certificates verified) per provider,
so this runs wherever a module runs; ansible's ``open_url`` builds a new TLS context for every
request, which cost 0.17 s a request here. Every request carries
``Authorization: Bearer <personal access token>``.

- Reads: ``GET /domain/domains/{fqdn}`` (expiry ``dates.registry_ends_at``, ``status``,
  ``autorenew``, ``nameservers``) and ``GET /domain/domains/{fqdn}/dnskeys``; a 404 is "not ours".
  The keys are a request of their own: ``psf.infra.domain`` skips it when the parent zone already
  serves exactly the DS it would keep (``domain_task``), so a no-op costs one request a domain.
- Check mode sends nothing that changes anything: registration and renewal are sent with
  ``Dry-Run: 1`` (Gandi checks them and registers or renews nothing, so nothing is charged); name
  servers, auto-renew and DNSSEC keys have no dry run and are not sent at all.
- 429 and 5xx are retried, waiting what ``Retry-After`` says (seconds or an HTTP date; at most
  ``max_retry_wait`` seconds each, ``max_retries`` times). A POST that costs money (register, renew)
  or adds a key is retried on 429 only (Gandi did not process it); after a 5xx it may have been
  applied, so it is not sent twice: the error says so, and the next run reads the domain again (a
  renewed domain is outside the renewal window, so it is not renewed twice).
- Errors name the domain and quote Gandi's ``message`` (or its ``errors[].description``).
- A transfer out (``transfer_out``): ``PATCH .../status`` ``{clientTransferProhibited: false}``
  removes the transfer lock, ``PUT .../authinfo`` makes a new transfer code (only when Gandi's
  expired, ``dates.authinfo_expires_at``, or it gave none), and the code is the domain's
  ``authinfo``. The code is a secret: it is kept off ``DomainState.as_dict``, messages and diffs.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import ssl
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode

from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.registrar.base import (
    UTC,
    DnsKey,
    DomainState,
    Provider,
    RegistrarError,
    normalise_ds,
    normalise_host,
    parse_expiry,
    public_key_text,
)

DEFAULT_URL = "https://api.gandi.net/v5"
USER_AGENT = "psf.infra registrar (https://github.com/python/psf-infra)"
#: methods that may be sent again after a 5xx: they set a state, so twice is the same as once
IDEMPOTENT = frozenset({"GET", "PUT", "PATCH", "DELETE"})
KEY_TYPES = {True: "ksk", False: "zsk"}


class GandiUnavailable(BackendUnavailable):
    """Gandi's API did not answer, or kept answering 429/5xx after the retries."""


class GandiProvider(Provider):
    name = "gandi"
    registers = True
    dnssec_input = "keys"
    has_auto_renew = True
    keys_cost_a_request = True
    transfers_out = True

    def __init__(self, token: str, url: str = DEFAULT_URL, *, sharing_id: str | None = None,
                 timeout: float = 30.0, max_retries: int = 4, max_retry_wait: float = 60.0,
                 owner: Mapping[str, Any] | None = None, max_price: float | None = None,
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        if not token:
            raise InvalidInput("the Gandi personal access token is empty", field="gandi.token")
        self._token = token
        self.url = url.rstrip("/")
        if not (self.url.startswith("https://") or self.url.startswith(("http://127.", "http://[::1]", "http://localhost"))):
            raise InvalidInput(f"{url!r}: the Gandi API URL must be https:// (plain http only on this machine, "
                               "for a fake)", field="gandi.url")
        self.sharing_id = sharing_id
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.owner = dict(owner) if owner else None
        self.max_price = max_price
        self.sleep = sleep
        self.requests_sent = 0  # every HTTP request, retries included (the bench counts them)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl.create_default_context()))

    def __repr__(self) -> str:
        return f"GandiProvider({self.url!r}, token=<hidden>)"

    # ---- HTTP ----------------------------------------------------------------------------------

    def request(self, method: str, path: str, domain: str, *, body: Any = None,
                query: Mapping[str, Any] | None = None, dry_run: bool = False) -> tuple[int, Any, Mapping[str, str]]:
        """One API call with the retries; returns (status, decoded JSON body or None, headers)."""
        params = dict(query or {})
        if self.sharing_id:
            params["sharing_id"] = self.sharing_id
        url = f"{self.url}{path}" + (f"?{urlencode(params)}" if params else "")
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if dry_run:
            headers["Dry-Run"] = "1"
        what = f"{method} {path}" + (" (dry run)" if dry_run else "")
        attempt = 0
        while True:
            attempt += 1
            self.requests_sent += 1
            try:
                # the scheme is https (or http to this machine), checked in __init__
                request = urllib.request.Request(url, data=data, headers={**headers, "User-Agent": USER_AGENT},  # noqa: S310
                                                 method=method)
                with self._opener.open(request, timeout=self.timeout) as response:
                    payload = response.read()
                    return response.status, _decode(payload), dict(response.headers.items())
            except HTTPError as err:
                status = err.code
                payload = err.read() if err.fp is not None else b""
                answer = _decode(payload)
                retryable = status == 429 or (status >= 500 and method in IDEMPOTENT)
                if retryable and attempt <= self.max_retries:
                    self.sleep(self._wait(err.headers.get("Retry-After"), attempt))
                    continue
                raise self._error(domain, what, status, answer, attempt, method) from None
            except URLError as err:
                reason = getattr(err.reason, "strerror", None) or str(err.reason)
                raise GandiUnavailable(f"Gandi API {self.url}", f"{what} for {domain}", reason,
                                       "the API URL and the network from here to it") from None
            except (TimeoutError, OSError) as err:
                raise GandiUnavailable(f"Gandi API {self.url}", f"{what} for {domain}",
                                       f"{type(err).__name__}: {err}", "the network and the timeout") from None

    def _wait(self, retry_after: str | None, attempt: int) -> float:
        seconds = None
        if retry_after:
            try:
                seconds = float(retry_after)
            except ValueError:
                when = email.utils.parsedate_to_datetime(retry_after)
                if when is not None:
                    now = datetime.datetime.now(when.tzinfo or UTC)
                    seconds = (when - now).total_seconds()
        if seconds is None:
            seconds = 2 ** (attempt - 1)
        return min(max(seconds, 0.0), self.max_retry_wait)

    def _error(self, domain: str, what: str, status: int, answer: Any, attempts: int, method: str) -> Exception:
        quoted = _gandi_message(answer) or "(no message)"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if status in (401, 403):
            return RegistrarError(domain, f"Gandi API refused {what} with {status}: \"{quoted}\"; check the personal "
                                          "access token (vault) and that it may manage this domain", status=status)
        if status == 429 or status >= 500:
            maybe = ""
            if status >= 500 and method not in IDEMPOTENT:
                maybe = (". It may have been applied: it was not sent again; the next run reads the domain again "
                         "and will not repeat it if it was")
            return GandiUnavailable(f"Gandi API {self.url}", f"{what} for {domain}",
                                    f"HTTP {status}{tries}: \"{quoted}\"{maybe}",
                                    "Gandi's status page, then run again", status=status)
        return RegistrarError(domain, f"Gandi API answered {what} with {status}: \"{quoted}\"", status=status)

    def _path(self, domain: str, *more: str) -> str:
        return "/domain/domains/" + quote(domain, safe="") + "".join(f"/{quote(part, safe='')}" for part in more)

    # ---- reads ---------------------------------------------------------------------------------

    def read(self, domain: str, *, keys: bool = True) -> DomainState:
        try:
            _status, details, _headers = self.request("GET", self._path(domain), domain)
        except RegistrarError as err:
            if err.fields.get("status") == 404:
                return DomainState(domain, registered=False)
            raise
        details = details or {}
        autorenew = details.get("autorenew")
        if isinstance(autorenew, Mapping):
            autorenew = autorenew.get("enabled")
        state = DomainState(
            domain, registered=True,
            expires=parse_expiry((details.get("dates") or {}).get("registry_ends_at"), field_name="registry_ends_at"),
            status=list(details.get("status") or []),
            auto_renew=None if autorenew is None else bool(autorenew),
            nameservers=[normalise_host(ns) for ns in details.get("nameservers") or []])
        # the transfer code comes with the domain (a secret: kept off as_dict, messages and diffs)
        state.auth_code = str(details["authinfo"]) if details.get("authinfo") else None
        state.auth_code_expires = parse_expiry((details.get("dates") or {}).get("authinfo_expires_at"),
                                               field_name="authinfo_expires_at")
        if not keys:
            state.keys_read = False
            return state
        _status, listed, _headers = self.request("GET", self._path(domain, "dnskeys"), domain)
        for item in listed or []:
            key = DnsKey(int(item.get("flags") or (257 if item.get("type", "ksk") == "ksk" else 256)),
                         int(item["algorithm"]), public_key_text(item.get("public_key", "")),
                         registrar_id=str(item.get("id")))
            state.keys.append(key)
            if item.get("digest"):
                state.ds.append(normalise_ds(f"{item.get('keytag')} {item['algorithm']} {item.get('digest_type')} "
                                             f"{item['digest']}"))
            else:
                state.ds.append(normalise_ds(key.ds(domain)))
        return state

    def availability(self, domain: str) -> dict[str, Any]:
        _status, answer, _headers = self.request("GET", "/domain/check", domain, query={"name": domain})
        products = [product for product in (answer or {}).get("products") or []
                    if normalise_host(product.get("name", "")) == normalise_host(domain)]
        if not products:
            return {"available": False, "status": "unknown", "price": None, "currency": (answer or {}).get("currency")}
        product = products[0]
        prices = product.get("prices") or []
        price = prices[0].get("price_after_taxes") if prices else None
        return {"available": product.get("status") == "available", "status": product.get("status"),
                "price": price, "currency": (answer or {}).get("currency")}

    # ---- writes --------------------------------------------------------------------------------

    def register(self, domain: str, years: int, nameservers: Sequence[str], *, check: bool) -> str:
        if not self.owner:
            raise InvalidInput(f"{domain}: registering needs the owner contact (gandi.owner: given, family, email, "
                               "streetaddr, city, zip, country, type)", field="gandi.owner")
        offer = self.availability(domain)
        if not offer["available"]:
            raise RegistrarError(domain, f"cannot be registered at Gandi: its status is {offer['status']!r}")
        if self.max_price is not None and (offer["price"] is None or offer["price"] > self.max_price):
            raise RegistrarError(domain, f"costs {offer['price']} {offer['currency']} a year at Gandi, more than "
                                         f"gandi.max_price={self.max_price}; nothing was registered")
        body: dict[str, Any] = {"fqdn": domain, "owner": self.owner, "duration": years}
        if nameservers:
            body["nameservers"] = [normalise_host(ns) for ns in nameservers]
        _status, answer, _headers = self.request("POST", "/domain/domains", domain, body=body, dry_run=check)
        return _gandi_message(answer) or ("registration checked (dry run)" if check else "registration requested")

    def renew(self, domain: str, years: int, *, check: bool) -> str:
        _status, answer, _headers = self.request("POST", self._path(domain, "renew"), domain,
                                                 body={"duration": years}, dry_run=check)
        return _gandi_message(answer) or ("renewal checked (dry run)" if check else "renewed")

    def set_auto_renew(self, domain: str, enabled: bool, *, check: bool) -> str:
        if check:
            return ""
        _status, answer, _headers = self.request("PATCH", self._path(domain, "autorenew"), domain,
                                                 body={"enabled": enabled})
        return _gandi_message(answer)

    def set_nameservers(self, domain: str, nameservers: Sequence[str], current: DomainState, *,
                        check: bool) -> str:
        if check:
            return ""
        _status, answer, _headers = self.request("PUT", self._path(domain, "nameservers"), domain,
                                                 body={"nameservers": [normalise_host(ns) for ns in nameservers]})
        return _gandi_message(answer)

    def add_key(self, domain: str, key: DnsKey, *, check: bool) -> str:
        if check:
            return ""
        _status, answer, _headers = self.request(
            "POST", self._path(domain, "dnskeys"), domain,
            body={"algorithm": key.algorithm, "type": KEY_TYPES[key.sep], "public_key": key.public_key})
        return _gandi_message(answer)

    def unlock_transfer(self, domain: str, _value: Any, *, check: bool) -> str:
        if check:
            return ""
        _status, answer, _headers = self.request("PATCH", self._path(domain, "status"), domain,
                                                 body={"clientTransferProhibited": False})
        return _gandi_message(answer)

    def reset_auth_code(self, domain: str, _value: Any, *, check: bool) -> str:
        if check:
            return ""
        _status, answer, _headers = self.request("PUT", self._path(domain, "authinfo"), domain)
        return _gandi_message(answer)

    def delete_key(self, domain: str, key: DnsKey, *, check: bool) -> str:
        if check:
            return ""
        if key.registrar_id is None:  # pragma: no cover - keys read from Gandi always have their id
            raise RegistrarError(domain, "a DNSSEC key without Gandi's id cannot be deleted")
        _status, answer, _headers = self.request("DELETE", self._path(domain, "dnskeys", key.registrar_id), domain)
        return _gandi_message(answer)


def _decode(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"message": payload.decode("utf-8", "replace")[:300]}


def _gandi_message(answer: Any) -> str:
    """Gandi's own words: ``message``, or each ``errors[]`` as ``name: description``."""
    if not isinstance(answer, Mapping):
        return ""
    parts = []
    if answer.get("message"):
        parts.append(str(answer["message"]))
    for error in answer.get("errors") or []:
        if isinstance(error, Mapping):
            name = error.get("name") or error.get("location") or ""
            parts.append(f"{name}: {error.get('description', '')}".strip(": "))
    if not parts and answer.get("cause"):
        parts.append(str(answer["cause"]))
    return "; ".join(parts)
