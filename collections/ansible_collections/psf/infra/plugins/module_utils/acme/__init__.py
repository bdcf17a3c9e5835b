# Copyright: PSF Infrastructure Working Group
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""ACME certificates for psf.infra: one order per certificate, DNS-01 through our RFC 2136 code.

- ``keys``: private keys and CSRs (cryptography).
- ``certfacts``: what an existing certificate says about itself.
- ``renewal``: the pure renewal decision.
- ``delegation``: challenge names, zones that are not ours, acme-dns style CNAME targets.
- ``protocol``: the ``acme`` library with badNonce and Retry-After handled.
- ``challenges``: publishing DNS-01 (RFC 2136) and HTTP-01 (webroot) answers.
- ``files``: atomic writes.
- ``issue``: the whole flow, as one function the module calls.
"""
