# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 8555 through the maintained ``acme`` library, made robust for unattended runs.

The library signs the JWS and speaks the protocol; this file adds what a cron job needs:
``badNonce`` retried as often as the CA sends it (the library retries once; Let's Encrypt and
pebble send them at random), ``Retry-After`` honoured for rate limits and polling, one overall
deadline with a clear message, and errors turned into :class:`PsfInfraError`: a CA that cannot be
reached (connection refused, no answer, TLS not verified) is a :class:`CaUnavailable`, one line
naming the CA's directory, what was being done and what to check.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

try:
    import josepy
    import requests
    from acme import challenges as acme_challenges
    from acme import client as acme_client
    from acme import errors as acme_errors
    from acme import messages
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    _ClientNetwork = acme_client.ClientNetwork
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    _ClientNetwork = object
from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, PsfInfraError

USER_AGENT = "psf.infra-acme"
BAD_NONCE_RETRIES = 10
#: problem types worth retrying after the server's Retry-After (or a short pause)
RETRYABLE_PROBLEMS = frozenset({"badNonce", "rateLimited", "serverInternal"})


# See AcmeSession.new_order.
_NEW_ORDER_LOCK = threading.Lock()

#: The revocation reasons offered (RFC 5280 section 5.3.1 codes, RFC 8555 section 7.6). keyCompromise (1)
#: is signed with the certificate's own key (a JWS with its ``jwk``, no account: Let's Encrypt accepts that
#: reason only so); the others with the account key of the account that ordered the certificate.
REVOCATION_REASONS = {"unspecified": 0, "keyCompromise": 1, "affiliationChanged": 3, "superseded": 4,
                      "cessationOfOperation": 5}
KEY_COMPROMISE = "keyCompromise"


class Deadline:
    """One time limit for a whole order: every wait is cut to it; passing it raises a clear error."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, doing: str) -> None:
        if self.remaining() <= 0:
            raise PsfInfraError(f"{self.what}: gave up after {self.seconds:.0f} s while {doing} "
                                f"(raise 'timeout' if the CA or the DNS servers are just slow)")

    def sleep(self, seconds: float, doing: str) -> None:
        self.check(doing)
        time.sleep(max(0.0, min(seconds, self.remaining())))


def _retry_after_seconds(response: requests.Response | None, default: float) -> float:
    if response is None or "Retry-After" not in response.headers:
        return default
    when = acme_client.ClientV2.retry_after(response, int(default))
    return max(0.0, (when - datetime.datetime.now()).total_seconds())


class RetryingNetwork(_ClientNetwork):
    """A ClientNetwork that retries badNonce/rate limits and remembers the last response's headers."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.last_response: requests.Response | None = None
        self.retries: dict[str, int] = {}
        self.session.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_response = response

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code not in RETRYABLE_PROBLEMS or attempt > BAD_NONCE_RETRIES:
                    raise
                self.retries[error.code] = self.retries.get(error.code, 0) + 1
                # A fresh nonce is fetched for the next attempt: the rejected one is gone.
                pause = 0.0 if error.code == "badNonce" else _retry_after_seconds(self.last_response, 1.0)
                self.deadline.sleep(pause, f"waiting to retry after '{error.code}' from the CA")


def _jws_algorithm(private_key) -> josepy.JWASignature:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": josepy.ES256, "secp384r1": josepy.ES384, "secp521r1": josepy.ES512}[
            private_key.curve.name]
    if isinstance(private_key, rsa.RSAPrivateKey):
        return josepy.RS256
    raise PsfInfraError("the ACME account key must be an ECDSA or RSA key")


def _jwk(private_key) -> josepy.JWK:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return josepy.JWKEC(key=private_key)
    return josepy.JWKRSA(key=private_key)


class CaUnavailable(BackendUnavailable):
    """The ACME CA could not be reached: ``ACME CA <directory>: <doing> failed: <reason>; check <check>``."""


CHECK_CA_RUNNING = "that the CA runs and acme_directory is right (make lab-status in the lab)"


def _root_cause(error: BaseException) -> BaseException:
    """The innermost OSError below a requests/urllib3 error (e.g. ConnectionRefusedError), else ``error``."""
    seen: set[int] = set()
    pending = [error]
    found: BaseException = error
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            found = current
        nested = [*getattr(current, "args", ()), current.__cause__, current.__context__,
                  getattr(current, "reason", None)]
        pending.extend(item for item in nested if isinstance(item, BaseException))
    return found


def ca_unavailable(directory_url: str, doing: str, error: BaseException, timeout: float) -> CaUnavailable | None:
    """``error`` (from requests) as a CaUnavailable when it means the CA could not be reached, else None."""
    server = f"ACME CA {directory_url}"
    if isinstance(error, requests.exceptions.SSLError):
        return CaUnavailable(server, doing, "the CA's HTTPS certificate does not verify",
                             "acme_ca_bundle (the CA certificate of the lab's pebble is .lab/pebble/ca.pem)")
    if isinstance(error, requests.exceptions.Timeout):
        return CaUnavailable(server, doing, f"no answer within {timeout:g} s", CHECK_CA_RUNNING)
    if isinstance(error, requests.exceptions.ConnectionError):
        cause = _root_cause(error)
        if isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, OSError) and cause.strerror:
            reason = f"cannot connect: {cause.strerror}"
        else:
            reason = "cannot connect"
        return CaUnavailable(server, doing, reason, CHECK_CA_RUNNING)
    return None


def describe_acme_error(error: BaseException) -> str:
    """A one-line, actionable description of an exception from the acme library or requests."""
    if isinstance(error, messages.Error):
        detail = error.detail or error.description or ""
        subproblems = getattr(error, "subproblems", None) or []
        extra = "; ".join(f"{getattr(sub, 'identifier', '')}: {getattr(sub, 'detail', sub)}"
                          for sub in subproblems)
        return f"{error.code or error.typ}: {detail}" + (f" ({extra})" if extra else "")
    if isinstance(error, requests.exceptions.SSLError):
        return f"TLS error talking to the CA (is 'ca_bundle' right?): {error}"
    if isinstance(error, requests.exceptions.ConnectionError):
        return f"cannot connect to the CA: {error}"
    if isinstance(error, requests.exceptions.Timeout):
        return f"the CA did not answer in time: {error}"
    return f"{type(error).__name__}: {error}"


class AcmeSession:
    """An account at one CA; cheap to clone for parallel orders with the same account."""

    def __init__(self, directory_url: str, account_key, *, ca_bundle: str | None, email: str | None,
                 deadline: Deadline, request_timeout: int = 15,
                 directory: messages.Directory | None = None, account_uri: str | None = None) -> None:
        self.directory_url = directory_url
        self.account_key = account_key
        self.ca_bundle = ca_bundle
        self.email = email
        self.deadline = deadline
        self.request_timeout = request_timeout
        self.net = RetryingNetwork(key=_jwk(account_key), alg=_jws_algorithm(account_key),
                                   verify_ssl=ca_bundle or True, user_agent=USER_AGENT,
                                   timeout=request_timeout, deadline=deadline)
        self.directory = directory or self._call("reading the ACME directory", acme_client.ClientV2.get_directory,
                                                 directory_url, self.net)
        self.client = acme_client.ClientV2(self.directory, self.net)
        self.account_uri = account_uri
        if account_uri is not None:
            self.net.account = messages.RegistrationResource(uri=account_uri, body=messages.Registration())

    def clone(self, deadline: Deadline | None = None) -> AcmeSession:
        """The same account over a new HTTP session (requests sessions are not shared across threads),
        with its own time limit when ``deadline`` is given."""
        return AcmeSession(self.directory_url, self.account_key, ca_bundle=self.ca_bundle, email=self.email,
                           deadline=deadline or self.deadline, request_timeout=self.request_timeout,
                           directory=self.directory, account_uri=self.account_uri)

    def _call(self, doing: str, function: Callable, *args: Any, **kwargs: Any) -> Any:
        self.deadline.check(doing)
        try:
            return function(*args, **kwargs)
        except PsfInfraError:
            raise
        except (acme_errors.Error, messages.Error, requests.exceptions.RequestException, ValueError) as error:
            unreachable = ca_unavailable(self.directory_url, doing, error, self.request_timeout)
            if unreachable is not None:
                raise unreachable from None
            raise PsfInfraError(f"ACME CA {self.directory_url}: {doing} failed: "
                                f"{describe_acme_error(error)}") from None

    @property
    def offers_renewal_info(self) -> bool:
        try:
            self.directory["renewalInfo"]
        except KeyError:
            return False
        return True

    def ensure_account(self) -> str:
        """Register the account key (or find the existing account); returns the account URL."""
        if self.account_uri:
            return self.account_uri
        contact = (f"mailto:{self.email}",) if self.email else ()
        registration = messages.NewRegistration(contact=contact, terms_of_service_agreed=True)

        def register() -> str:
            try:
                return self.client.new_account(registration).uri
            except acme_errors.ConflictError as existing:  # the key already has an account: reuse it
                return existing.location

        self.account_uri = self._call("registering the ACME account", register)
        self.net.account = messages.RegistrationResource(uri=self.account_uri, body=messages.Registration())
        return self.account_uri

    def find_account(self) -> str:
        """The existing account of the account key (``onlyReturnExisting``, RFC 8555 section 7.3.1): never
        creates one, since only the account that ordered a certificate may revoke it with its key."""
        if self.account_uri:
            return self.account_uri
        lookup = messages.NewRegistration(only_return_existing=True)

        def find() -> str:
            try:
                return self.client.new_account(lookup).uri
            except acme_errors.ConflictError as existing:  # 200 and the account's URL: it exists
                return existing.location
            except messages.Error as error:
                if error.code != "accountDoesNotExist":
                    raise
                raise PsfInfraError(f"ACME CA {self.directory_url}: the ACME account key has no account there "
                                    f"(accountDoesNotExist): a certificate can only be revoked with the key of "
                                    f"the account that ordered it (acme_account_key_path or "
                                    f"acme_account_key_content); nothing was revoked") from None

        self.account_uri = self._call("looking up the ACME account of the account key", find)
        self.net.account = messages.RegistrationResource(uri=self.account_uri, body=messages.Registration())
        return self.account_uri

    def revoke(self, certificate, reason: int, doing: str) -> bool:
        """Revoke ``certificate`` (a cryptography x509.Certificate) with this session's key (RFC 8555 section
        7.6, ``revokeCert``); True when the CA revoked it now, False when it answered ``alreadyRevoked``.

        With an account (``find_account``) the JWS carries its ``kid``; without one (a session opened with the
        certificate's own private key) the acme library's ClientNetwork puts the key itself in the ``jwk``
        header, which is what a CA checks against the certificate's public key."""

        def send() -> bool:
            try:
                self.client.revoke(certificate, reason)
            except messages.Error as error:
                if error.code == "alreadyRevoked":
                    return False
                raise
            return True

        return self._call(doing, send)

    def renewal_info_time(self, cert_pem: bytes) -> datetime.datetime | None:
        """The time ARI (RFC 9773) picked in the CA's suggested window, or None if not offered."""
        if not self.offers_renewal_info:
            return None
        when, _next_check = self._call("fetching the renewal information (ARI)", self.client.renewal_time,
                                       cert_pem)
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return when

    def new_order(self, csr_pem: bytes) -> messages.OrderResource:
        # One new-order request at a time from this process: pebble 2.4 (the lab's CA, Debian 12)
        # deadlocks for good when two new orders interleave (its store lock and an authorization's
        # lock are taken in opposite orders). Creating an order takes milliseconds; the slow parts
        # (DNS-01, validation, finalisation) still run in parallel.
        with _NEW_ORDER_LOCK:
            return self._call("creating the order", self.client.new_order, csr_pem)

    def answer(self, challenge_body: messages.ChallengeBody) -> None:
        response = challenge_body.chall.response(self.net.key)
        self._call(f"answering the {challenge_body.chall.typ} challenge", self.client.answer_challenge,
                   challenge_body, response)

    def key_authorization(self, challenge: acme_challenges.KeyAuthorizationChallenge) -> str:
        return challenge.key_authorization(self.net.key)

    def dns01_value(self, challenge: acme_challenges.DNS01) -> str:
        return challenge.validation(self.net.key)

    def wait_authorizations(self, order: messages.OrderResource) -> list[messages.AuthorizationResource]:
        """Poll every authorization until none is pending; fail naming each invalid one and why."""
        pending = list(order.authorizations)
        done: list[messages.AuthorizationResource] = []
        pause = 0.1
        while pending:
            still = []
            wait = pause
            for authz in pending:
                updated, response = self._call("polling an authorization", self.client.poll, authz)
                if updated.body.status in (messages.STATUS_PENDING, messages.STATUS_PROCESSING):
                    still.append(updated)
                    wait = max(wait, min(_retry_after_seconds(response, pause), 10.0))
                else:
                    done.append(updated)
            pending = still
            if pending:
                self.deadline.sleep(wait, f"waiting for the CA to validate "
                                          f"{', '.join(a.body.identifier.value for a in pending)}")
                pause = min(pause * 2, 2.0)
        failures = []
        for authz in done:
            if authz.body.status != messages.STATUS_VALID:
                reasons = [describe_acme_error(ch.error) for ch in authz.body.challenges if ch.error]
                failures.append(f"{authz.body.identifier.value}: {'; '.join(reasons) or authz.body.status}")
        if failures:
            raise PsfInfraError("the CA refused validation: " + " | ".join(failures))
        return done

    def _post_as_get(self, url: str) -> requests.Response:
        return self.net.post(url, None, new_nonce_url=self.directory["newNonce"])

    def finalize(self, order: messages.OrderResource) -> str:
        """Send the CSR, wait for the certificate and return the full chain (PEM)."""
        order = self._call("finalizing the order", self.client.begin_finalization, order)
        pause = 0.1
        while True:
            body = order.body
            if body.status == messages.STATUS_INVALID:
                reason = describe_acme_error(body.error) if body.error else "no reason given"
                raise PsfInfraError(f"ACME CA {self.directory_url}: the order became invalid: {reason}")
            if body.status == messages.STATUS_VALID and body.certificate:
                response = self._call("downloading the certificate", self._post_as_get, body.certificate)
                return response.text
            response = self._call("polling the order", self._post_as_get, order.uri)
            order = order.update(body=messages.Order.from_json(response.json()))
            if order.body.status not in (messages.STATUS_VALID, messages.STATUS_INVALID):
                self.deadline.sleep(min(_retry_after_seconds(response, pause), 10.0),
                                    "waiting for the CA to issue the certificate")
                pause = min(pause * 2, 2.0)
