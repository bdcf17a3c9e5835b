# Copyright: PSF Infrastructure Working Group
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""ACME certificates for psf.infra: one order per certificate, DNS-01 through our RFC 2136 code.

- ``renewal``: the pure renewal decision; ``delegation``: challenge names and acme-dns CNAME targets;
  ``caa``: the CAA (RFC 8659) verdict and lookup.
- ``keys`` / ``certfacts``: private keys, CSRs, what a certificate says about itself.
- ``protocol``: the ``acme`` library with badNonce, Retry-After and one deadline handled.
- ``dns01``: publishing, awaiting (every server) and removing TXT records with ``module_utils.dns``.
- ``files``: atomic writes; ``issue``: the whole flow for one certificate.
- ``revoke``: ``state: revoked``; ``compromised``: the record of keys revoked for keyCompromise.
- ``runner``: module options to jobs and results; ``deps``: are the libraries importable.
"""
