#!/usr/bin/env python3
"""A FAKE of Gandi's public API v5 (domain part), for tests only: no real Gandi server can be reached here.

It follows the contract written down in docs/registrar.md (paths under ``/v5/domain/``, JSON fields,
status codes, error bodies, ``Authorization: Bearer``, ``Dry-Run: 1``, ``Link``/``Total-Count``
pagination) for the endpoints psf.infra uses, keeps state (domains, expiry, auto-renew, name
servers, DNSSEC keys) in memory, and can be told to fail (429 with ``Retry-After``, 5xx) on demand.
It listens on 127.0.0.1 only, on a free port.

In a test::

    with FakeGandi(token="t0k3n") as api:          # api.url == "http://127.0.0.1:<port>/v5"
        api.add_domain("packaging.test", days_left=200, nameservers=["ns1.example.test"])
        api.fail("GET", "/domain/domains/packaging.test", status=429, retry_after=1, times=2)
        ...
        api.requests          # [{method, path, dry_run, status}] of every request answered

From another process: ``python tests/fakes/gandi_api.py --token t0k3n`` prints the URL; the test
controls it with ``POST /_fake/domains`` (a domain as for ``add_domain``), ``POST /_fake/faults``
(as for ``fail``), ``GET /_fake/requests`` and ``GET /_fake/state``. These ``/_fake/`` paths are the
fake's own and not part of Gandi's API.

The registry behind it (``registry=``, or ``--lab-registry`` from the command line): a real
registrar's changes reach the parent zone through the registry (EPP). Here a callback gets each
domain's name servers and DNSSEC keys whenever they change; ``labctl.registry_view`` makes the lab
registry ``test.`` serve them (NS, and the DS of the key-signing keys), so that a domain held by the
fake is delegated, and validates from the lab root, exactly as the fake says.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import hashlib
import json
import re
import secrets
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

UTC = datetime.UTC
#: The registry's side of a domain: (fqdn, name servers, DNSSEC keys as GET .../dnskeys lists them)
Registry = Callable[[str, list[str], list[dict[str, Any]]], None]
PREFIX = "/v5"
HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}\.?$", re.I)
OWNER_REQUIRED = ("given", "family", "email", "streetaddr", "city", "zip", "country", "type")


def _now() -> datetime.datetime:
    return datetime.datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_years(moment: datetime.datetime, years: int) -> datetime.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def keytag(flags: int, algorithm: int, public_key: str) -> int:
    """RFC 4034 appendix B key tag of a DNSKEY."""
    wire = struct.pack("!HBB", flags, 3, algorithm) + base64.b64decode(public_key)
    total = 0
    for index, byte in enumerate(wire):
        total += byte << 8 if index % 2 == 0 else byte
    total += (total >> 16) & 0xFFFF
    return total & 0xFFFF


def ds_digest(fqdn: str, flags: int, algorithm: int, public_key: str) -> str:
    """SHA-256 DS digest (RFC 4509) of a DNSKEY: owner name in wire form + DNSKEY RDATA."""
    owner = b"".join(bytes([len(label)]) + label.encode("ascii") for label in fqdn.lower().rstrip(".").split("."))
    rdata = struct.pack("!HBB", flags, 3, algorithm) + base64.b64decode(public_key)
    return hashlib.sha256(owner + b"\x00" + rdata).hexdigest().upper()


@dataclass
class Fault:
    method: str | None
    path: str | None  # a substring of the path after /v5
    status: int
    times: int
    retry_after: str | None = None
    body: dict[str, Any] | None = None


@dataclass
class Domain:
    fqdn: str
    expires: datetime.datetime
    created: datetime.datetime
    autorenew: bool = False
    nameservers: list[str] = field(default_factory=lambda: ["ns-1.gandi.net", "ns-2.gandi.net", "ns-3.gandi.net"])
    status: list[str] = field(default_factory=lambda: ["clientTransferProhibited"])
    keys: list[dict[str, Any]] = field(default_factory=list)
    updated: datetime.datetime = field(default_factory=_now)
    # the transfer (authorisation) code, as Gandi's domain details give it (``authinfo``), and its expiry
    authinfo: str = field(default_factory=lambda: _new_authinfo())
    authinfo_expires: datetime.datetime = field(default_factory=lambda: _now() + datetime.timedelta(days=365))
    #: the fake's own: a PATCH .../status unlock is accepted but not applied yet (Gandi validates unlocks)
    unlock_pending: bool = False


def _new_authinfo() -> str:
    return "fake-" + secrets.token_urlsafe(9)


class FakeGandi:
    """The fake API server (a thread); see the module docstring."""

    def __init__(self, token: str = "test-token", *, host: str = "127.0.0.1", port: int = 0,  # noqa: S107
                 price: float = 15.6, currency: str = "EUR", unavailable: Iterable[str] = (),
                 registry: Registry | None = None) -> None:
        self.token = token
        self.registry = registry
        self.price = price
        self.currency = currency
        self.unavailable = {name.lower() for name in unavailable}
        self.domains: dict[str, Domain] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._next_key_id = 1000
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"

    def start(self) -> FakeGandi:
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-gandi", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeGandi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- test controls -----------------------------------------------------------------------

    def add_domain(self, fqdn: str, *, days_left: float = 365, autorenew: bool = False,
                   nameservers: list[str] | None = None, keys: list[dict[str, Any]] | None = None,
                   status: list[str] | None = None, authinfo: str | None = None,
                   authinfo_days_left: float = 365, unlock_pending: bool = False) -> Domain:
        """Put a domain in the account (as if registered earlier). ``keys``: ``{flags, algorithm, public_key}``;
        ``authinfo``: its transfer code (a new random one by default), valid ``authinfo_days_left`` days;
        ``unlock_pending``: an unlock is accepted but the lock stays (as while Gandi validates it)."""
        now = _now()
        domain = Domain(fqdn.lower().rstrip("."), now + datetime.timedelta(days=days_left),
                        now - datetime.timedelta(days=300), autorenew)
        if nameservers is not None:
            domain.nameservers = [ns.lower().rstrip(".") for ns in nameservers]
        if status is not None:
            domain.status = list(status)
        if authinfo is not None:
            domain.authinfo = authinfo
        domain.authinfo_expires = now + datetime.timedelta(days=authinfo_days_left)
        domain.unlock_pending = unlock_pending
        with self.lock:
            self.domains[domain.fqdn] = domain
            for key in keys or []:
                self._add_key(domain, int(key.get("flags", 257)), int(key["algorithm"]), key["public_key"])
            self._publish(domain)
        return domain

    def fail(self, method: str | None = None, path: str | None = None, *, status: int = 500, times: int = 1,
             retry_after: float | str | None = None, body: dict[str, Any] | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` (and ``Retry-After`` when given)."""
        with self.lock:
            self.faults.append(Fault(method.upper() if method else None, path, status, times,
                                     None if retry_after is None else str(retry_after), body))

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {name: self._details(domain) | {"dnskeys": [dict(key) for key in domain.keys]}
                    for name, domain in self.domains.items()}

    def writes(self) -> list[dict[str, Any]]:
        """The requests that were not reads and not dry runs (what changed, or tried to change, state)."""
        return [r for r in self.requests if r["method"] != "GET" and not r["dry_run"]
                and not r["path"].startswith("/_fake")]

    # ---- the API ------------------------------------------------------------------------------

    def _publish(self, domain: Domain) -> None:
        """The registry learns the domain's delegation (name servers, DNSSEC keys), as EPP would tell it."""
        if self.registry is not None:
            self.registry(domain.fqdn, list(domain.nameservers), [dict(key) for key in domain.keys])

    def _add_key(self, domain: Domain, flags: int, algorithm: int, public_key: str) -> dict[str, Any]:
        self._next_key_id += 1
        key = {"id": self._next_key_id, "algorithm": algorithm, "flags": flags,
               "type": "ksk" if flags & 1 else "zsk", "public_key": public_key,
               "keytag": keytag(flags, algorithm, public_key), "digest_type": 2,
               "digest": ds_digest(domain.fqdn, flags, algorithm, public_key)}
        domain.keys.append(key)
        return key

    def _details(self, domain: Domain) -> dict[str, Any]:
        return {
            "fqdn": domain.fqdn, "fqdn_unicode": domain.fqdn, "tld": domain.fqdn.rsplit(".", 1)[-1],
            "id": hashlib.md5(domain.fqdn.encode(), usedforsecurity=False).hexdigest(),
            "href": f"{self.url}/domain/domains/{domain.fqdn}",
            "status": list(domain.status),
            "dates": {"created_at": _iso(domain.created), "registry_created_at": _iso(domain.created),
                      "updated_at": _iso(domain.updated), "registry_ends_at": _iso(domain.expires),
                      "renew_begins_at": _iso(domain.expires - datetime.timedelta(days=365)),
                      "hold_begins_at": _iso(domain.expires),
                      "hold_ends_at": _iso(domain.expires + datetime.timedelta(days=30)),
                      "authinfo_expires_at": _iso(domain.authinfo_expires)},
            "autorenew": {"enabled": domain.autorenew, "duration": 1,
                          "href": f"{self.url}/domain/domains/{domain.fqdn}/autorenew"},
            "nameservers": list(domain.nameservers),
            "services": ["dnssec"] if domain.keys else [],
            "can_tld_lock": True,
            "authinfo": domain.authinfo,
            "sharing_space": {"id": "00000000-0000-0000-0000-000000000000", "name": "psf-infra-lab"},
        }

    def _list_item(self, domain: Domain) -> dict[str, Any]:
        details = self._details(domain)
        return {key: details[key] for key in ("fqdn", "fqdn_unicode", "tld", "id", "href", "status", "dates")} | {
            "autorenew": domain.autorenew, "nameserver": {"current": "other", "hosts": list(domain.nameservers)}}

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        dry_run = headers.get("dry-run", "0").strip() == "1"
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        if not path.startswith(PREFIX + "/"):
            return 404, _not_found(), {}
        path = path[len(PREFIX):]
        auth = headers.get("authorization", "")
        if auth != f"Bearer {self.token}":
            return 401, {"code": 401, "message": "The server could not verify that you are authorized to access "
                         "the URL requested. You either supplied the wrong credentials (e.g. a bad password), or "
                         "your browser doesn't understand how to supply the credentials required.",
                         "object": "HTTPUnauthorized", "cause": "Unauthorized"}, {}
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method in (None, method) and (fault.path is None or fault.path in path):
                    fault.times -= 1
                    extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    return fault.status, fault.body or _status_body(fault.status), extra
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return 400, _errors("body", "body", "Invalid JSON body"), {}
        with self.lock:
            return self._route(method, path, query, payload, dry_run)

    def _route(self, method: str, path: str, query: dict[str, str], payload: Any, dry_run: bool
               ) -> tuple[int, Any, dict[str, str]]:
        if path == "/domain/check" and method == "GET":
            return self._check(query.get("name", ""))
        if path == "/domain/domains":
            if method == "GET":
                return self._list(query)
            if method == "POST":
                return self._create(payload or {}, dry_run)
            return 405, _status_body(405), {}
        match = re.fullmatch(r"/domain/domains/([^/]+)"
                             r"(?:/(renew|autorenew|nameservers|dnskeys|status|authinfo)(?:/([^/]+))?)?", path)
        if not match:
            return 404, _not_found(), {}
        fqdn, sub, item = match.group(1).lower(), match.group(2), match.group(3)
        domain = self.domains.get(fqdn)
        if domain is None:
            return 404, _not_found(), {}
        if sub is None and method == "GET":
            return 200, self._details(domain), {}
        if sub == "renew" and method == "POST":
            return self._renew(domain, payload or {}, dry_run)
        if sub == "autorenew" and method == "PATCH":
            if not isinstance((payload or {}).get("enabled"), bool):
                return 400, _errors("body", "enabled", "enabled is required and must be a boolean"), {}
            domain.autorenew = payload["enabled"]
            domain.updated = _now()
            return 202, {"message": "Autorenew settings updated."}, {}
        if sub == "status" and method == "PATCH" and item is None:
            # "Transfer lock/unlock": {clientTransferProhibited: bool} (Gandi's Domain API, "Transfer lock status")
            locked = (payload or {}).get("clientTransferProhibited")
            if not isinstance(locked, bool):
                return 400, _errors("body", "clientTransferProhibited",
                                    "clientTransferProhibited is required and must be a boolean"), {}
            if locked and "clientTransferProhibited" not in domain.status:
                domain.status.append("clientTransferProhibited")
            elif not locked and not domain.unlock_pending:
                domain.status = [status for status in domain.status if status != "clientTransferProhibited"]
            domain.updated = _now()
            return 202, {"message": "The transfer lock status was updated."}, {}
        if sub == "authinfo" and method == "PUT" and item is None:
            # "Reset of authorization code": a new code, read back in the domain's details (authinfo)
            domain.authinfo = _new_authinfo()
            domain.authinfo_expires = _now() + datetime.timedelta(days=365)
            domain.updated = _now()
            return 202, {"message": "The authorization code was reset."}, {}
        if sub == "nameservers":
            if method == "GET":
                return 200, list(domain.nameservers), {}
            if method == "PUT":
                servers = (payload or {}).get("nameservers")
                if not isinstance(servers, list) or not servers or not all(
                        isinstance(ns, str) and HOST_NAME.match(ns) for ns in servers):
                    return 400, _errors("body", "nameservers", "must be a non-empty list of host names"), {}
                domain.nameservers = [ns.lower().rstrip(".") for ns in servers]
                domain.updated = _now()
                self._publish(domain)
                return 202, {"message": "Nameservers updated."}, {}
        if sub == "dnskeys":
            if method == "GET" and item is None:
                return 200, [dict(key) for key in domain.keys], {}
            if method == "POST" and item is None:
                return self._add_dnskey(domain, payload or {})
            if method == "DELETE" and item is not None:
                for key in domain.keys:
                    if str(key["id"]) == item:
                        domain.keys.remove(key)
                        self._publish(domain)
                        return 204, None, {}
                return 404, _not_found(), {}
        return 405, _status_body(405), {}

    def _check(self, name: str) -> tuple[int, Any, dict[str, str]]:
        name = name.lower().rstrip(".")
        if not HOST_NAME.match(name or "-"):
            return 400, _errors("query", "name", f"{name!r} is not a valid domain name"), {}
        taken = name in self.domains or name in self.unavailable
        product: dict[str, Any] = {"name": name, "status": "unavailable" if taken else "available",
                                   "process": "create", "taxes": []}
        if not taken:
            product["prices"] = [{"min_duration": 1, "max_duration": 10, "duration_unit": "y", "discount": False,
                                  "price_before_taxes": self.price, "price_after_taxes": round(self.price * 1.2, 2),
                                  "options": {"period": "golive"}}]
        return 200, {"currency": self.currency, "grid": "A", "products": [product], "taxes": []}, {}

    def _list(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        page, per_page = int(query.get("page", 1)), min(int(query.get("per_page", 100)), 100)
        names = sorted(self.domains)
        if query.get("fqdn"):
            pattern = re.compile("^" + re.escape(query["fqdn"]).replace(r"\*", ".*") + "$")
            names = [name for name in names if pattern.match(name)]
        chunk = names[(page - 1) * per_page: page * per_page]
        headers = {"Total-Count": str(len(names))}
        if page * per_page < len(names):
            headers["Link"] = f'<{self.url}/domain/domains?{urlencode({"page": page + 1, "per_page": per_page})}>; ' \
                              'rel="next"'
        return 200, [self._list_item(self.domains[name]) for name in chunk], headers

    def _create(self, payload: dict[str, Any], dry_run: bool) -> tuple[int, Any, dict[str, str]]:
        errors = []
        fqdn = str(payload.get("fqdn", "")).lower().rstrip(".")
        if not HOST_NAME.match(fqdn or "-"):
            errors.append({"location": "body", "name": "fqdn", "description": "fqdn is required (a domain name)"})
        owner = payload.get("owner")
        if not isinstance(owner, dict):
            errors.append({"location": "body", "name": "owner", "description": "owner is required"})
        else:
            errors += [{"location": "body", "name": f"owner.{key}", "description": f"owner.{key} is required"}
                       for key in OWNER_REQUIRED if key not in owner]
        duration = payload.get("duration", 1)
        if not isinstance(duration, int) or not 1 <= duration <= 10:
            errors.append({"location": "body", "name": "duration", "description": "duration must be 1 to 10"})
        if not errors and (fqdn in self.domains or fqdn in self.unavailable):
            errors.append({"location": "body", "name": "fqdn", "description": f"{fqdn} is not available"})
        if errors:
            return 400, {"status": "error", "errors": errors}, {}
        if dry_run:
            return 200, {"status": "success"}, {}
        now = _now()
        domain = Domain(fqdn, _add_years(now, duration), now)
        if payload.get("nameservers"):
            domain.nameservers = [ns.lower().rstrip(".") for ns in payload["nameservers"]]
        self.domains[fqdn] = domain
        self._publish(domain)
        location = {"Location": f"{self.url}/domain/domains/{fqdn}"}
        return 202, {"message": "Confirmation of the domain creation"}, location

    def _renew(self, domain: Domain, payload: dict[str, Any], dry_run: bool) -> tuple[int, Any, dict[str, str]]:
        duration = payload.get("duration", 1)
        if not isinstance(duration, int) or not 1 <= duration <= 10:
            return 400, _errors("body", "duration", "duration must be 1 to 10"), {}
        if dry_run:
            return 200, {"status": "success"}, {}
        domain.expires = _add_years(domain.expires, duration)
        domain.updated = _now()
        return 202, {"message": "Domain renewed."}, {}

    def _add_dnskey(self, domain: Domain, payload: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        errors = []
        if payload.get("type") not in ("ksk", "zsk"):
            errors.append({"location": "body", "name": "type", "description": "type must be ksk or zsk"})
        if not isinstance(payload.get("algorithm"), int):
            errors.append({"location": "body", "name": "algorithm", "description": "algorithm is required"})
        try:
            base64.b64decode(payload.get("public_key", ""), validate=True)
        except (ValueError, TypeError):
            errors.append({"location": "body", "name": "public_key", "description": "public_key must be base64"})
        if not payload.get("public_key"):
            errors.append({"location": "body", "name": "public_key", "description": "public_key is required"})
        if errors:
            return 400, {"status": "error", "errors": errors}, {}
        flags = 257 if payload["type"] == "ksk" else 256
        self._add_key(domain, flags, payload["algorithm"], payload["public_key"])
        self._publish(domain)
        return 201, {"message": "DNSSEC key created."}, {}

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        payload = json.loads(body) if body else {}
        if path == "/_fake/domains" and method == "POST":
            self.add_domain(payload.pop("fqdn"), **payload)
            return 201, {"message": "added"}, {}
        if path == "/_fake/faults" and method == "POST":
            self.fail(payload.get("method"), payload.get("path"), status=payload.get("status", 500),
                      times=payload.get("times", 1), retry_after=payload.get("retry_after"), body=payload.get("body"))
            return 201, {"message": "armed"}, {}
        if path == "/_fake/requests" and method == "GET":
            return 200, list(self.requests), {}
        if path == "/_fake/state" and method == "GET":
            return 200, self.snapshot(), {}
        return 404, _not_found(), {}


def _not_found() -> dict[str, Any]:
    return {"code": 404, "message": "The resource could not be found.", "object": "HTTPNotFound",
            "cause": "Not Found"}


def _errors(location: str, name: str, description: str) -> dict[str, Any]:
    return {"status": "error", "errors": [{"location": location, "name": name, "description": description}]}


_REASONS = {405: ("HTTPMethodNotAllowed", "Method Not Allowed", "The method is not allowed for the requested URL."),
            429: ("HTTPTooManyRequests", "Too Many Requests", "Too many requests, slow down."),
            500: ("HTTPInternalServerError", "Internal Server Error", "An internal error occurred."),
            502: ("HTTPBadGateway", "Bad Gateway", "Bad gateway."),
            503: ("HTTPServiceUnavailable", "Service Unavailable", "The service is temporarily unavailable.")}


def _status_body(status: int) -> dict[str, Any]:
    name, cause, message = _REASONS.get(status, ("HTTPError", "Error", "Error."))
    return {"code": status, "message": message, "object": name, "cause": cause}


def _handler(api: FakeGandi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fake-gandi/1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, answer, extra = api.handle(self.command, self.path, headers, body)
            with api.lock:
                api.requests.append({"method": self.command, "path": urlsplit(self.path).path.removeprefix(PREFIX),
                                     "dry_run": headers.get("dry-run") == "1", "status": status})
            data = b"" if answer is None else json.dumps(answer).encode("utf-8")
            self.send_response(status)
            if answer is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake of Gandi's API v5 (domains) on 127.0.0.1, for tests.")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lab-registry", action="store_true",
                        help="the lab registry test. serves what the fake holds for *.test (lab/labctl.py up first)")
    args = parser.parse_args()
    registry = None
    if args.lab_registry:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
        import labctl  # only with --lab-registry

        registry = labctl.registry_view
    api = FakeGandi(args.token, port=args.port, registry=registry)
    print(api.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        api.server.serve_forever()


if __name__ == "__main__":
    main()


#: The personal access token the fake accepts in the tests (a test value, not a secret).
TEST_TOKEN = "pat_test-0123456789abcdef"
